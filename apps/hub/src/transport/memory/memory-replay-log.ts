import { compareEventIds, eventIdMillis, START_ID } from '#herald/contracts/event-id';
import type { StreamMessage } from '../../events/stream-message.js';
import { EventIdClock } from './event-id-clock.js';
import type { Replay } from '../replay.js';

/** One source's recent events, oldest first, in `events[start…]`. */
class SourceLog {
  events: (StreamMessage | undefined)[] = [];
  start = 0;
  /** The newest event dropped from this log: events up to it may be missing. */
  trimmedTo = START_ID;
  /** Characters of the events kept: the frames' data, what a replay sends. */
  chars = 0;

  get size(): number {
    return this.events.length - this.start;
  }

  get head(): string {
    return this.events[this.events.length - 1]!.id;
  }

  push(message: StreamMessage): void {
    this.events.push(message);
    this.chars += message.data.length;
  }

  dropOldest(): void {
    const oldest = this.events[this.start]!;
    this.trimmedTo = oldest.id;
    this.chars -= oldest.data.length;
    this.events[this.start++] = undefined;
    // Compacting once half of the array is dead keeps appends O(1) amortised.
    if (this.start > 64 && this.start * 2 > this.events.length) {
      this.events = this.events.slice(this.start);
      this.start = 0;
    }
  }

  /** The index of the first event with an id above `id`. */
  firstAfter(id: string): number {
    let lo = this.start;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareEventIds(this.events[mid]!.id, id) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The embedded default's replay log: each source's last `maxEvents` events, at
 * most `maxChars` characters of them (the newest one is always kept), in this
 * process's memory, dropped after `ttlMs`. A message object is shared by
 * every recipient's log, so an event costs one slot per recipient.
 */
export class MemoryReplayLog {
  private readonly logs = new Map<string, SourceLog>();
  private readonly clock: EventIdClock;
  /** Ids from before this boot are unknown here: every event up to it may be missing. */
  private readonly bootFloor: string;
  /** The newest event of any log dropped whole for age: no tombstone is kept for it. */
  private expiredFloor = START_ID;

  constructor(
    private readonly maxEvents: number,
    private readonly maxChars: number,
    private readonly ttlMs: number,
    bootMs: number,
  ) {
    this.clock = new EventIdClock(bootMs);
    this.bootFloor = this.clock.current;
  }

  nextId(now: number): string {
    return this.clock.next(now);
  }

  append(source: string, message: StreamMessage): void {
    let log = this.logs.get(source);
    if (!log) this.logs.set(source, (log = new SourceLog()));
    log.push(message);
    while (log.size > 1 && (log.size > this.maxEvents || log.chars > this.maxChars)) log.dropOldest();
  }

  /**
   * Everything after `afterId` in the source, or a reset when some of it may be
   * gone. `0` is read as "from the start of this boot", so a client that had
   * seen no event keeps what came since; any other id from before this boot,
   * or one this process never issued, is a reset.
   */
  read(source: string, afterId: string | null): Replay {
    const log = this.logs.get(source);
    const head = log ? log.head : START_ID;
    if (afterId === null) return { head, events: [] };
    const isStart = compareEventIds(afterId, START_ID) === 0;
    const floors = [this.expiredFloor, log?.trimmedTo ?? START_ID, isStart ? START_ID : this.bootFloor];
    const missing = floors.some((floor) => compareEventIds(afterId, floor) < 0);
    if (missing || compareEventIds(afterId, this.clock.current) > 0) return { head, events: null };
    if (!log) return { head, events: [] };
    return { head, events: log.events.slice(log.firstAfter(afterId)) as StreamMessage[] };
  }

  /** Drops events older than the TTL, and logs left empty. */
  sweep(now: number): void {
    const cutoff = now - this.ttlMs;
    for (const [source, log] of this.logs) {
      while (log.size > 0 && eventIdMillis(log.events[log.start]!.id) < cutoff) log.dropOldest();
      if (log.size === 0) {
        if (compareEventIds(log.trimmedTo, this.expiredFloor) > 0) this.expiredFloor = log.trimmedTo;
        this.logs.delete(source);
      }
    }
  }

  /** How many sources have a log (for leak checks and metrics). */
  get sourceCount(): number {
    return this.logs.size;
  }
}
