import type { StreamMessage } from '../events/stream-message.js';

/** What a log holds for one source (a user or a topic) after a given id. */
export interface Replay {
  /** The source's newest event id, `0` when there is none. */
  readonly head: string;
  /**
   * The source's events after the id asked for, oldest first; null when some of
   * them are no longer kept, so the client must refetch what it shows (`reset`).
   */
  readonly events: readonly StreamMessage[] | null;
}
