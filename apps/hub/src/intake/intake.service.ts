import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { PublishRequest } from '#herald/contracts/envelope';
import { sourcesOf } from '#herald/contracts/topic';
import { PreparedEvent } from '../events/stream-message.js';
import { EventSource, HubMetrics } from '../metrics/hub-metrics.js';
import { OutboxRelay } from '../outbox/outbox.relay.js';
import { HubConfig } from '../config/config.js';
import type { IngressReceipt, PublishOptions } from '../transport/transport.js';
import { Transport } from '../transport/transport.js';
import { PersistedEvent, PersistedEventStore } from './persisted-event.store.js';

/**
 * Where every published event is taken in, whichever way it came (HTTP, the
 * Redis ingress, a comment), and the one place that decides how it travels:
 * persisted (notification, inbox items and outbox entry in one transaction;
 * the outbox relay delivers it after the commit) or live (straight to the
 * transport, which stores it for replay and delivers it). Topics have no
 * inbox: an event to topics only travels live, whatever its `persist`.
 */
@Injectable()
export class Intake {
  constructor(
    private readonly store: PersistedEventStore,
    private readonly transport: Transport,
    private readonly relay: OutboxRelay,
    private readonly metrics: HubMetrics,
    private readonly config: HubConfig,
  ) {}

  /**
   * Resolves once the event is stored: from then on no recipient can miss it.
   * @param origin.receipt the ingress entry it came from: settled once the
   *   event is stored, and the event is stored once however often the entry
   *   is offered.
   * @param origin.publication names the publication (a publisher's
   *   Idempotency-Key): offered again, it reaches no one a second time
   *   (persisted: for as long as it is stored; live: for IDEMPOTENCY_WINDOW_MS).
   */
  async accept(
    request: PublishRequest,
    source: EventSource,
    { receipt, publication }: { receipt?: IngressReceipt; publication?: string } = {},
  ): Promise<void> {
    if (isPersisted(request)) {
      const stored = await this.store.persist({ ...request, sourceKey: receipt ? `ingress:${receipt.entryId}` : publication });
      if (stored) this.relay.committed();
      await receipt?.ack();
    } else {
      await this.transport.publish(PreparedEvent.from(request, new Date()), sourcesOf(request), { receipt, ...this.dedupe(publication) });
    }
    this.metrics.eventsPublished(source, 1, request.topics.length > 0 ? 1 : 0);
  }

  private dedupe(publication: string | undefined): PublishOptions {
    return publication === undefined ? {} : { dedupeKey: publication, dedupeWindowMs: this.config.idempotencyWindowMs };
  }

  /**
   * A batch, taken in as if its events were published one after another at
   * this moment: each recipient gets them in batch order among those with the
   * same `persist` (persisted ones are delivered after their commit, live ones
   * at once). The persisted ones commit in one transaction, whole or not at
   * all. Resolves once every event is stored.
   */
  async acceptAll(requests: readonly PublishRequest[], source: EventSource, publication?: string): Promise<void> {
    // Each event of a named batch is named by its place in it.
    const named = requests.map((request, i) => ({ request, publication: publication && `${publication}#${i}` }));
    const persisted = named.filter(({ request }) => isPersisted(request)).map(({ request, publication }) => ({ ...request, sourceKey: publication }));
    const createdAt = new Date();
    // Handed to the transport in batch order, before any is awaited: a
    // recipient's events are stored in that order.
    const stored = named
      .filter(({ request }) => !isPersisted(request))
      .map(({ request, publication }) =>
        this.transport.publish(PreparedEvent.from(request, createdAt), sourcesOf(request), this.dedupe(publication)),
      );
    if (persisted.length > 0) stored.push(this.store.persistAll(persisted).then(() => this.relay.committed()));
    await Promise.all(stored);
    this.metrics.eventsPublished(source, requests.length, requests.filter((request) => request.topics.length > 0).length);
  }

  /**
   * Adds a persisted event inside the caller's transaction, so that it
   * commits with the caller's own data (a comment and its notification).
   * Call `committed` once the transaction has.
   */
  addPersisted(manager: EntityManager, event: PersistedEvent): Promise<void> {
    return this.store.add(manager, event);
  }

  /**
   * After a transaction with `addPersisted` committed: `events` of them were
   * added, `topicEvents` of those to topics only (so with no inbox items).
   */
  committed(source: EventSource, events: number, topicEvents = 0): void {
    if (events > 0) this.metrics.eventsPublished(source, events, topicEvents);
    this.relay.committed(events > topicEvents);
  }
}

/** Persisted: stored in the recipients' inboxes, so only with recipients. */
function isPersisted(request: PublishRequest): boolean {
  return request.persist && request.recipients.length > 0;
}
