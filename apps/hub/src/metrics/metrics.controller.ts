import { Controller, Get, Header } from '@nestjs/common';
import { HubMetrics } from './hub-metrics.js';

@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: HubMetrics) {}

  /** Prometheus text format. */
  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
