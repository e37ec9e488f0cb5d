import { Body, Controller, Headers, MessageEvent, Param, Put, Query, Sse, UseGuards } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { BearerAuthGuard, CurrentPrincipal, StreamAuthGuard } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { type DecodedStreamPosition, decodeStreamPosition, STREAM_POSITION_PATTERN } from '#herald/contracts/stream-position';
import { TOPIC_PATTERN } from '#herald/contracts/topic';
import { ApiBodyErrors, ApiError } from '../errors/error-response.js';
import { FieldError } from '../errors/errors.js';
import { parseBody } from '../requests/parse-body.js';
import { ApiStreamCredentials, ApiUserToken } from '../openapi/security.js';
import { RateLimited } from '../rate-limits/rate-limits.js';
import { TopicAccess } from '../topics/topic-access.js';
import { StreamService } from './stream.service.js';
import { STREAM_MODELS, STREAM_RESPONSE, StreamTopics, TOPICS_CHANGE_SCHEMA } from './stream.dto.js';

/**
 * Bytes of events that may wait in the hub for a client that does not read before
 * its stream is dropped; it then reconnects and replays from the log.
 */
export const MAX_PENDING_DATA_LENGTH = 1024 * 1024;

const STREAM_ID = { type: 'string', pattern: STREAM_POSITION_PATTERN.source };
/** The topics themselves are checked by TopicAccess, as those of `?topic=` are. */
const TopicsChange = z.strictObject(
  { topics: z.array(z.unknown(), { error: 'must be an array of topics (empty to follow none)' }) },
  { error: 'must be a JSON object' },
);
const TOPIC_REFUSED = {
  message: 'may not follow topic "team:9": neither the token\'s topics claim nor PUBLIC_TOPICS admits it',
  details: { field: 'topic', topic: 'team:9' },
};

@ApiTags('Stream')
@Controller('v1')
export class StreamController {
  constructor(
    private readonly streams: StreamService,
    private readonly access: TopicAccess,
  ) {}

  @Sse('stream', { maxPendingDataLength: MAX_PENDING_DATA_LENGTH })
  // Above UseGuards: decorators apply bottom-up, so auth runs first and a per-user limit sees the user.
  @RateLimited('stream-address', 'stream-user')
  @UseGuards(StreamAuthGuard)
  @ApiOperation({
    summary: "The user's events, as Server-Sent Events",
    description:
      "One stream carries all of a user's events, and those of the topics it follows; open one per tab or device " +
      '(up to STREAMS_PER_USER_MAX across instances). ' +
      'Errors are JSON answers, never a stream.',
  })
  @ApiStreamCredentials()
  @ApiExtraModels(...STREAM_MODELS)
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description:
      'the id of the last event received: replay what came after it, in the user and in each topic (EventSource sends it when it reconnects)',
    schema: STREAM_ID,
  })
  @ApiQuery({
    name: 'lastEventId',
    required: false,
    description: 'the same, for a reconnect that passes it explicitly; the header wins',
    schema: STREAM_ID,
  })
  @ApiQuery({
    name: 'topic',
    required: false,
    description:
      'a topic to follow on this stream (`post:42`); repeat it for several, up to TOPICS_PER_STREAM_MAX. ' +
      "The token's `topics` claim or PUBLIC_TOPICS must admit each one",
    schema: { type: 'array', items: { type: 'string', pattern: TOPIC_PATTERN.source } },
    style: 'form',
    explode: true,
  })
  @ApiResponse(STREAM_RESPONSE)
  @ApiError(400, '`Last-Event-ID` or `lastEventId` is not an id of this hub, or `topic` is malformed or repeated too often', {
    message: 'Last-Event-ID: is not an event id of this hub',
    details: { field: 'Last-Event-ID' },
  })
  @ApiError(403, 'the user may not follow a topic asked for: `topic` names it', TOPIC_REFUSED)
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
    @Query('topic') topic: unknown,
  ): Promise<Observable<MessageEvent>> {
    const after = lastEventId(header, query);
    const topics = this.access.followable(principal, topic, 'topic');
    return this.streams.open(principal, { after, topics });
  }

  @Put('streams/:connectionId/topics')
  @UseGuards(BearerAuthGuard)
  @ApiTags('Stream')
  @ApiOperation({
    summary: 'Change the topics an open stream follows',
    description:
      "For a page that navigates without reconnecting: the stream (the `connectionId` of its `ready`, the caller's own) " +
      'follows exactly these topics from now on. Topics added start at their newest event; the stream then gets a ' +
      '`topics` event whose id carries its position in each. A client that reconnects later passes the new topics in its URL.',
  })
  @ApiUserToken()
  @ApiParam({ name: 'connectionId', description: 'the `connectionId` of the stream\'s `ready` event' })
  @ApiBody({ schema: TOPICS_CHANGE_SCHEMA })
  @ApiBodyErrors()
  @ApiOkResponse({ type: StreamTopics, description: 'the stream follows these topics now' })
  @ApiError(403, 'the user may not follow a topic asked for: `topic` names it', { ...TOPIC_REFUSED, details: { field: 'topics', topic: 'team:9' } })
  @ApiError(404, 'the caller has no open stream with this id on the instance that answers', {
    message: 'no open stream h1-2 of this user on this instance',
  })
  @ApiError(409, 'the stream has not sent `ready` yet, or is catching up after an outage', { retryAfter: true })
  @ApiError(503, "the topics' positions cannot be read (the event store is away); the stream was ended, to reconnect", {
    retryAfter: true,
  })
  async changeTopics(
    @CurrentPrincipal() principal: Principal,
    @Param('connectionId') connectionId: string,
    @Body() body: unknown,
  ): Promise<StreamTopics> {
    const { topics } = parseBody(TopicsChange, body);
    const checked = this.access.followable(principal, topics, 'topics');
    await this.streams.changeTopics(principal, connectionId, checked);
    return { connectionId, topics: checked };
  }
}

/** The header (what EventSource sends on reconnect) wins over the query parameter. */
function lastEventId(header: string | undefined, query: unknown): DecodedStreamPosition | null {
  if (header !== undefined && header !== '') {
    const position = decodeStreamPosition(header);
    if (position === null) throw new FieldError('Last-Event-ID', 'is not an event id of this hub');
    return position;
  }
  if (query === undefined || query === '') return null;
  const position = typeof query === 'string' ? decodeStreamPosition(query) : null;
  if (position === null) throw new FieldError('lastEventId', 'is not an event id of this hub');
  return position;
}
