import { Controller, Headers, MessageEvent, Query, Req, Sse, SseSignal, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { CurrentPrincipal, StreamAuthGuard } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { isEventId } from '#herald/contracts/event-id';
import { FieldError } from '../errors/errors.js';
import { RateLimited } from '../rate-limits/rate-limits.js';
import { StreamService } from './stream.service.js';

/**
 * Characters of events that may wait for a client that does not read before
 * its stream is dropped; it then reconnects and replays from the log.
 */
export const MAX_PENDING_DATA_LENGTH = 1024 * 1024;

@Controller('v1')
export class StreamController {
  constructor(private readonly streams: StreamService) {}

  @Sse('stream', { maxPendingDataLength: MAX_PENDING_DATA_LENGTH })
  // Above UseGuards: decorators apply bottom-up, so auth runs first and a per-user limit sees the user.
  @RateLimited('stream-address', 'stream-user')
  @UseGuards(StreamAuthGuard)
  stream(
    @CurrentPrincipal() principal: Principal,
    @Headers('last-event-id') header: string | undefined,
    @Query('lastEventId') query: unknown,
    @SseSignal() signal: AbortSignal,
    @Req() request: Request,
  ): Promise<Observable<MessageEvent>> {
    return this.streams.open(principal, lastEventId(header, query), signal, request.res);
  }
}

/** The header (what EventSource sends on reconnect) wins over the query parameter. */
function lastEventId(header: string | undefined, query: unknown): string | null {
  if (header !== undefined && header !== '') {
    if (!isEventId(header)) throw new FieldError('Last-Event-ID', 'is not an event id of this hub');
    return header;
  }
  if (query === undefined || query === '') return null;
  if (typeof query !== 'string' || !isEventId(query)) {
    throw new FieldError('lastEventId', 'is not an event id of this hub');
  }
  return query;
}
