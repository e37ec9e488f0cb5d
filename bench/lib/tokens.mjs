// HS256 tokens signed with the secret the bench gives its hubs. Signed with
// node:crypto directly: jsonwebtoken takes ~0.5 ms a token here, seconds of
// generator CPU for 10,000 subscribers; an HMAC over two base64url parts is a
// few microseconds and yields the same standard JWT.
import { createHmac } from 'node:crypto';

export const SECRET = 'herald-bench-secret-long-enough-for-production-use-0123456789';

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/** Signs claims with `secret`, each token valid for `lifetimeS` (chaos/ signs with its own secret). */
export function jwtSigner(secret, lifetimeS) {
  return (claims) => {
    const iat = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(JSON.stringify({ ...claims, iat, exp: iat + lifetimeS })).toString('base64url');
    const signature = createHmac('sha256', secret).update(`${HEADER}.${payload}`).digest('base64url');
    return `${HEADER}.${payload}.${signature}`;
  };
}

const sign = jwtSigner(SECRET, 6 * 3600);

/** A user's token; `topics`: the topic patterns it may follow (its `topics` claim, docs/api.md), none when omitted. */
export const userToken = (sub, topics) => sign(topics ? { sub, topics } : { sub });

export const serviceToken = () => sign({ sub: 'bench', scope: 'events:publish' });

/** The user id of subscriber slot `i`. */
export const userId = (i) => `u${i}`;
