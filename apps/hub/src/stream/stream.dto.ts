import { ApiProperty, ApiPropertyOptional, ApiSchema, getSchemaPath, type ApiResponseOptions } from '@nestjs/swagger';
import { EVENT_TYPE_PATTERN, RESERVED_EVENT_TYPES } from '#herald/contracts/envelope';
import { EVENT_ID_PATTERN } from '#herald/contracts/event-id';
import { USER_ID_PATTERN } from '#herald/contracts/user-id';
import { COMMENT_CREATED, CommentCreatedDto, INBOX_READ_EVENT, InboxReadDto } from '../events/event-types.js';
import { EXPIRED_REASON, RESET_REASON, RETRY_MS } from './connection.js';

/*
 * The stream as the API document describes it: OpenAPI 3.2 describes a
 * `text/event-stream` response by an `itemSchema`, one item per event, with
 * its `event`, `id`, `retry` and `data` (JSON, described by `contentSchema`).
 */

@ApiSchema({ name: 'StreamReady' })
export class StreamReadyDto {
  @ApiProperty({ pattern: USER_ID_PATTERN.source, example: 'alice' })
  userId!: string;

  @ApiProperty({ description: 'this stream, unique across instances (for logs and support)', example: '3f2a9c1e-1' })
  connectionId!: string;
}

@ApiSchema({ name: 'StreamReset' })
export class StreamResetDto {
  @ApiProperty({ enum: [RESET_REASON] })
  reason!: string;
}

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
    description: "the event's id, as in the frame's `id`",
    example: '1795359170169-0',
  })
  id!: string;

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
  EventEnvelopeDto,
  InboxReadDto,
  CommentCreatedDto,
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
  'data: {"userId":"alice","connectionId":"3f2a9c1e-1"}',
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
    'The stream: `ready` at once, then what was missed since `Last-Event-ID` (or `reset`), then live events, ' +
    'each with an id that only grows. A `: ping` comment keeps it open (HEARTBEAT_MS). It ends with `expired` ' +
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
            pattern: EVENT_ID_PATTERN.source,
            description: 'sent back as `Last-Event-ID` on reconnecting',
          },
          data: { type: 'string' },
          retry: { type: 'integer', description: 'milliseconds to wait before reconnecting' },
        },
        anyOf: [
          kind(
            { const: 'ready' },
            'Sent at once.',
            'the `Last-Event-ID` sent, or else the newest event id of the user at subscribe time (`0` if none)',
            ref(StreamReadyDto),
            { retry: { const: RETRY_MS } },
          ),
          kind(
            { const: 'reset' },
            'The id sent is older than the replay window: events may have been missed. Refetch the inbox.',
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
            { type: 'string', pattern: EVENT_TYPE_PATTERN.source, not: { enum: [...RESERVED_EVENT_TYPES] } },
            'An event published to the user (POST /v1/events, the Redis ingress, or the hub itself); ' +
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
        ],
      },
    },
  } as ApiResponseOptions['content'],
};
