import { Module } from '@nestjs/common';
import { TicketsController } from './tickets.controller.js';

/** Stream tickets: issued here, redeemed by the stream's auth guard; stored by the transport's StreamTickets. */
@Module({ controllers: [TicketsController] })
export class TicketsModule {}
