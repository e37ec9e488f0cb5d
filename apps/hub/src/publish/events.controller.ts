import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { BearerAuthGuard, RequireScope } from '#herald/auth/guards';
import { PUBLISH_SCOPE } from '#herald/auth/principal';
import { PUBLISH_REQUEST_SCHEMA, validatePublishRequest } from '#herald/contracts/envelope';
import { ApiBodyErrors, ApiError } from '../errors/error-response.js';
import { FieldError } from '../errors/errors.js';
import { Intake } from '../intake/intake.service.js';
import { ApiServiceToken } from '../openapi/security.js';

export class PublishAccepted {
  @ApiProperty({ type: 'integer', minimum: 1, description: 'distinct recipients the event is stored for', example: 2 })
  accepted!: number;
}

/** Where an event enters over HTTP. */
@ApiTags('Publish')
@Controller('v1/events')
export class EventsController {
  constructor(private readonly intake: Intake) {}

  /** 202 once the intake has stored the event: no recipient can miss it from then on. */
  @Post()
  @HttpCode(202)
  @UseGuards(BearerAuthGuard)
  @RequireScope(PUBLISH_SCOPE)
  @ApiOperation({
    summary: 'Publish an event to users',
    description:
      'Delivered to every open stream of each recipient, on every instance, as an event of the given type; ' +
      'a recipient who is offline gets it on reconnecting (replay), and with `persist` it is in their inbox too.',
  })
  @ApiServiceToken(PUBLISH_SCOPE)
  @ApiBody({ schema: PUBLISH_REQUEST_SCHEMA })
  @ApiBodyErrors()
  @ApiAcceptedResponse({ type: PublishAccepted, description: 'stored: from now on no recipient can miss it' })
  @ApiError(503, 'only the event store could take the event (`persist: false`), and it is unavailable', {
    retryAfter: true,
    message: 'the event store (Redis) is unavailable: Connection is closed.',
  })
  async publish(@Body() body: unknown): Promise<PublishAccepted> {
    const result = validatePublishRequest(body);
    if (!result.ok) throw new FieldError(result.field, result.message);
    await this.intake.accept(result.value, 'http');
    return { accepted: result.value.recipients.length };
  }
}
