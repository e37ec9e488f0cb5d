import { Controller, Post, UseGuards } from '@nestjs/common';
import { ApiCreatedResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { BearerAuthGuard, CurrentPrincipal } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { StreamTickets } from '#herald/auth/stream-tickets';
import { ApiUserToken } from '../openapi/security.js';
import { RateLimited } from '../rate-limits/rate-limits.js';

export class StreamTicket {
  @ApiProperty({ description: 'for `GET /v1/stream?ticket=…`: single-use, on any instance' })
  ticket!: string;

  @ApiProperty({ type: 'integer', description: 'seconds it stays valid', example: StreamTickets.TTL_SECONDS })
  expiresIn!: number;
}

@ApiTags('Stream')
@Controller('v1/stream-tickets')
export class TicketsController {
  constructor(private readonly tickets: StreamTickets) {}

  /** A single-use ticket for `GET /v1/stream?ticket=…`, valid for 30 s on any instance. */
  @Post()
  // Above UseGuards: decorators apply bottom-up, so auth runs first and a per-user limit sees the user.
  @RateLimited('tickets')
  @UseGuards(BearerAuthGuard)
  @ApiOperation({
    summary: 'Trade a user token for a stream ticket',
    description:
      'Keeps long-lived tokens out of URLs: `EventSource` cannot send headers, ' +
      'so the stream takes a ticket in its query string.',
  })
  @ApiUserToken()
  @ApiCreatedResponse({ type: StreamTicket, description: 'the ticket' })
  async issue(@CurrentPrincipal() principal: Principal): Promise<StreamTicket> {
    return { ticket: await this.tickets.issue(principal), expiresIn: StreamTickets.TTL_SECONDS };
  }
}
