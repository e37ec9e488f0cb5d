import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HubMetrics } from './hub-metrics.js';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

@ApiTags('Operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: HubMetrics) {}

  /** Prometheus text format. */
  @Get()
  @Header('Content-Type', CONTENT_TYPE)
  @ApiOperation({
    summary: 'Prometheus metrics',
    description:
      'herald_open_streams, herald_stream_users, herald_events_published_total (by source), herald_events_delivered_total, ' +
      'herald_delivery_latency_seconds, herald_transport_up, herald_topics_followed, herald_topic_streams ' +
      '(the busiest topics), herald_topic_events_published_total.',
  })
  @ApiOkResponse({
    description: 'the Prometheus text format',
    content: { [CONTENT_TYPE]: { schema: { type: 'string' } } },
  })
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
