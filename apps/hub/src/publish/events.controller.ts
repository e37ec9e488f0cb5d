import { applyDecorators, Body, Controller, Headers, HttpCode, Post, UseGuards } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { ApiAcceptedResponse, ApiBody, ApiHeader, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { BearerAuthGuard, CurrentPrincipal, RequireScope } from '#herald/auth/guards';
import { PUBLISH_SCOPE, type Principal } from '#herald/auth/principal';
import {
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  PUBLISH_BATCH_SCHEMA,
  PUBLISH_REQUEST_SCHEMA,
  validatePublishBatch,
  validatePublishRequest,
  type PublishRequest,
} from '#herald/contracts/envelope';
import { ApiBodyErrors, ApiError } from '../errors/error-response.js';
import { FieldError } from '../errors/errors.js';
import { Intake } from '../intake/intake.service.js';
import { ApiServiceToken } from '../openapi/security.js';
import { TopicAccess } from '../topics/topic-access.js';

export class PublishAccepted {
  @ApiProperty({ type: 'integer', minimum: 0, description: 'distinct recipients the event is stored for', example: 2 })
  accepted!: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, description: 'distinct topics it is stored for, when it has topics', example: 1 })
  topics?: number;
}

export class BatchAccepted {
  @ApiProperty({ type: 'integer', minimum: 1, description: 'events taken in', example: 2 })
  events!: number;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'distinct recipients summed over the events', example: 3 })
  accepted!: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, description: 'distinct topics summed over the events, when any has topics' })
  topics?: number;
}

/** `{accepted}`, and `topics` only for events that have some: the answer stays as it was for those to users only. */
function counted(events: readonly PublishRequest[]): { accepted: number; topics?: number } {
  const accepted = events.reduce((sum, event) => sum + event.recipients.length, 0);
  const topics = events.reduce((sum, event) => sum + event.topics.length, 0);
  return topics === 0 ? { accepted } : { accepted, topics };
}

export const BATCH_PATH = '/v1/events/batch';

const IDEMPOTENCY_HEADER = 'idempotency-key';
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * What both ways to publish share: 202 once stored, a service token with the
 * publish scope, and the optional Idempotency-Key header, as the API document
 * shows them.
 */
const PublishRoute = () =>
  applyDecorators(
    HttpCode(202),
    UseGuards(BearerAuthGuard),
    RequireScope(PUBLISH_SCOPE),
    ApiServiceToken(PUBLISH_SCOPE),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'names this publication: offered again with the same key by the same service, it is answered alike and ' +
        'reaches no one a second time (persisted events: for as long as they are stored; live ones: for ' +
        'IDEMPOTENCY_WINDOW_MS). 1-255 visible ASCII characters; anything else is a 400 naming Idempotency-Key.',
      schema: { type: 'string', pattern: IDEMPOTENCY_KEY.source },
    }),
  );

/**
 * The name a publication is stored under: the publishing service and its
 * Idempotency-Key, hashed to a fixed length (a source key column has room for
 * it whatever the two are), so the same key from two services never clashes.
 * @throws FieldError when the header is not 1-255 visible ASCII characters.
 */
function publicationOf(service: Principal, key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) throw new FieldError('Idempotency-Key', 'must be 1-255 visible ASCII characters');
  return `http:${createHash('sha256').update(`${service.sub}\n${key}`).digest('base64url')}`;
}

/** Where an event enters over HTTP. */
@ApiTags('Publish')
@Controller('v1/events')
export class EventsController {
  constructor(
    private readonly intake: Intake,
    private readonly access: TopicAccess,
  ) {}

  /** 202 once the intake has stored the event: no recipient can miss it from then on. */
  @Post()
  @PublishRoute()
  @ApiOperation({
    summary: 'Publish an event to users and topics',
    description:
      'Delivered to every open stream of each recipient and every stream following one of its topics, on every ' +
      'instance, as an event of the given type; a recipient who is offline gets it on reconnecting (replay), and ' +
      'with `persist` it is in their inbox too. A service token with a `topics` claim publishes only to topics it admits.',
  })
  @ApiBody({ schema: PUBLISH_REQUEST_SCHEMA })
  @ApiBodyErrors()
  @ApiAcceptedResponse({ type: PublishAccepted, description: 'stored: from now on no recipient can miss it' })
  @ApiError(503, 'only the event store could take the event (`persist: false`), and it is unavailable; or, with REDIS_WAIT_REPLICAS, its replicas did not confirm it in time (it may have been stored: retry with the same Idempotency-Key)', {
    retryAfter: true,
    message: 'the event store (Redis) is unavailable: Connection is closed.',
  })
  async publish(
    @Body() body: unknown,
    @Headers(IDEMPOTENCY_HEADER) key: string | undefined,
    @CurrentPrincipal() service: Principal,
  ): Promise<PublishAccepted> {
    const result = validatePublishRequest(body);
    if (!result.ok) throw new FieldError(result.field, result.message);
    this.access.checkPublish(service, result.value.topics, 'topics');
    await this.intake.accept(result.value, 'http', { publication: publicationOf(service, key) });
    return counted([result.value]);
  }

  /** Many events in one request: what a request costs the hub is paid once for them all. */
  @Post('batch')
  @PublishRoute()
  @ApiOperation({
    summary: 'Publish many events in one request',
    description:
      `Up to ${MAX_BATCH_EVENTS} events (body up to ${MAX_BATCH_BYTES} bytes), each as the body of POST /v1/events. ` +
      'All or nothing: one invalid event refuses the batch, naming it (`events[3].type`). Each recipient gets the ' +
      'events in batch order among those with the same `persist`; the persisted ones commit in one transaction.',
  })
  @ApiBody({ schema: PUBLISH_BATCH_SCHEMA })
  @ApiBodyErrors(MAX_BATCH_BYTES)
  @ApiAcceptedResponse({ type: BatchAccepted, description: 'every event stored: from now on no recipient can miss them' })
  @ApiError(503, 'a `persist: false` event could not be stored, as the event store is unavailable (or, with REDIS_WAIT_REPLICAS, its replicas did not confirm it in time); the others may have been', {
    retryAfter: true,
    message: 'the event store (Redis) is unavailable: Connection is closed.',
  })
  async publishBatch(
    @Body() body: unknown,
    @Headers(IDEMPOTENCY_HEADER) key: string | undefined,
    @CurrentPrincipal() service: Principal,
  ): Promise<BatchAccepted> {
    const result = validatePublishBatch(body);
    if (!result.ok) throw new FieldError(result.field, result.message);
    result.value.forEach((event, i) => this.access.checkPublish(service, event.topics, `events[${i}].topics`));
    await this.intake.acceptAll(result.value, 'http', publicationOf(service, key));
    return { events: result.value.length, ...counted(result.value) };
  }
}
