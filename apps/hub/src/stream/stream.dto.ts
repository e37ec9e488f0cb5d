import { ApiProperty, ApiPropertyOptional, ApiSchema, getSchemaPath, type ApiResponseOptions } from '@nestjs/swagger';
import { EVENT_TYPE_PATTERN, RESERVED_EVENT_TYPES } from '#herald/contracts/envelope';
import { EVENT_ID_PATTERN } from '#herald/contracts/event-id';
import { STREAM_POSITION_PATTERN } from '#herald/contracts/stream-position';
import { TOPIC_PATTERN } from '#herald/contracts/topic';
import { USER_ID_PATTERN } from '#herald/contracts/user-id';
import {
  COMMENT_ADDED,
  COMMENT_CREATED,
  CommentAddedDto,
  CommentCreatedDto,
  INBOX_READ_EVENT,
  InboxReadDto,
  POST_CREATED,
  PostCreatedDto,
  POSTS_TOPIC,
} from '../events/event-types.js';
import { EXPIRED_REASON, RESET_REASON, RETRY_MS, TOPICS_EVENT } from './connection.js';

/*
 * The stream as the API document describes it: OpenAPI 3.2 describes a
 * `text/event-stream` response by an `itemSchema`, one item per event, with
 * its `event`, `id`, `retry` and `data` (JSON, described by `contentSchema`).
 */

@ApiSchema({ name: 'StreamReady' })
export class StreamReadyDto {
  @ApiProperty({ pattern: USER_ID_PATTERN.source, example: 'alice' })
  userId!: string;

  @ApiProperty({
    description: 'this stream, unique across instances (for logs, support, and changing its topics)',
    example: '3f2a9c1e-1',
  })
  connectionId!: string;

  @ApiProperty({ type: [String], description: 'the topics the stream follows', example: ['post:42'] })
  topics!: string[];
}

@ApiSchema({ name: 'StreamReset' })
export class StreamResetDto {
  @ApiProperty({ enum: [RESET_REASON] })
  reason!: string;

  @ApiPropertyOptional({ description: "the topic whose events were missed; absent: the user's own", example: 'post:42' })
  topic?: string;
}

/** The data of a `topics` frame, and the answer to a change of topics. */
@ApiSchema({ name: 'StreamTopics' })
export class StreamTopicsDto {
  @ApiProperty({ type: [String], description: 'the topics the stream follows now', example: ['post:42', 'team:7'] })
  topics!: string[];
}

/** The answer to PUT /v1/streams/{connectionId}/topics. */
export class StreamTopics extends StreamTopicsDto {
  @ApiProperty({ example: '3f2a9c1e-1' })
  connectionId!: string;
}

export const TOPICS_CHANGE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['topics'],
  properties: {
    topics: {
      type: 'array',
      items: { type: 'string', pattern: TOPIC_PATTERN.source },
      description: 'every topic the stream is to follow (up to TOPICS_PER_STREAM_MAX; empty: none)',
      example: ['post:42'],
    },
  },
};

@ApiSchema({ name: 'StreamExpired' })
export class StreamExpiredDto {
  @ApiProperty({ enum: [EXPIRED_REASON] })
  reason!: string;
}

/** What every event addressed to the user carries as its data (events/stream-message.ts writes it). */
@ApiSchema({ name: 'EventEnvelope' })
export class EventEnvelopeDto {
  @ApiProperty({
    pattern: EVENT_ID_PATTERN.source,
    description: "the event's id in its source (the user, or the topic); the frame's `id` is the stream's position",
    example: '1795359170169-0',
  })
  id!: string;

  @ApiPropertyOptional({ description: 'the topic the event came through; absent for an event to the user', example: 'post:42' })
  topic?: string;

  @ApiProperty({ pattern: EVENT_TYPE_PATTERN.source, example: 'comment.created' })
  type!: string;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'as published', example: { postId: '42' } })
  data!: Record<string, unknown>;

  @ApiProperty({ format: 'date-time', description: 'when the hub accepted it' })
  createdAt!: string;

  @ApiPropertyOptional({
    description: 'the inbox item, for a persisted event (mark it read with this id)',
    example: '17',
  })
  notificationId?: string;
}

/** The models the stream's schema refers to, for `@ApiExtraModels`. */
export const STREAM_MODELS = [
  StreamReadyDto,
  StreamResetDto,
  StreamExpiredDto,
  StreamTopicsDto,
  EventEnvelopeDto,
  InboxReadDto,
  CommentCreatedDto,
  CommentAddedDto,
  PostCreatedDto,
];

/** JSON Schema keywords of OpenAPI 3.1 and later that the package's SchemaObject type does not list. */
type Schema = Record<string, unknown>;

const jsonData = (schema: Schema): Schema => ({ contentMediaType: 'application/json', contentSchema: schema });
const ref = (model: Function): Schema => ({ $ref: getSchemaPath(model) });
const envelopeWith = (data: Function): Schema => ({
  allOf: [ref(EventEnvelopeDto), { type: 'object', properties: { data: ref(data) } }],
});

/** One kind of event: its `event` field, and what its `id` and `data` are. */
function kind(event: Schema, description: string, id: string, data: Schema, extra: Schema = {}): Schema {
  return {
    title: typeof event.const === 'string' ? event.const : 'published event',
    description,
    properties: { event, id: { description: id }, data: jsonData(data), ...extra },
  };
}

const EXAMPLE = [
  'event: ready',
  'id: 0',
  `retry: ${RETRY_MS}`,
  'data: {"userId":"alice","connectionId":"3f2a9c1e-1","topics":[]}',
  '',
  ': ping',
  '',
  'event: comment.created',
  'id: 1795359170169-0',
  'data: {"id":"1795359170169-0","type":"comment.created","data":{"postId":"42"},' +
    '"createdAt":"2026-11-22T14:52:50.169Z","notificationId":"1"}',
  '',
  '',
].join('\n');

/** The 200 of GET /v1/stream. */
export const STREAM_RESPONSE: ApiResponseOptions = {
  status: 200,
  description:
    'The stream: `ready` at once, then what was missed since `Last-Event-ID` (or `reset`) in the user and in each ' +
    'topic followed, then live events. Each id says where the stream is in every source: the user\'s event id alone ' +
    'when it follows no topic. A `: ping` comment keeps it open (HEARTBEAT_MS). It ends with `expired` ' +
    'when the token expires, and without an event when the instance drains or the client reads too slowly: ' +
    'reconnecting with the last id loses nothing.',
  content: {
    'text/event-stream': {
      example: EXAMPLE,
      itemSchema: {
        type: 'object',
        required: ['event', 'id', 'data'],
        properties: {
          event: { type: 'string', description: "the event's type: what to pass to EventSource's addEventListener" },
          id: {
            type: 'string',
            pattern: STREAM_POSITION_PATTERN.source,
            description: 'sent back as `Last-Event-ID` on reconnecting',
          },
          data: { type: 'string' },
          retry: { type: 'integer', description: 'milliseconds to wait before reconnecting' },
        },
        anyOf: [
          kind(
            { const: 'ready' },
            'Sent at once.',
            'where the stream starts: the `Last-Event-ID` sent, or else the newest event of the user (`0` if none) and of each topic',
            ref(StreamReadyDto),
            { retry: { const: RETRY_MS } },
          ),
          kind(
            { const: 'reset' },
            'The id sent is older than the replay window: events may have been missed. Refetch the inbox ' +
              '(or, with `topic`, what the page shows of that topic).',
            'where live delivery continues',
            ref(StreamResetDto),
          ),
          kind(
            { const: 'expired' },
            'The token that opened the stream expired; the stream ends. ' +
              'Reconnect with a fresh token and `lastEventId`.',
            'the last event id sent',
            ref(StreamExpiredDto),
          ),
          kind(
            { const: TOPICS_EVENT },
            'The topics of the stream were changed (PUT /v1/streams/{connectionId}/topics).',
            'the position in every source, the topics added included',
            ref(StreamTopicsDto),
          ),
          kind(
            { type: 'string', pattern: EVENT_TYPE_PATTERN.source, not: { enum: [...RESERVED_EVENT_TYPES] } },
            'An event published to the user or to a topic followed (POST /v1/events, the Redis ingress, or the hub itself); ' +
              'its type is the `event`.',
            "the event's id",
            ref(EventEnvelopeDto),
          ),
          kind(
            { const: INBOX_READ_EVENT },
            "The user's notifications were marked read (on any of their devices).",
            "the event's id",
            envelopeWith(InboxReadDto),
          ),
          kind(
            { const: COMMENT_CREATED },
            'The sample producer: a comment on a post the user wrote or commented on.',
            "the event's id",
            envelopeWith(CommentCreatedDto),
          ),
          kind(
            { const: COMMENT_ADDED },
            'The sample producer: a comment on a post, to every stream following the topic `post:<postId>`.',
            'the stream position',
            envelopeWith(CommentAddedDto),
          ),
          kind(
            { const: POST_CREATED },
            `The sample producer: a new post, to every stream following the topic \`${POSTS_TOPIC}\`.`,
            'the stream position',
            envelopeWith(PostCreatedDto),
          ),
        ],
      },
    },
  } as ApiResponseOptions['content'],
};
