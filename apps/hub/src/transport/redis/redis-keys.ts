/**
 * Every Redis key and channel name, under REDIS_PREFIX. A user's keys and
 * channel share the hash tag `{user}`, so in a Redis Cluster they live in one
 * slot and a script may touch them together.
 */
export class RedisKeys {
  private readonly channelPrefix: string;

  constructor(readonly prefix: string) {
    this.channelPrefix = `${prefix}u:{`;
  }

  log(userId: string): string {
    return `${this.prefix}log:{${userId}}`;
  }

  /** Bytes of the events in the user's log, beside it in its slot. */
  logBytes(userId: string): string {
    return `${this.prefix}logbytes:{${userId}}`;
  }

  channel(userId: string): string {
    return `${this.channelPrefix}${userId}}`;
  }

  userOfChannel(channel: string): string {
    return channel.slice(this.channelPrefix.length, -1);
  }

  /**
   * Marks a publication as done. In a Redis Cluster each recipient is served
   * on its own (its slot), so the marker is per recipient and in its slot.
   */
  seen(dedupeKey: string, userId?: string): string {
    return userId === undefined ? `${this.prefix}seen:${dedupeKey}` : `${this.prefix}seen:{${userId}}:${dedupeKey}`;
  }

  /** Hits of one rate limit by one caller (`<limit>:<caller>`) in the current window. */
  rateLimit(limitAndCaller: string): string {
    return `${this.prefix}rate:${limitAndCaller}`;
  }

  /** How many streams the user holds on each instance. */
  streamCounts(userId: string): string {
    return `${this.prefix}streams:{${userId}}`;
  }

  /** The instances alive, scored by their last heartbeat. */
  get instances(): string {
    return `${this.prefix}instances`;
  }

  ticket(ticket: string): string {
    return `${this.prefix}ticket:${ticket}`;
  }

  get ingress(): string {
    return `${this.prefix}ingress`;
  }

  get deadLetters(): string {
    return `${this.prefix}ingress:dead`;
  }
}
