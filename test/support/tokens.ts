import jwt from 'jsonwebtoken';

/** The JWT secret every test hub runs with (in-process and child-process hubs alike). */
export const TEST_SECRET = 'test-secret-that-is-long-enough-for-production-use';

/** A user token (HS256, `sub` = the user id) valid for `expiresInSeconds`; a negative value makes it expired. */
export function userToken(sub: string, expiresInSeconds = 3600, secret = TEST_SECRET): string {
  return jwt.sign({ sub }, secret, { algorithm: 'HS256', expiresIn: expiresInSeconds });
}

/** A service token with the `events:publish` scope (what POST /v1/events needs). */
export function serviceToken(sub = 'test-service', expiresInSeconds = 3600, secret = TEST_SECRET): string {
  return jwt.sign({ sub, scope: 'events:publish' }, secret, { algorithm: 'HS256', expiresIn: expiresInSeconds });
}
