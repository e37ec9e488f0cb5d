/**
 * Admission under STREAMS_PER_USER_MAX, which counts a user's streams across
 * the whole cluster: on the embedded default this instance is the cluster;
 * with Redis, instances share the count.
 */
export abstract class StreamCounter {
  /**
   * Whether the user may hold `local` streams on this instance (the new one
   * included) next to what the other instances hold.
   */
  abstract acquire(userId: string, local: number): Promise<boolean>;

  /** The user now holds `local` streams on this instance. */
  abstract release(userId: string, local: number): void;
}
