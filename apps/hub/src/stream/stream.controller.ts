import { Controller, Headers, MessageEvent, Query, Req, Sse, SseSignal, UseGuards } from '@nestjs/common';
import { ApiExtraModels, ApiHeader, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { CurrentPrincipal, StreamAuthGuard } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { EVENT_ID_PATTERN, isEventId } from '#herald/contracts/event-id';
import { ApiError } from '../errors/error-response.js';
import { FieldError } from '../errors/errors.js';
import { ApiStreamCredentials } from '../openapi/security.js';
import { RateLimited } from '../rate-limits/rate-limits.js';
import { StreamService } from './stream.service.js';
import { STREAM_MODELS, STREAM_RESPONSE } from './stream.dto.js';

/**
 * Characters of events that may wait for a client that does not read before
 * its stream is dropped; it then reconnects and replays from the log.
 */
export const MAX_PENDING_DATA_LENGTH = 1024 * 1024;

const EVENT_ID = { type: 'string', pattern: EVENT_ID_PATTERN.source };

@ApiTags('Stream')
@Controller('v1')
export class StreamController {
  constructor(private readonly streams: StreamService) {}

  @Sse('stream', { maxPendingDataLength: MAX_PENDING_DATA_LENGTH })
  // Above UseGuards: decorators apply bottom-up, so auth runs first and a per-user limit sees the user.
  @RateLimited('stream-address', 'stream-user')
  @UseGuards(StreamAuthGuard)
  @ApiOperation({
    summary: "The user's events, as Server-Sent Events",
    description:
      "One stream carries all of a user's events; open one per tab or device " +
      '(up to STREAMS_PER_USER_MAX across instances). ' +
      'Errors are JSON answers, never a stream.',
  })
  @ApiStreamCredentials()
  @ApiExtraModels(...STREAM_MODELS)
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description:
      'the id of the last event received: replay what came after it (EventSource sends it when it reconnects)',
    schema: EVENT_ID,
  })
  @ApiQuery({
    name: 'lastEventId',
    required: false,
    description: 'the same, for a reconnect that passes it explicitly; the header wins',
    schema: EVENT_ID,
  })
  @ApiResponse(STREAM_RESPONSE)
  @ApiError(400, '`Last-Event-ID` or `lastEventId` is not an event id of this hub', {
    message: 'Last-Event-ID: is not an event id of this hub',
    details: { field: 'Last-Event-ID' },
  })
  @ApiError(429, 'the user already has STREAMS_PER_USER_MAX open streams; a place frees when one closes', {
    retryAfter: true,
    message: 'user already has 8 open streams (STREAMS_PER_USER_MAX)',
  })
  @ApiError(503, 'this instance is shutting down, holds STREAMS_MAX streams, or cannot reach its event store', {
    retryAfter: true,
    message: 'this instance is shutting down; reconnect to another',
  })
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
