// The publishers, each a sequential worker at a steady rate:
// - `http-*`: one event per request through `HeraldHttpPublisher` (the
//   package the docs recommend), persisted or live at random, with an
//   Idempotency-Key per event, retried under that key until acknowledged (a
//   202) or the run's deadline;
// - `batch-*`: `POST /v1/events/batch`, 2–6 events, persisted and live mixed,
//   one key per batch, retried likewise;
// - `ingress-*`: `HeraldIngressPublisher` (an XADD to `herald:ingress`), persisted
//   and live; acknowledged by the entry id Redis answers. An XADD that was
//   never sent (Redis down: ioredis's offline queue is off) is tried again;
//   one whose answer was lost (the connection dropped after sending) is not,
//   as an ingress entry has no idempotency key: it counts as unacknowledged;
// - `comments`: comments on posts (`POST /v1/posts/{id}/comments`), whose
//   `comment.created` notifications go to the post's author and earlier
//   commenters; acknowledged by the 201. A comment has no idempotency key
//   either: a 5xx answer (nothing committed) is retried, a lost answer makes
//   it unacknowledged. Who was notified is worked out at the end from the
//   posts as stored (`GET /v1/posts/{id}`);
// - `flood`: while a tab is stalled, 32 KiB live events to its user (in
//   batches of 8), until the hub drops the stream for having 1 MiB waiting
//   for it, or for 8 s at most.
// Every event carries `{p, q}` (publisher, number) in its data, a comment
// `[p:q]` at the start of its text (so of its excerpt).
import { HeraldHttpPublisher, HeraldIngressPublisher, PublishFailed, PublishRejected } from '@herald/publisher';
import { Redis } from 'ioredis';
import { now, sleep } from './util.mjs';

const REQUEST_TIMEOUT_MS = 10_000;
const timedFetch = (input, init = {}) => fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

class Worker {
  constructor({ name, kind, ledger, rng, users, ratePerSec, log }) {
    this.name = name;
    this.kind = kind;
    this.ledger = ledger;
    this.rng = rng;
    this.users = users;
    this.interval = 1000 / ratePerSec;
    this.log = log;
    this.q = 0;
    this.running = false;
    this.giveUpAt = Infinity;
    this.failedAttempts = 0;
    this.errors = {};
  }

  start() {
    this.running = true;
    this.done = this.loop().catch((err) => {
      this.log(`${this.name} stopped on an error: ${err.stack ?? err}`);
    });
  }

  /** No new events; what is under way is retried until `giveUpAt`. */
  stop(giveUpAt) {
    this.running = false;
    this.giveUpAt = giveUpAt;
    return this.done;
  }

  count(what) {
    this.errors[what] = (this.errors[what] ?? 0) + 1;
  }

  recipients() {
    return this.rng.sample(this.users, this.rng.int(1, 3));
  }

  async pace() {
    await sleep(this.interval * this.rng.between(0.5, 1.5));
  }

  async loop() {
    while (this.running) {
      await this.publishOne();
      await this.pace();
    }
  }

  /** Calls `attempt` until it succeeds, is refused (4xx), or the deadline passes. */
  async untilAcknowledged(events, attempt) {
    for (;;) {
      for (const event of events) event.attempts++;
      try {
        await attempt();
        const at = now();
        for (const event of events) this.ledger.ack(event, at);
        return true;
      } catch (err) {
        if (err instanceof PublishRejected || (err instanceof PublishFailed && err.status !== undefined && err.status < 500)) {
          this.count(`refused ${err.status ?? err.field}`);
          for (const event of events) this.ledger.reject(event, err.message);
          this.log(`${this.name}: ${events[0].key} refused: ${err.message}`);
          return false;
        }
        this.failedAttempts++;
        this.count(err instanceof PublishFailed ? `failed ${err.status ?? 'network'}` : err.name ?? 'error');
        if (Date.now() > this.giveUpAt) {
          for (const event of events) this.ledger.abandon(event, `not acknowledged before the end: ${err.message}`);
          return false;
        }
        await sleep(300);
      }
    }
  }
}

function httpPublisher(base, token) {
  return new HeraldHttpPublisher({ url: base, token, retries: 3, backoffMs: 200, maxBackoffMs: 2000, fetch: timedFetch });
}

export class HttpSingle extends Worker {
  constructor(options) {
    super({ ...options, kind: 'http' });
    this.publisher = httpPublisher(options.base, options.token);
    this.runId = options.runId;
  }

  async publishOne() {
    const q = ++this.q;
    const recipients = this.recipients();
    const persist = this.rng.chance(0.5);
    const event = this.ledger.add({ kind: this.kind, pub: this.name, q, persist, recipients });
    const key = `${this.runId}-${this.name}-${q}`;
    await this.untilAcknowledged([event], () =>
      this.publisher.publish({ type: 'chaos.http', recipients, data: { p: this.name, q }, persist }, { idempotencyKey: key }),
    );
  }
}

export class HttpBatch extends Worker {
  constructor(options) {
    super({ ...options, kind: 'batch' });
    this.publisher = httpPublisher(options.base, options.token);
    this.runId = options.runId;
    this.batches = 0;
  }

  async publishOne() {
    const batch = ++this.batches;
    const size = this.rng.int(2, 6);
    const events = [];
    const inputs = [];
    for (let i = 0; i < size; i++) {
      const q = ++this.q;
      const recipients = this.recipients();
      const persist = this.rng.chance(0.5);
      events.push(this.ledger.add({ kind: this.kind, pub: this.name, q, persist, recipients, batch }));
      inputs.push({ type: 'chaos.batch', recipients, data: { p: this.name, q }, persist });
    }
    const key = `${this.runId}-${this.name}-b${batch}`;
    await this.untilAcknowledged(events, () => this.publisher.publishBatch(inputs, { idempotencyKey: key }));
  }
}

export class Ingress extends Worker {
  constructor(options) {
    super({ ...options, kind: 'ingress' });
    this.redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 300,
      lazyConnect: false,
    });
    this.redis.on('error', () => undefined);
    this.publisher = new HeraldIngressPublisher(this.redis);
    this.ambiguous = 0;
  }

  async publishOne() {
    const q = ++this.q;
    const recipients = this.recipients();
    const persist = this.rng.chance(0.5);
    const event = this.ledger.add({ kind: this.kind, pub: this.name, q, persist, recipients });
    for (;;) {
      event.attempts++;
      try {
        event.entryId = await this.publisher.publish({ type: 'chaos.ingress', recipients, data: { p: this.name, q }, persist });
        this.ledger.ack(event);
        return;
      } catch (err) {
        this.failedAttempts++;
        const message = String(err.message);
        if (/isn't writeable|enableOfflineQueue/.test(message)) {
          // Never sent: not connected. Safe to try the same event again.
          this.count('not connected');
          if (Date.now() > this.giveUpAt) return this.ledger.abandon(event, 'Redis away until the end');
          await sleep(300);
          continue;
        }
        // Sent, answer lost: it may be in the stream or not. No second XADD (that could add it twice).
        this.count('answer lost');
        this.ambiguous++;
        return this.ledger.abandon(event, `XADD outcome unknown: ${message}`);
      }
    }
  }

  async stop(giveUpAt) {
    await super.stop(giveUpAt);
    this.redis.disconnect();
  }
}

export class Comments extends Worker {
  constructor(options) {
    super({ ...options, kind: 'comment' });
    this.base = options.base;
    this.tokens = options.tokens;
    /** Posts used, by id: {id, authorId, comments}. */
    this.posts = new Map();
    this.post = null;
    this.ambiguous = 0;
    this.perPost = 6;
  }

  async request(method, path, user, body) {
    const response = await timedFetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.tokens.get(user)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: response.status, body: json };
  }

  /** A new post by a random user (a post made twice, its answer lost, costs nothing: only posts with comments count). */
  async newPost() {
    const author = this.rng.pick(this.users);
    for (;;) {
      try {
        const { status, body } = await this.request('POST', '/v1/posts', author, { title: `chaos post by ${author}`, body: 'what do you think?' });
        if (status === 201) {
          const post = { id: String(body.id), authorId: body.authorId, comments: 0 };
          this.posts.set(post.id, post);
          return post;
        }
        this.count(`post ${status}`);
      } catch {
        this.count('post network');
      }
      if (Date.now() > this.giveUpAt) return null;
      await sleep(300);
    }
  }

  async publishOne() {
    if (!this.post || this.post.comments >= this.perPost) this.post = await this.newPost();
    const post = this.post;
    if (!post) return;
    const author = this.rng.pick(this.users);
    const q = ++this.q;
    const event = this.ledger.add({ kind: this.kind, pub: this.name, q, persist: true, recipients: null });
    event.postId = post.id;
    event.author = author;
    post.comments++;
    for (;;) {
      event.attempts++;
      let answer;
      try {
        answer = await this.request('POST', `/v1/posts/${post.id}/comments`, author, { body: `[${this.name}:${q}] a comment by ${author}` });
      } catch (err) {
        this.failedAttempts++;
        this.count('answer lost');
        this.ambiguous++;
        return this.ledger.abandon(event, `comment outcome unknown: ${err.message}`);
      }
      if (answer.status === 201) {
        event.commentId = String(answer.body.id);
        return this.ledger.ack(event);
      }
      this.failedAttempts++;
      this.count(`comment ${answer.status}`);
      if (answer.status < 500) return this.ledger.reject(event, `comment refused: ${answer.status} ${JSON.stringify(answer.body)}`);
      if (Date.now() > this.giveUpAt) return this.ledger.abandon(event, `not acknowledged before the end: ${answer.status}`);
      await sleep(300);
    }
  }

  /**
   * Who each comment notified, from the posts as stored: the post's author
   * and every earlier distinct commenter, never the commenter. Comments whose
   * answer was lost but that were stored are found here too.
   */
  async resolveRecipients(fetchPost) {
    const problems = [];
    for (const post of this.posts.values()) {
      const stored = await fetchPost(post);
      if (!stored) {
        problems.push(`post ${post.id} could not be read`);
        continue;
      }
      const earlier = new Set();
      const byKey = new Map();
      for (const comment of stored.comments) {
        const match = /^\[([A-Za-z0-9_.-]+:\d+)\]/.exec(comment.body);
        const recipients = [...new Set([stored.authorId, ...earlier])].filter((u) => u !== comment.authorId);
        earlier.add(comment.authorId);
        if (!match) continue;
        if (byKey.has(match[1])) problems.push(`comment ${match[1]} stored twice on post ${post.id}`);
        byKey.set(match[1], { comment, recipients });
      }
      for (const event of this.ledger.all()) {
        if (event.kind !== 'comment' || event.postId !== post.id) continue;
        const found = byKey.get(event.key);
        if (found) {
          event.recipients = found.recipients;
          event.stored = true;
        } else {
          event.recipients = [];
          event.stored = false;
          if (event.status === 'acked') problems.push(`comment ${event.key} was answered 201 but is not on post ${post.id}`);
        }
      }
    }
    return problems;
  }
}

export class Flood extends Worker {
  constructor(options) {
    super({ ...options, kind: 'flood' });
    this.publisher = httpPublisher(options.base, options.token);
    this.runId = options.runId;
    this.pad = 'x'.repeat(32 * 1024);
    this.bursts = 0;
    this.batches = 0;
  }

  /** Live 32 KiB events to `user` for `ms` or until `enough()`, in batches of 8 at the worker's rate (batches a second). */
  async burst(user, ms, signal, enough = () => false) {
    this.bursts++;
    const until = Date.now() + ms;
    while (Date.now() < until && !signal?.aborted && !enough()) {
      const batch = ++this.batches;
      const events = [];
      const inputs = [];
      for (let i = 0; i < 8; i++) {
        const q = ++this.q;
        events.push(this.ledger.add({ kind: this.kind, pub: this.name, q, persist: false, recipients: [user], batch }));
        inputs.push({ type: 'chaos.flood', recipients: [user], data: { p: this.name, q, pad: this.pad }, persist: false });
      }
      const key = `${this.runId}-${this.name}-b${batch}`;
      await this.untilAcknowledged(events, () => this.publisher.publishBatch(inputs, { idempotencyKey: key }));
      await sleep(this.interval, signal);
    }
  }

  start() {}

  async stop(giveUpAt) {
    this.giveUpAt = giveUpAt;
  }
}
