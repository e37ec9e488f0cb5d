import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { HubConfig } from '../../config/config.js';
import { StreamCounter } from '../stream-counter.js';
import { RedisInstances } from './redis-instances.js';
import { RedisConnections } from './redis.connections.js';

/** An instance not heard of for this long is taken for dead, and its streams stop counting. */
const LIVENESS_MS = 15_000;
/** A user's counts outlive their last change by this much at most (a safety net: live instances keep them right). */
const COUNTS_TTL_MS = 24 * 3600_000;

/**
 * STREAMS_PER_USER_MAX across instances, without a Redis record per stream:
 * each user has a hash of counts by instance, and each instance states its
 * own count exactly whenever it changes. A count Redis did not take (it was
 * away) is stated again once Redis is back: otherwise streams closed during
 * an outage would count until the user's next change on this instance. The
 * counts of an instance that stopped beating (a crash) no longer count once
 * it is overdue.
 */
@Injectable()
export class RedisStreamCounter extends StreamCounter implements OnModuleDestroy {
  private readonly logger = new Logger(RedisStreamCounter.name);
  /** Releases on their way to Redis: shutdown waits for them before the connection closes. */
  private readonly releasing = new Set<Promise<unknown>>();
  /** This instance's counts Redis did not take, by user: stated again when it is back. */
  private readonly unstated = new Map<string, number>();
  /** The newest release in flight per user: only its failure is owed (an older one is superseded). */
  private readonly newest = new Map<string, Promise<unknown>>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly instances: RedisInstances,
    private readonly config: HubConfig,
  ) {
    super();
    redis.commands.on('ready', () => {
      for (const [userId, local] of [...this.unstated]) this.release(userId, local);
    });
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.releasing);
  }

  async acquire(userId: string, local: number): Promise<boolean> {
    const admitted = await this.redis.scripts.heraldAcquireSlot(
      1,
      this.redis.keys.streamCounts(userId),
      this.instances.me,
      local,
      this.config.streamsPerUserMax,
      COUNTS_TTL_MS,
      LIVENESS_MS,
      ...this.instances.live(LIVENESS_MS),
    );
    // The script stated this instance's count: nothing older is owed, not even a release still in flight.
    this.unstated.delete(userId);
    this.newest.delete(userId);
    return admitted === 1;
  }

  release(userId: string, local: number): void {
    this.unstated.delete(userId);
    const released: Promise<unknown> = this.redis.scripts
      .heraldReleaseSlot(1, this.redis.keys.streamCounts(userId), this.instances.me, local)
      .catch((err: Error) => {
        if (this.newest.get(userId) === released) this.unstated.set(userId, local);
        this.logger.warn(`releasing a stream slot of ${userId} failed (${err.message}); stated again once Redis is back`);
      })
      .finally(() => {
        this.releasing.delete(released);
        if (this.newest.get(userId) === released) this.newest.delete(userId);
      });
    this.newest.set(userId, released);
    this.releasing.add(released);
  }
}
