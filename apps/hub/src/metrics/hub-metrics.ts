import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Transport } from '../transport/transport.js';

export type EventSource = 'http' | 'ingress' | 'comments';

/** How many of the busiest topics get a series of their own: a label per topic would grow without bound. */
export const BUSIEST_TOPICS = 10;

/** What the gauges of streams read when scraped (the stream registry). */
export interface StreamStats {
  /** Users with at least one stream open here. */
  readonly userCount: number;
  readonly topicCount: number;
  busiestTopics(limit: number): [topic: string, streams: number][];
}

/**
 * The hub's Prometheus metrics. Counters are bumped once per event or per
 * batch of deliveries, never per byte; gauges are read when scraped.
 */
@Injectable()
export class HubMetrics {
  readonly registry = new Registry();
  private readonly published = new Counter({
    name: 'herald_events_published_total',
    help: 'Events accepted, by where they entered',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private readonly delivered = new Counter({
    name: 'herald_events_delivered_total',
    help: 'Live events handed to open streams on this instance (one per stream)',
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'herald_delivery_latency_seconds',
    help: 'From an event being accepted to it being handed to the streams on this instance',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly topicEvents = new Counter({
    name: 'herald_topic_events_published_total',
    help: 'Events accepted that go to at least one topic',
    registers: [this.registry],
  });
  readonly openStreams = new Gauge({
    name: 'herald_open_streams',
    help: 'Streams open on this instance',
    registers: [this.registry],
  });

  constructor(transport: Transport) {
    this.gauge('herald_transport_up', 'Whether the transport (Redis, or in-process) can publish and deliver (1) or not (0)', () =>
      transport.isReady() ? 1 : 0,
    );
  }

  /** @param topicEvents how many of them go to topics. */
  eventsPublished(source: EventSource, count = 1, topicEvents = 0): void {
    this.published.inc({ source }, count);
    if (topicEvents > 0) this.topicEvents.inc(topicEvents);
  }

  /** Users with streams here, topics followed here, and the streams of the busiest ones, read from `stats` when scraped. */
  observeStreams(stats: StreamStats): void {
    this.gauge('herald_stream_users', 'Users with at least one stream open on this instance', () => stats.userCount);
    this.gauge('herald_topics_followed', 'Topics followed by at least one stream on this instance', () => stats.topicCount);
    new Gauge({
      name: 'herald_topic_streams',
      help: `Streams following each of the ${BUSIEST_TOPICS} busiest topics on this instance`,
      labelNames: ['topic'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [topic, streams] of stats.busiestTopics(BUSIEST_TOPICS)) this.set({ topic }, streams);
      },
    });
  }

  /** A gauge that reads its value when scraped. */
  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** One live event handed to `streams` streams, `ageMs` after it was accepted. */
  eventDelivered(streams: number, ageMs: number): void {
    this.delivered.inc(streams);
    this.latency.observe(Math.max(ageMs, 0) / 1000);
  }
}
