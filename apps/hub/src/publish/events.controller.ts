import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { BearerAuthGuard, RequireScope } from '#herald/auth/guards';
import { PUBLISH_SCOPE } from '#herald/auth/principal';
import { validatePublishRequest } from '#herald/contracts/envelope';
import { FieldError } from '../errors/errors.js';
import { PreparedEvent } from '../events/stream-message.js';
import { Fanout } from '../fanout/fanout.js';

/** Where an event enters over HTTP. */
@Controller('v1/events')
export class EventsController {
  constructor(private readonly fanout: Fanout) {}

  /** 202 once the event is stored for replay: no recipient can miss it from then on. */
  @Post()
  @HttpCode(202)
  @UseGuards(BearerAuthGuard)
  @RequireScope(PUBLISH_SCOPE)
  async publish(@Body() body: unknown): Promise<{ accepted: number }> {
    const result = validatePublishRequest(body);
    if (!result.ok) throw new FieldError(result.field, result.message);
    const { recipients } = result.value;
    await this.fanout.publish(PreparedEvent.from(result.value, new Date()), recipients);
    return { accepted: recipients.length };
  }
}
