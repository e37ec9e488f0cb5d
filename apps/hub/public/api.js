// The hub's HTTP API as the demo page calls it: JSON in and out, development
// tokens, and a refused token minted again once.

/** A refused call: the hub's status and its JSON error (`{statusCode, error, message, field?}`). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** One call; resolves to the answer's JSON (null for a 204), rejects with an ApiError. */
export async function call(path, { method = 'GET', body, token } = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

/**
 * Development tokens with these claims (`sub`, `scope`, `topics`), minted by
 * the hub while dev auth is on, as `({ refresh }) => token`: the shape the
 * client's `token` option takes. `refresh`: the hub refused the last one (it
 * restarted with a new secret, or the token expired), so mint another.
 * @param onMint told each new token's expiry (a Date), for the inspector.
 */
export function devTokens(claims, onMint = () => undefined) {
  let token = null;
  return async ({ refresh }) => {
    if (token === null || refresh) {
      ({ token } = await call('/v1/dev/token', { method: 'POST', body: claims }));
      onMint(expiryOf(token));
    }
    return token;
  };
}

/** A call with a token from `tokens`; a 401 is tried once more with a fresh token, as the client does. */
export async function authorized(tokens, path, options) {
  try {
    return await call(path, { ...options, token: await tokens({ refresh: false }) });
  } catch (err) {
    if (err.status !== 401) throw err;
    return call(path, { ...options, token: await tokens({ refresh: true }) });
  }
}

/** A JWT's `exp` as a Date; the page only shows it, the hub checks it. */
function expiryOf(token) {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return new Date(JSON.parse(atob(payload)).exp * 1000);
}
