import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { topicOfSource } from '#herald/contracts/topic';
import { HubConfig } from '../../config/config.js';
import type { PreparedEvent } from '../../events/stream-message.js';
import { ExpiringKeys } from './expiring-keys.js';
import { MemoryReplayLog } from './memory-replay-log.js';
import type { Replay } from '../replay.js';
import { DeliverySink, PublishOptions, TopicsChangeAnswer, Transport } from '../transport.js';

/** Shortest pause between two sweeps of the replay log for expired events. */
const MAX_SWEEP_INTERVAL_MS = 60_000;

/**
 * The embedded default: one instance, everything in this process. An event
 * gets a single id shared by all its sources, so its frame is built once for
 * all its users (and once per topic, which the frame names).
 */
@Injectable()
export class MemoryTransport extends Transport implements OnModuleInit, OnModuleDestroy {
  private sink?: DeliverySink;
  private sweeper?: NodeJS.Timeout;
  private readonly seen = new ExpiringKeys();

  constructor(
    private readonly log: MemoryReplayLog,
    private readonly config: HubConfig,
  ) {
    super();
  }

  onModuleInit(): void {
    const every = Math.min(Math.ceil(this.config.replayTtlMs / 4), MAX_SWEEP_INTERVAL_MS);
    this.sweeper = setInterval(() => {
      this.log.sweep(Date.now());
      this.seen.sweep(Date.now());
    }, every).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  /**
   * A dedupe key is remembered for its window (a publisher's retry); one
   * without a window is a retry after a crash, which took this process's
   * deliveries with it, so it needs no memory.
   */
  async publish(event: PreparedEvent, sources: readonly string[], options: PublishOptions = {}): Promise<void> {
    const now = Date.now();
    if (options.dedupeKey !== undefined && options.dedupeWindowMs !== undefined) {
      if (this.seen.has(options.dedupeKey, now)) return;
      this.seen.add(options.dedupeKey, now + options.dedupeWindowMs);
    }
    const id = this.log.nextId(now);
    const shared = event.toMessage(id);
    for (const source of sources) {
      const message = topicOfSource(source) === undefined ? shared : event.toMessage(id, source);
      this.log.append(source, message);
      this.sink?.deliver(source, message);
    }
    await options.receipt?.ack();
  }

  async replay(source: string, afterId: string | null): Promise<Replay> {
    return this.log.read(source, afterId);
  }

  connect(sink: DeliverySink): void {
    this.sink = sink;
  }

  watch(): void {}

  unwatch(): void {}

  /** One instance: a stream that is not here is nowhere. */
  async forwardTopicsChange(): Promise<TopicsChangeAnswer | null> {
    return null;
  }

  isReady(): boolean {
    return true;
  }
}
