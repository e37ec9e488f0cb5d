import type { PreparedEvent } from '../../events/stream-message.js';
import { keySlot } from './redis-topology.js';
import type { RedisConnections } from './redis.connections.js';

/**
 * Events one script call appends at most: a call runs alone in Redis, so a
 * large one would hold up every other client for its whole length.
 */
export const APPEND_BATCH_MAX = 256;

/** What the append script does with an event besides appending it (see APPEND in redis-scripts.ts). */
export interface AppendOptions {
  /** Acknowledge this ingress entry in the same step, if this consumer still owns it. */
  ack?: { group: string; consumer: string; entryId: string };
  /** Do nothing if a publication with this key was appended within the window (a retry). */
  dedupe?: { key: string; windowMs: number };
}

/** The log's limits, the same for every event. */
export interface LogLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly ttlMs: number;
}

interface Append {
  readonly event: PreparedEvent;
  readonly sources: readonly string[];
  readonly options: AppendOptions;
  resolve(served: number): void;
  reject(err: Error): void;
}

/** The appends of one script call; the ingress entries among them are all of one group and consumer. */
interface Batch {
  readonly appends: Append[];
  ack?: { group: string; consumer: string };
}

/**
 * Gathers the appends asked for in one turn of the event loop (an ingress
 * read's batch, a batch request) and sends them as one script call per slot
 * (all of them, on one node; in a Redis Cluster, the keys of one call must
 * share a slot). Per event, a call costs what the script does, not a
 * command's round of encoding, queueing and reply: most of what an append
 * cost the hub. Calls go out in the order they were begun, on one
 * connection, so a source's events are stored in the order they were asked.
 */
export class AppendBatcher {
  /** The batch each slot's appends join now. */
  private readonly open = new Map<number, Batch>();
  /** Every batch begun this turn, in order. */
  private readonly begun: Batch[] = [];

  /**
   * @param sharedMin how many sources an event must have in one call to be
   *   published on the fan-out channel, when the connections have one.
   */
  constructor(
    private readonly redis: RedisConnections,
    private readonly limits: LogLimits,
    private readonly sharedMin: number,
  ) {}

  /**
   * Resolves to the number of sources served: 0 for a duplicate, -1 when
   * `ack` is given and this consumer no longer owns the entry. Rejects with
   * the event's own error, or the call's when the call failed: then none of
   * its events is known to be stored, and each may be retried (markers and
   * acknowledgements make a retry store nothing twice).
   */
  append(event: PreparedEvent, sources: readonly string[], options: AppendOptions): Promise<number> {
    const slot = this.redis.topology.oneSlot ? 0 : keySlot(this.redis.keys.log(sources[0]));
    return new Promise((resolve, reject) => {
      const { ack } = options;
      let batch = this.open.get(slot);
      const other = ack && batch?.ack && (batch.ack.group !== ack.group || batch.ack.consumer !== ack.consumer);
      if (!batch || batch.appends.length === APPEND_BATCH_MAX || other) {
        if (this.begun.length === 0) process.nextTick(() => this.flush());
        batch = { appends: [] };
        this.open.set(slot, batch);
        this.begun.push(batch);
      }
      if (ack) batch.ack ??= ack;
      batch.appends.push({ event, sources, options, resolve, reject });
    });
  }

  private flush(): void {
    const batches = this.begun.splice(0);
    this.open.clear();
    for (const batch of batches) void this.send(batch);
  }

  private async send(batch: Batch): Promise<void> {
    const { appends } = batch;
    let results: (number | string)[];
    try {
      results = await this.redis.appendScripts.heraldAppend(...this.call(batch));
    } catch (err) {
      for (const append of appends) append.reject(err as Error);
      return;
    }
    appends.forEach((append, i) => {
      const result = results[i];
      if (typeof result === 'number') append.resolve(result);
      else append.reject(new Error(result));
    });
  }

  /** The script's arguments: numkeys, the keys, then each source's name once and the events' lines (see APPEND). */
  private call({ appends, ack }: Batch): [number, ...(string | number)[]] {
    const { keys, topology } = this.redis;
    const names: string[] = [];
    const sourceNumbers = new Map<string, number>();
    const otherKeys: string[] = [];
    const places = new Map<string, number>();
    const placeOf = (key: string): number => {
      let place = places.get(key);
      if (place === undefined) places.set(key, (place = otherKeys.push(key)));
      return place;
    };
    const events: (string | number)[] = [];
    for (const { event, sources, options } of appends) {
      const { dedupe } = options;
      if (dedupe) events.push(sources.length, placeOf(keys.seen(dedupe.key, topology.oneSlot ? undefined : sources[0])), dedupe.windowMs);
      else events.push(sources.length, 0);
      events.push(options.ack?.entryId ?? '', event.type, event.tail);
      for (const source of sources) {
        let number = sourceNumbers.get(source);
        if (number === undefined) {
          number = names.push(source);
          sourceNumbers.set(source, number);
        }
        events.push(number);
      }
    }
    const ingress = ack ? placeOf(keys.ingress) : 0;
    const { maxEvents, ttlMs, maxBytes } = this.limits;
    return [
      1 + otherKeys.length,
      keys.log(names[0]),
      ...otherKeys,
      appends.length,
      maxEvents,
      ttlMs,
      topology.publishCommand,
      maxBytes,
      keys.heads.log,
      keys.heads.logBytes,
      keys.heads.channel,
      ingress,
      ack?.group ?? '',
      ack?.consumer ?? '',
      this.redis.fanoutChannel ?? '',
      this.sharedMin,
      keys.instances,
      keys.fanoutFollowers,
      `${names.join('\n')}\n`,
      `${events.join('\n')}\n`,
    ];
  }
}
