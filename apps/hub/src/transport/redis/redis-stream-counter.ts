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
 * own count exactly whenever it changes, so a lost update heals at the next
 * one. The counts of an instance that stopped beating (a crash) no longer
 * count once it is overdue.
 */
@Injectable()
export class RedisStreamCounter extends StreamCounter implements OnModuleDestroy {
  private readonly logger = new Logger(RedisStreamCounter.name);
  /** Releases on their way to Redis: shutdown waits for them before the connection closes. */
  private readonly releasing = new Set<Promise<unknown>>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly instances: RedisInstances,
    private readonly config: HubConfig,
  ) {
    super();
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
    return admitted === 1;
  }

  release(userId: string, local: number): void {
    const released = this.redis.scripts
      .heraldReleaseSlot(1, this.redis.keys.streamCounts(userId), this.instances.me, local)
      .catch((err: Error) => {
        this.logger.warn(`releasing a stream slot of ${userId} failed (${err.message}); the next change corrects it`);
      })
      .finally(() => this.releasing.delete(released));
    this.releasing.add(released);
  }
}
