import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { BearerAuthGuard, RequireScope } from '#herald/auth/guards';
import { PUBLISH_SCOPE } from '#herald/auth/principal';
import { validatePublishRequest } from '#herald/contracts/envelope';
import { FieldError } from '../errors/errors.js';
import { PreparedEvent } from '../events/stream-message.js';
import { Fanout } from '../fanout/fanout.js';
import { InboxStore } from '../inbox/inbox.store.js';
import { HubMetrics } from '../metrics/hub-metrics.js';

/** Where an event enters over HTTP. */
@Controller('v1/events')
export class EventsController {
  constructor(
    private readonly fanout: Fanout,
    private readonly inbox: InboxStore,
    private readonly metrics: HubMetrics,
  ) {}

  /**
   * 202 once the event is stored: a persisted event in the database with its
   * inbox items and outbox entry (the relay delivers it), any other in the
   * replay log. No recipient can miss it from then on.
   */
  @Post()
  @HttpCode(202)
  @UseGuards(BearerAuthGuard)
  @RequireScope(PUBLISH_SCOPE)
  async publish(@Body() body: unknown): Promise<{ accepted: number }> {
    const result = validatePublishRequest(body);
    if (!result.ok) throw new FieldError(result.field, result.message);
    const { recipients, persist } = result.value;
    if (persist) await this.inbox.persist(result.value);
    else await this.fanout.publish(PreparedEvent.from(result.value, new Date()), recipients);
    this.metrics.eventsPublished('http');
    return { accepted: recipients.length };
  }
}
