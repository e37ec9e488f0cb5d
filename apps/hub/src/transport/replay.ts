import type { StreamMessage } from '../events/stream-message.js';

/** What a log holds for one user after a given id. */
export interface Replay {
  /** The user's newest event id, `0` when there is none. */
  readonly head: string;
  /**
   * The user's events after the id asked for, oldest first; null when some of
   * them are no longer kept, so the client must refetch its inbox (`reset`).
   */
  readonly events: readonly StreamMessage[] | null;
}
