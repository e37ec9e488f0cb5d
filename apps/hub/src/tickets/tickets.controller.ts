import { Controller, Post, UseGuards } from '@nestjs/common';
import { BearerAuthGuard, CurrentPrincipal } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { StreamTickets } from '#herald/auth/stream-tickets';
import { RateLimited } from '../rate-limits/rate-limits.js';

@Controller('v1/stream-tickets')
export class TicketsController {
  constructor(private readonly tickets: StreamTickets) {}

  /** A single-use ticket for `GET /v1/stream?ticket=…`, valid for 30 s on any instance. */
  @Post()
  // Above UseGuards: decorators apply bottom-up, so auth runs first and a per-user limit sees the user.
  @RateLimited('tickets')
  @UseGuards(BearerAuthGuard)
  async issue(@CurrentPrincipal() principal: Principal): Promise<{ ticket: string; expiresIn: number }> {
    return { ticket: await this.tickets.issue(principal), expiresIn: StreamTickets.TTL_SECONDS };
  }
}
