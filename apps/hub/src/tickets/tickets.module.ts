import { Module } from '@nestjs/common';
import { StreamTickets } from '#herald/auth/stream-tickets';
import { MemoryStreamTickets } from './memory-stream-tickets.js';
import { TicketsController } from './tickets.controller.js';

@Module({
  controllers: [TicketsController],
  providers: [{ provide: StreamTickets, useClass: MemoryStreamTickets }],
  exports: [StreamTickets],
})
export class TicketsModule {}
