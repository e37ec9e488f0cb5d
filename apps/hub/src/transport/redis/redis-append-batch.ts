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

/**
 * Gathers the appends asked for in one turn of the event loop (an ingress
 * read's batch, a batch request) and sends them as one script call per slot
 * (all of them, on one node; in a Redis Cluster, the keys of one call must
 * share a slot). Per event, a call costs what the script does, not a
 * command's round of encoding, queueing and reply: most of what an append
 * cost the hub. Calls go out in the order of their first append, on one
 * connection, so a source's events are stored in the order they were asked.
 */
export class AppendBatcher {
  private readonly waiting = new Map<number, Append[]>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly limits: LogLimits,
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
      let batch = this.waiting.get(slot);
      if (!batch) {
        if (this.waiting.size === 0) process.nextTick(() => this.flush());
        this.waiting.set(slot, (batch = []));
      }
      batch.push({ event, sources, options, resolve, reject });
    });
  }

  private flush(): void {
    const batches = [...this.waiting.values()];
    this.waiting.clear();
    for (const batch of batches) {
      for (let i = 0; i < batch.length; i += APPEND_BATCH_MAX) void this.send(batch.slice(i, i + APPEND_BATCH_MAX));
    }
  }

  private async send(appends: Append[]): Promise<void> {
    let results: (number | string)[];
    try {
      results = await this.redis.appendScripts.heraldAppend(...this.call(appends));
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

  /** The script's arguments: numkeys, each key once, then what each event needs (see APPEND). */
  private call(appends: Append[]): [number, ...(string | number)[]] {
    const { keys, topology } = this.redis;
    const keyList: string[] = [];
    const indexes = new Map<string, number>();
    const indexOf = (key: string, beside?: string): number => {
      let index = indexes.get(key);
      if (index === undefined) {
        index = keyList.push(key);
        indexes.set(key, index);
        if (beside !== undefined) keyList.push(beside);
      }
      return index;
    };
    const { maxEvents, ttlMs, maxBytes } = this.limits;
    const args: (string | number)[] = [appends.length, maxEvents, ttlMs, topology.publishCommand, maxBytes];
    for (const { event, sources, options } of appends) {
      const { ack, dedupe } = options;
      const marker = dedupe ? indexOf(keys.seen(dedupe.key, topology.oneSlot ? undefined : sources[0])) : 0;
      const ingress = ack ? indexOf(keys.ingress) : 0;
      args.push(sources.length, marker, dedupe?.windowMs ?? '', ingress, ack?.group ?? '', ack?.consumer ?? '', ack?.entryId ?? '', event.type, event.tail);
      for (const source of sources) args.push(indexOf(keys.log(source), keys.logBytes(source)), keys.channel(source));
    }
    return [keyList.length, ...keyList, ...args];
  }
}
