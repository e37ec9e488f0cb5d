/**
 * Every Redis key and channel name, under REDIS_PREFIX. A source's keys and
 * channel (a user's, or a topic's as `#<topic>`) share the hash tag
 * `{source}`, so in a Redis Cluster they live in one slot and a script may
 * touch them together.
 */
export class RedisKeys {
  /**
   * What comes before the source in each of its names; `}` comes after. The
   * append script builds the names it writes from these, the byte count of
   * the events in a source's log (`logBytes`, beside the log in its slot)
   * among them.
   */
  readonly heads: { readonly log: string; readonly logBytes: string; readonly channel: string };

  constructor(readonly prefix: string) {
    this.heads = { log: `${prefix}log:{`, logBytes: `${prefix}logbytes:{`, channel: `${prefix}u:{` };
  }

  log(source: string): string {
    return `${this.heads.log}${source}}`;
  }

  channel(source: string): string {
    return `${this.heads.channel}${source}}`;
  }

  sourceOfChannel(channel: string): string {
    return channel.slice(this.heads.channel.length, -1);
  }

  /**
   * Marks a publication as done. In a Redis Cluster each source is served
   * on its own (its slot), so the marker is per source and in its slot.
   */
  seen(dedupeKey: string, source?: string): string {
    return source === undefined ? `${this.prefix}seen:${dedupeKey}` : `${this.prefix}seen:{${source}}:${dedupeKey}`;
  }

  /** Where large fan-outs travel, to every instance at once (see APPEND in redis-scripts.ts). */
  get fanout(): string {
    return `${this.prefix}fanout`;
  }

  /** The instances that follow the fan-out channel (a set). */
  get fanoutFollowers(): string {
    return `${this.prefix}fanout:followers`;
  }

  /** Where an instance hears what other instances ask of its streams (changes of topics), and their answers. */
  control(instanceId: string): string {
    return `${this.prefix}ctl:${instanceId}`;
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
