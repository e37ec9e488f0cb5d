import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { HubConfig } from '../config/config.js';
import { StreamSlots } from '../stream/stream-slots.js';
import { RedisInstances } from './redis-instances.js';
import { RedisConnections, SCRIPT_COMMANDS } from './redis.connections.js';

/** An instance not heard of for this long is taken for dead, and its streams stop counting. */
const LIVENESS_MS = 15_000;
/** A user's counts outlive their last change by this much at most (a safety net: live instances keep them right). */
const COUNTS_TTL_MS = 24 * 3600_000;

/**
 * Sets this instance's count of the user's streams (the new one included),
 * and admits the stream if the total stays within the cap; refused, this
 * instance's count goes back. Each count `<instance>` has the time of its
 * last write in `<instance>@`: the count of an instance that is neither in
 * the caller's view of live instances nor written recently (a crash) is
 * dropped. The time is Redis's, so instances' clocks do not matter.
 * KEYS: the user's counts (a hash). ARGV: this instance, its count with the
 * new stream, the cap, ttl, liveness window, live instances…
 */
const ACQUIRE = `
local me, mine, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local fresh = now - tonumber(ARGV[5])
local live = {}
for i = 6, #ARGV do live[ARGV[i]] = true end
local flat = redis.call('HGETALL', KEYS[1])
local counts = {}
for i = 1, #flat, 2 do counts[flat[i]] = flat[i + 1] end
local others = 0
for instance, count in pairs(counts) do
  if instance ~= me and string.sub(instance, -1) ~= '@' then
    if live[instance] or tonumber(counts[instance .. '@'] or '0') >= fresh then
      others = others + tonumber(count)
    else
      redis.call('HDEL', KEYS[1], instance, instance .. '@')
    end
  end
end
local admitted = others + mine <= cap
if not admitted then mine = mine - 1 end
if mine > 0 then redis.call('HSET', KEYS[1], me, mine, me .. '@', now) else redis.call('HDEL', KEYS[1], me, me .. '@') end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if admitted then return 1 end
return 0
`;

/** KEYS: the user's counts. ARGV: this instance, its count. */
const RELEASE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '@', now)
else
  redis.call('HDEL', KEYS[1], ARGV[1], ARGV[1] .. '@')
end
`;

interface ScriptedClient {
  heraldAcquireSlot(numKeys: number, ...args: (string | number)[]): Promise<number>;
  heraldReleaseSlot(numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * STREAMS_PER_USER_MAX across instances, without a Redis record per stream:
 * each user has a hash of counts by instance, and each instance states its
 * own count exactly whenever it changes, so a lost update heals at the next
 * one. The counts of an instance that stopped beating (a crash) no longer
 * count once it is overdue.
 */
@Injectable()
export class RedisStreamSlots extends StreamSlots implements OnModuleDestroy {
  private readonly logger = new Logger(RedisStreamSlots.name);
  private readonly client: ScriptedClient;
  /** Releases on their way to Redis: shutdown waits for them before the connection closes. */
  private readonly releasing = new Set<Promise<unknown>>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly instances: RedisInstances,
    private readonly config: HubConfig,
  ) {
    super();
    redis.commands.defineCommand(SCRIPT_COMMANDS.acquireSlot, { lua: ACQUIRE });
    redis.commands.defineCommand(SCRIPT_COMMANDS.releaseSlot, { lua: RELEASE });
    this.client = redis.commands as unknown as ScriptedClient;
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.releasing);
  }

  async acquire(userId: string, local: number): Promise<boolean> {
    const admitted = await this.client.heraldAcquireSlot(
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
    const released = this.client
      .heraldReleaseSlot(1, this.redis.keys.streamCounts(userId), this.instances.me, local)
      .catch((err: Error) => {
        this.logger.warn(`releasing a stream slot of ${userId} failed (${err.message}); the next change corrects it`);
      })
      .finally(() => this.releasing.delete(released));
    this.releasing.add(released);
  }
}
