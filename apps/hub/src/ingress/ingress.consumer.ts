import { Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { MAX_ENVELOPE_BYTES, validatePublishRequest } from '#herald/contracts/envelope';
import { isDatabaseUnavailable } from '../database/database-unavailable.js';
import { UnavailableError } from '../errors/errors.js';
import { Intake } from '../intake/intake.service.js';
import { EntryDeferred, IngressEntry, IngressSource } from '../transport/ingress-source.js';

/** An entry that failed this many times is dead-lettered rather than retried forever. */
const MAX_DELIVERIES = 5;

/**
 * Where events enter from the ingress (Redis: `XADD herald:ingress * envelope
 * '<json>'`): each entry's envelope is checked as an HTTP body would be and
 * handed to the intake; one that is not a valid event, or that failed again
 * and again, is dead-lettered with the reason. An outage of the database or
 * of Redis is no fault of the entry: it is deferred, to be retried in place.
 */
@Injectable()
export class IngressConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly source: IngressSource,
    private readonly intake: Intake,
  ) {}

  onApplicationBootstrap(): void {
    this.source.start((entry) => this.handle(entry));
  }

  onModuleDestroy(): Promise<void> {
    return this.source.stop();
  }

  private async handle(entry: IngressEntry): Promise<void> {
    const { envelope: raw } = entry;
    if (raw === undefined) return this.source.deadLetter(entry, 'envelope: missing (XADD … envelope <json>)');
    // The same bound as an HTTP body: an event must not cost more here than there.
    if (Buffer.byteLength(raw) > MAX_ENVELOPE_BYTES) {
      return this.source.deadLetter(entry, `envelope: larger than ${MAX_ENVELOPE_BYTES} bytes`);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return this.source.deadLetter(entry, 'envelope: is not valid JSON');
    }
    const result = validatePublishRequest(body);
    if (!result.ok) return this.source.deadLetter(entry, `${result.field}: ${result.message}`);
    if (entry.deliveries > MAX_DELIVERIES) {
      return this.source.deadLetter(entry, `failed ${entry.deliveries - 1} times; last attempt abandoned`);
    }
    try {
      await this.intake.accept(result.value, 'ingress', { receipt: entry.receipt });
    } catch (err) {
      if (err instanceof UnavailableError || isDatabaseUnavailable(err)) throw new EntryDeferred(err);
      throw err;
    }
  }
}
