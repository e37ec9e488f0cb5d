// HS256 tokens signed with the secret the bench gives its hubs.
import jwt from 'jsonwebtoken';

export const SECRET = 'herald-bench-secret-long-enough-for-production-use-0123456789';

export const userToken = (sub) => jwt.sign({ sub }, SECRET, { algorithm: 'HS256', expiresIn: 6 * 3600 });

export const serviceToken = () =>
  jwt.sign({ sub: 'bench', scope: 'events:publish' }, SECRET, { algorithm: 'HS256', expiresIn: 6 * 3600 });

/** The user id of subscriber slot `i`. */
export const userId = (i) => `u${i}`;
