/**
 * Whether an error means the database cannot be reached right now (down,
 * restarting, out of connections), rather than that the request or the data
 * is wrong. The same request succeeds once the database is back, so callers
 * answer 503 with Retry-After, and the ingress retries the entry in place.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  let cause: unknown = err;
  for (let depth = 0; cause instanceof Error && depth < 4; depth++) {
    const { code, message } = cause as Error & { code?: unknown };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || isUnavailableState(code))) return true;
    if (DISCONNECT_MESSAGES.some((text) => message.includes(text))) return true;
    // TypeORM releases a transaction's query runner when its connection breaks; the query after that fails so.
    if ((cause as Error).name === 'QueryRunnerAlreadyReleasedError') return true;
    // TypeORM wraps the driver's error in QueryFailedError.driverError.
    cause = (cause as { driverError?: unknown }).driverError ?? cause.cause;
  }
  return false;
}

/** The socket to the database failed: refused, reset, timed out, unresolvable. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * PostgreSQL SQLSTATEs of a server going away or not taking connections:
 * class 08 (connection exception), 57P01–57P03 (shut down by an operator, a
 * crash, starting up or shutting down), 53300 (too many connections).
 */
function isUnavailableState(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

/** What node-postgres says, without a code, of a connection that broke or never came. */
const DISCONNECT_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
];
