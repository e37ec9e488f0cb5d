import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_ENVELOPE_BYTES, validatePublishBatch, validatePublishRequest } from '@herald/contracts/envelope';
import { EventMap, PublishInput, PublishRejected, validated } from './publisher.js';

export interface HttpPublisherOptions {
  /** The hub's base URL, e.g. `http://herald:3000`. */
  url: string;
  /** A service token: a JWT whose scope holds `events:publish`. */
  token: string;
  /** Attempts after the first one, on a network error or a 5xx (default 4). */
  retries?: number;
  /** Wait before the first retry, doubled each time (default 200 ms); a Retry-After is honoured up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** For tests and instrumentation; the platform's fetch by default. */
  fetch?: typeof fetch;
}

export interface PublishOptions {
  /** Names the publication; one is made up when absent, so that this call's own retries never deliver twice. */
  idempotencyKey?: string;
}

/** The hub refused the request (a 4xx other than a retryable one), or every attempt failed. */
export class PublishFailed extends Error {
  constructor(
    message: string,
    /** The last answer's status; undefined when the hub was never reached. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PublishFailed';
  }
}

/**
 * Publishes over HTTP (`POST /v1/events`, `POST /v1/events/batch`) from any
 * Node service. The request is validated here first, as the hub would; each
 * call carries an Idempotency-Key, so a retry after a network error, a
 * timeout or a 5xx reaches every recipient once.
 */
export class HeraldHttpPublisher<Events extends object = EventMap> {
  private readonly fetch: typeof fetch;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: HttpPublisherOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  /** @returns how many distinct recipients the event was stored for. @throws PublishRejected, PublishFailed. */
  async publish(input: PublishInput<Events>, options: PublishOptions = {}): Promise<number> {
    const body = validated(validatePublishRequest(input), MAX_ENVELOPE_BYTES);
    const answer = await this.post('/v1/events', body, options);
    return (answer as { accepted: number }).accepted;
  }

  /** Up to 500 events in one request, stored all or none. @returns `{events, accepted}`. @throws PublishRejected, PublishFailed. */
  async publishBatch(inputs: PublishInput<Events>[], options: PublishOptions = {}): Promise<{ events: number; accepted: number }> {
    const events = validated(validatePublishBatch({ events: inputs }));
    const answer = await this.post('/v1/events/batch', { events }, options);
    return answer as { events: number; accepted: number };
  }

  private async post(path: string, body: unknown, options: PublishOptions): Promise<unknown> {
    const key = options.idempotencyKey ?? randomUUID();
    const init: RequestInit = {
      method: 'POST',
      headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    };
    let wait = this.backoffMs;
    let last = '';
    let status: number | undefined;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(wait);
      let response: Response;
      try {
        response = await this.fetch(new URL(path, this.options.url), init);
      } catch (err) {
        last = `network error: ${(err as Error).message}`;
        wait = Math.min(wait * 2, this.maxBackoffMs);
        continue;
      }
      status = response.status;
      const answer = (await response.json().catch(() => ({}))) as { message?: string; field?: string };
      if (response.ok) return answer;
      if (response.status < 500) {
        if (answer.field) throw new PublishRejected(answer.field, answer.message ?? `refused with ${response.status}`);
        throw new PublishFailed(answer.message ?? `refused with ${response.status}`, response.status);
      }
      last = `${response.status}: ${answer.message ?? ''}`;
      const retryAfter = Number(response.headers.get('retry-after'));
      wait = Math.min(retryAfter > 0 ? retryAfter * 1000 : wait * 2, this.maxBackoffMs);
    }
    throw new PublishFailed(`publish failed after ${this.retries + 1} attempts; last: ${last}`, status);
  }
}
