import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { StreamTickets } from '#herald/auth/stream-tickets';
import { HubConfig } from '../config/config.js';
import { IngressSource } from './ingress-source.js';
import { MemoryRateLimitStore } from './memory/memory-rate-limit.store.js';
import { MemoryReplayLog } from './memory/memory-replay-log.js';
import { MemoryStreamCounter } from './memory/memory-stream-counter.js';
import { MemoryStreamTickets } from './memory/memory-stream-tickets.js';
import { MemoryTransport } from './memory/memory.transport.js';
import { RateLimitStore } from './rate-limit.store.js';
import { RedisIngressSource } from './redis/redis-ingress.source.js';
import { RedisInstances } from './redis/redis-instances.js';
import { RedisRateLimitStore } from './redis/redis-rate-limit.store.js';
import { RedisReplayLog } from './redis/redis-replay-log.js';
import { RedisStreamCounter } from './redis/redis-stream-counter.js';
import { RedisStreamTickets } from './redis/redis-stream-tickets.js';
import { RedisConnections } from './redis/redis.connections.js';
import { RedisTransport } from './redis/redis.transport.js';
import { StreamCounter } from './stream-counter.js';
import { Transport } from './transport.js';

/** The ports the rest of the hub uses; what stands behind them is this module's business alone. */
const PORTS = [Transport, StreamCounter, StreamTickets, RateLimitStore];

/**
 * Binds every port to its adapter from the configuration: Redis when
 * REDIS_URL or REDIS_SENTINELS is set (then also the ingress), else in
 * memory. The code above the ports is the same for both.
 */
@Global()
@Module({})
export class TransportModule {
  static forRoot(config: HubConfig): DynamicModule {
    const providers: Provider[] = config.redis
      ? [
          RedisConnections,
          RedisInstances,
          RedisReplayLog,
          { provide: Transport, useClass: RedisTransport },
          { provide: StreamCounter, useClass: RedisStreamCounter },
          { provide: StreamTickets, useClass: RedisStreamTickets },
          { provide: RateLimitStore, useClass: RedisRateLimitStore },
          { provide: IngressSource, useClass: RedisIngressSource },
        ]
      : [
          {
            provide: MemoryReplayLog,
            inject: [HubConfig],
            useFactory: (c: HubConfig) => new MemoryReplayLog(c.replayMaxEvents, c.replayMaxBytes, c.replayTtlMs, Date.now()),
          },
          { provide: Transport, useClass: MemoryTransport },
          { provide: StreamCounter, useClass: MemoryStreamCounter },
          { provide: StreamTickets, useClass: MemoryStreamTickets },
          { provide: RateLimitStore, useClass: MemoryRateLimitStore },
        ];
    return {
      module: TransportModule,
      providers,
      exports: config.redis ? [...PORTS, IngressSource] : PORTS,
    };
  }
}
