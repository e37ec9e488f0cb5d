import { DynamicModule, Global, Module } from '@nestjs/common';
import type { HubConfig } from '../config/config.js';
import { RedisInstances } from '../redis/redis-instances.js';
import { RedisStreamSlots } from '../redis/redis-stream-slots.js';
import { RedisConnections } from '../redis/redis.connections.js';
import { RedisReplayLog } from '../replay/redis-replay-log.js';
import { LocalStreamSlots, StreamSlots } from '../stream/stream-slots.js';
import { Fanout } from './fanout.js';
import { InProcessFanout } from './in-process.fanout.js';
import { RedisFanout } from './redis.fanout.js';

/**
 * Binds the transport, and the per-user stream count that goes with it:
 * Redis when REDIS_URL is set, else in-process. The stream code is the same for both.
 */
@Global()
@Module({})
export class FanoutModule {
  static forRoot(config: HubConfig): DynamicModule {
    const providers = config.redisUrl
      ? [
          RedisConnections,
          RedisInstances,
          RedisReplayLog,
          { provide: Fanout, useClass: RedisFanout },
          { provide: StreamSlots, useClass: RedisStreamSlots },
        ]
      : [
          { provide: Fanout, useClass: InProcessFanout },
          { provide: StreamSlots, useClass: LocalStreamSlots },
        ];
    return {
      module: FanoutModule,
      providers,
      exports: config.redisUrl ? [Fanout, StreamSlots, RedisConnections, RedisInstances, RedisReplayLog] : [Fanout, StreamSlots],
    };
  }
}
