/** One caller's hits of one limit in the current window. */
export interface WindowHits {
  hits: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetInMs: number;
}

/**
 * Where rate-limit counts live: fixed windows that start at a key's first
 * hit. In memory on the embedded default, in Redis when instances share it,
 * so that a limit holds across all of them.
 */
export abstract class RateLimitStore {
  abstract hit(key: string, windowMs: number): Promise<WindowHits>;
}
