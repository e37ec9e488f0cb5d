import { DynamicModule, Global, Module } from '@nestjs/common';
import type { HubConfig } from '../config/config.js';
import { RedisRateLimitStore } from '../redis/redis-rate-limit.store.js';
import { MemoryRateLimitStore } from './memory-rate-limit.store.js';
import { RateLimitStore } from './rate-limit.store.js';

/** Rate-limit counts in Redis when instances share it (so limits hold cluster-wide), else in memory. */
@Global()
@Module({})
export class RateLimitsModule {
  static forRoot(config: HubConfig): DynamicModule {
    return {
      module: RateLimitsModule,
      providers: [{ provide: RateLimitStore, useClass: config.redisUrl ? RedisRateLimitStore : MemoryRateLimitStore }],
      exports: [RateLimitStore],
    };
  }
}
