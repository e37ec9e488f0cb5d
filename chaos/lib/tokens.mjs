// HS256 tokens signed with the secret the run gives its hubs (the bench's
// signer: node:crypto, the same standard JWT jsonwebtoken would make).
import { randomBytes } from 'node:crypto';
import { jwtSigner } from '../../bench/lib/tokens.mjs';

export const SECRET = `herald-chaos-${randomBytes(24).toString('hex')}`;

const sign = jwtSigner(SECRET, 12 * 3600);

export const userToken = (sub) => sign({ sub });
export const serviceToken = (sub) => sign({ sub, scope: 'events:publish' });
