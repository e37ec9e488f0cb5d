import { DynamicModule, Global, Module } from '@nestjs/common';
import { StreamTickets } from '#herald/auth/stream-tickets';
import type { HubConfig } from '../config/config.js';
import { MemoryStreamTickets } from './memory-stream-tickets.js';
import { RedisStreamTickets } from './redis-stream-tickets.js';
import { TicketsController } from './tickets.controller.js';

/** Stream tickets: in memory on the embedded default, in Redis when instances share it. */
@Global()
@Module({})
export class TicketsModule {
  static forRoot(config: HubConfig): DynamicModule {
    return {
      module: TicketsModule,
      controllers: [TicketsController],
      providers: [{ provide: StreamTickets, useClass: config.redisUrl ? RedisStreamTickets : MemoryStreamTickets }],
      exports: [StreamTickets],
    };
  }
}
