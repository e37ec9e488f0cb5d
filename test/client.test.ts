/**
 * `@herald/client` (libs/client/client.ts) against real hubs: the `eventsource`
 * package's EventSource and Node's fetch, as a Node app would use it, and the
 * compiled bundle in Chromium from a `<script type="module">`, as a page would.
 * Typed events once, handlers added late, tickets (never the token) in stream
 * URLs, topics and `setTopics`, reconnects that lose nothing (a stream's
 * maximum age, a token's expiry, a hub restarted on its port with Redis),
 * back-off while opens are refused, the inbox helpers, and `transport:
 * 'fetch'`, which reports every frame (heartbeats, types nobody listens to).
 */
import { EventSource } from 'eventsource';
import jwt from 'jsonwebtoken';
import { Redis } from 'ioredis';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  type ConnectionState,
  type EventEnvelope,
  type EventSourceClass,
  type FetchLike,
  HeraldClient,
  type HeraldClientOptions,
  HeraldError,
  type StreamFrame,
  type TokenRequest,
} from '@herald/client';
import { publish } from './support/http.js';
import { startHub, TEST_SECRET, type TestHub } from './support/hub.js';
import { type HubProcess, lowPort, type RedisServer, startHubProcess, startRedis } from './support/processes.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The events these tests publish, as an app declares its own. */
interface TestEvents {
  'test.note': { n: number };
  'test.later': { n: number };
  'test.topic': { n: number };
}

/** A user token whose `topics` claim admits `post:*`; `expiresIn` in seconds. */
const tokenFor = (user: string, expiresIn = 3600, secret = TEST_SECRET) =>
  jwt.sign({ sub: user, topics: ['post:*'] }, secret, { algorithm: 'HS256', expiresIn });

/** What a client's EventSource and fetch did, seen from outside. */
interface Traffic {
  /** Every stream URL opened. */
  streams: string[];
  /** Every request the client made: method, URL, its Authorization header, when. */
  requests: { method: string; url: string; authorization: string | undefined; at: number }[];
  /** Every call of `token`. */
  tokenCalls: TokenRequest[];
}

/** Recorded from a client's own events. */
interface Seen {
  states: ConnectionState[];
  errors: HeraldError[];
  ready: { resumed: boolean; topics: string[] }[];
  expired: number;
  resets: { topic?: string }[];
}

const clients: HeraldClient<any>[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

/**
 * A client on `url` with `eventsource`'s class and Node's fetch, both
 * wrapped to record what the client does; `token` defaults to a fresh
 * one-hour token for `user` at every call.
 */
function clientFor(url: string, user: string, options: Partial<HeraldClientOptions> = {}) {
  const traffic: Traffic = { streams: [], requests: [], tokenCalls: [] };
  class RecordingEventSource extends EventSource {
    constructor(streamUrl: string) {
      traffic.streams.push(streamUrl);
      super(streamUrl);
    }
  }
  const recordingFetch: FetchLike = (requestUrl, init) => {
    traffic.requests.push({ method: init.method, url: requestUrl, authorization: init.headers.authorization, at: Date.now() });
    return fetch(requestUrl, init);
  };
  const token = options.token ?? (() => tokenFor(user));
  const client = new HeraldClient<TestEvents>({
    url,
    EventSource: RecordingEventSource as EventSourceClass,
    fetch: recordingFetch,
    ...options,
    token: (request) => {
      traffic.tokenCalls.push(request);
      return token(request);
    },
  });
  clients.push(client);
  const seen: Seen = { states: [], errors: [], ready: [], expired: 0, resets: [] };
  client.on('state', (state) => seen.states.push(state));
  client.on('error', (error) => seen.errors.push(error));
  client.on('ready', ({ resumed, topics }) => seen.ready.push({ resumed, topics }));
  client.on('expired', () => seen.expired++);
  client.on('reset', (info) => seen.resets.push(info));
  return { client, traffic, seen };
}

/** Collects the data of one event type, with envelopes. */
function collect<K extends keyof TestEvents>(client: HeraldClient<TestEvents>, type: K) {
  const got: { data: TestEvents[K]; envelope: EventEnvelope<TestEvents[K], K> }[] = [];
  client.on(type, (data, envelope) => got.push({ data, envelope }));
  return got;
}

const numbers = (got: { data: { n: number } }[]) => got.map((g) => g.data.n);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function live(client: HeraldClient<any>, timeoutMs = 10_000): Promise<void> {
  await waitFor(`the client to be live (state ${client.state})`, () => client.state === 'live', timeoutMs);
}

async function published(target: { url: string }, body: unknown): Promise<void> {
  const response = await publish(target, body);
  if (response.status !== 202) throw new Error(`publish answered ${response.status}: ${await response.text()}`);
}

/** The ticket in a stream URL (and that nothing else in it is a credential). */
function credentialsIn(streamUrl: string) {
  const query = new URL(streamUrl).searchParams;
  return { ticket: query.get('ticket'), accessToken: query.get('access_token'), lastEventId: query.get('lastEventId'), topics: query.getAll('topic') };
}

// ---------------------------------------------------------------------------

describe('@herald/client against a hub', () => {
  let hub: TestHub;
  beforeAll(async () => {
    // Heartbeats often, for the frames of transport: 'fetch'.
    hub = await startHub({ HEARTBEAT_MS: '100' });
  });
  afterAll(() => hub.close());

  it('delivers events typed, each once, to handlers added before and after connect', async () => {
    const user = newUser('alice');
    const { client, seen } = clientFor(hub.url, user);
    const notes = collect(client, 'test.note');
    client.connect();
    expect(client.state).toBe('connecting');
    await live(client);
    expect(client.connectionId).toEqual(expect.any(String));

    await published(hub, { type: 'test.note', recipients: [user], data: { n: 1 } });
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 2 }, persist: false });
    // Registered while the stream is open: its EventSource gets a listener at once.
    const later = collect(client, 'test.later');
    await published(hub, { type: 'test.later', recipients: [user], data: { n: 3 } });
    await waitFor('three events', () => notes.length + later.length === 3);
    await sleep(300);

    expect(numbers(notes)).toEqual([1, 2]);
    expect(numbers(later)).toEqual([3]);
    expect(notes[0].envelope).toEqual({
      id: expect.any(String),
      type: 'test.note',
      data: { n: 1 },
      createdAt: expect.any(String),
      notificationId: expect.any(String),
    });
    expect(notes[1].envelope.notificationId).toBeUndefined();
    expect(client.lastEventId).toBe(later[0].envelope.id);
    expect(seen.states).toEqual(['connecting', 'live']);
    expect(seen.ready).toEqual([{ resumed: false, topics: [] }]);
    expect(seen.errors).toEqual([]);

    client.close();
    expect([client.state, client.connectionId, seen.states.at(-1)]).toEqual(['closed', undefined, 'closed']);
  });

  it('reports a handler that throws as an error event, and goes on delivering', async () => {
    const user = newUser('bob');
    const { client, seen } = clientFor(hub.url, user);
    const unsubscribe = client.on('test.note', () => {
      throw new Error('boom');
    });
    const notes = collect(client, 'test.note');
    client.connect();
    await live(client);
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 1 } });
    await waitFor('the event', () => notes.length === 1);
    expect(seen.errors.map((e) => e.message)).toEqual(['a handler threw: boom']);

    unsubscribe();
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 2 } });
    await waitFor('the second event', () => notes.length === 2);
    expect(seen.errors).toHaveLength(1);
    expect(client.state).toBe('live');
  });

  it('opens streams with a ticket from POST /v1/stream-tickets: the token is only ever in an Authorization header', async () => {
    const user = newUser('carol');
    const token = tokenFor(user);
    const { client, traffic } = clientFor(hub.url, user, { token: () => token });
    client.connect();
    await live(client);

    expect(traffic.streams).toHaveLength(1);
    expect(traffic.streams[0]).not.toContain(token);
    expect(credentialsIn(traffic.streams[0])).toEqual({ ticket: expect.any(String), accessToken: null, lastEventId: null, topics: [] });
    expect(traffic.requests).toEqual([
      { method: 'POST', url: `${hub.url}/v1/stream-tickets`, authorization: `Bearer ${token}`, at: expect.any(Number) },
    ]);
    // The hub's own log never had the token either (it redacts tickets anyway).
    expect(hub.logs.lines.filter((line) => line.includes(token))).toEqual([]);
  });

  describe('topics', () => {
    it('follows its topics from the start, and setTopics switches them on the open stream', async () => {
      const user = newUser('dave');
      const { client, traffic, seen } = clientFor(hub.url, user, { topics: ['post:1'] });
      const events = collect(client, 'test.topic');
      const topicsEvents: string[][] = [];
      client.on('topics', ({ topics }) => topicsEvents.push(topics));
      client.connect();
      await live(client);
      expect(credentialsIn(traffic.streams[0]).topics).toEqual(['post:1']);
      expect(seen.ready).toEqual([{ resumed: false, topics: ['post:1'] }]);

      await published(hub, { type: 'test.topic', topics: ['post:1'], data: { n: 1 } });
      await published(hub, { type: 'test.topic', topics: ['post:2'], data: { n: 2 } });
      await waitFor('the post:1 event', () => events.length === 1);

      await client.setTopics(['post:2']);
      expect(client.topics).toEqual(['post:2']);
      await published(hub, { type: 'test.topic', topics: ['post:1'], data: { n: 3 } });
      await published(hub, { type: 'test.topic', topics: ['post:2'], data: { n: 4 } });
      await waitFor('the post:2 event', () => events.length === 2);
      await sleep(300);

      expect(events.map((e) => [e.envelope.topic, e.data.n])).toEqual([
        ['post:1', 1],
        ['post:2', 4],
      ]);
      expect(topicsEvents).toEqual([['post:2']]);
      // Changed in place: still the one stream.
      expect(traffic.streams).toHaveLength(1);
      expect(traffic.requests.map((r) => `${r.method} ${r.url.replace(hub.url, '')}`)).toEqual([
        'POST /v1/stream-tickets',
        `PUT /v1/streams/${encodeURIComponent(client.connectionId!)}/topics`,
      ]);
    });

    it('refuses a topic the token may not follow, keeping the ones it had', async () => {
      const user = newUser('erin');
      const { client } = clientFor(hub.url, user, { topics: ['post:5'] });
      client.connect();
      await live(client);
      const refused = await client.setTopics(['post:6', 'team:1']).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(HeraldError);
      expect((refused as HeraldError).status).toBe(403);
      expect(client.topics).toEqual(['post:5']);
      expect(client.state).toBe('live');
    });

    it('remembers topics set before connect, for the stream it opens', async () => {
      const user = newUser('fay');
      const { client, traffic } = clientFor(hub.url, user);
      await client.setTopics(['post:7', 'post:8', 'post:7']);
      expect(traffic.requests).toEqual([]);
      client.connect();
      await live(client);
      expect(credentialsIn(traffic.streams[0]).topics).toEqual(['post:7', 'post:8']);
    });
  });

  it('after `expired`, gets a fresh token and resumes from the last id: every event arrives once', async () => {
    const user = newUser('gus');
    // Tokens live 3 s; each call makes a new one.
    const { client, traffic, seen } = clientFor(hub.url, user, { token: () => tokenFor(user, 3) });
    const ticks = collect(client, 'test.note');
    client.connect();
    await live(client);

    const total = 70;
    for (let n = 1; n <= total; n++) {
      await published(hub, { type: 'test.note', recipients: [user], data: { n }, persist: n % 2 === 0 });
      await sleep(100);
    }
    await waitFor(`${total} events`, () => ticks.length >= total, 10_000, () => `got ${numbers(ticks).join(',')}`);
    await sleep(300);

    expect(numbers(ticks)).toEqual(range(1, total));
    expect(seen.expired).toBeGreaterThanOrEqual(2);
    expect(traffic.tokenCalls.filter((call) => call.refresh).length).toBeGreaterThanOrEqual(seen.expired);
    // Every reopen carried the last id and a new ticket.
    const opened = traffic.streams.map(credentialsIn);
    expect(opened.length).toBe(seen.expired + 1);
    expect(opened.slice(1).every((o) => o.lastEventId !== null)).toBe(true);
    expect(new Set(opened.map((o) => o.ticket)).size).toBe(opened.length);
    expect(seen.ready.map((r) => r.resumed)).toEqual([false, ...opened.slice(1).map(() => true)]);
    expect(seen.resets).toEqual([]);
    expect(seen.errors).toEqual([]);
  }, 30_000);

  it('calls token again with refresh after a 401, for API calls too', async () => {
    const user = newUser('hal');
    const { client, traffic } = clientFor(hub.url, user, {
      token: ({ refresh }) => (refresh ? tokenFor(user) : tokenFor(user, -10)),
    });
    await expect(client.inbox.unreadCount()).resolves.toBe(0);
    expect(traffic.tokenCalls).toEqual([{ refresh: false }, { refresh: true }]);
  });

  describe('the inbox', () => {
    it('lists, counts and marks read, and the stream hears inbox.read', async () => {
      const user = newUser('ida');
      const { client } = clientFor(hub.url, user);
      const reads: { notificationId?: string; all?: true; unreadCount: number }[] = [];
      client.on('inbox.read', (data) => reads.push(data));
      client.connect();
      await live(client);
      for (let n = 1; n <= 3; n++) await published(hub, { type: 'test.note', recipients: [user], data: { n } });

      const page = await client.inbox.list();
      expect(page.unreadCount).toBe(3);
      expect(page.nextCursor).toBeNull();
      expect(page.items.map((item) => [item.type, item.data.n, item.readAt])).toEqual([
        ['test.note', 3, null],
        ['test.note', 2, null],
        ['test.note', 1, null],
      ]);
      const first = await client.inbox.list({ limit: 2 });
      expect(first.items).toHaveLength(2);
      const second = await client.inbox.list({ limit: 2, before: first.nextCursor! });
      expect([second.items.map((item) => item.data.n), second.nextCursor]).toEqual([[1], null]);

      await client.inbox.markRead(page.items[1].id);
      expect(await client.inbox.unreadCount()).toBe(2);
      await client.inbox.markAllRead();
      expect(await client.inbox.unreadCount()).toBe(0);
      expect((await client.inbox.list()).items.every((item) => item.readAt !== null)).toBe(true);
      await waitFor('two inbox.read events', () => reads.length === 2);
      expect(reads).toEqual([
        { notificationId: page.items[1].id, unreadCount: 2 },
        { all: true, unreadCount: 0 },
      ]);

      const missing = await client.inbox.markRead('999999999').catch((err: unknown) => err);
      expect(missing).toBeInstanceOf(HeraldError);
      expect((missing as HeraldError).status).toBe(404);
      const bad = await client.inbox.list({ limit: 1000 }).catch((err: unknown) => err);
      expect((bad as HeraldError).status).toBe(400);
      expect((bad as HeraldError).body).toMatchObject({ field: 'limit' });
    });
  });

  describe('back-off', () => {
    it('spaces out opens while the token is refused (1 s doubling, with jitter), and close() stops them', async () => {
      const user = newUser('jan');
      const { client, traffic, seen } = clientFor(hub.url, user, { token: () => tokenFor(user, 3600, 'not-the-hub-secret-not-the-hub-secret') });
      client.connect();
      await sleep(5000);

      // Each open is a ticket request (the first one tried twice: once more with `refresh`).
      const tickets = traffic.requests.filter((r) => r.url.endsWith('/v1/stream-tickets'));
      const opens = [tickets[0], ...tickets.slice(2)];
      expect(traffic.tokenCalls.slice(0, 3)).toEqual([{ refresh: false }, { refresh: true }, { refresh: true }]);
      expect(opens.length).toBeGreaterThanOrEqual(3);
      expect(opens.length).toBeLessThanOrEqual(4);
      const gaps = opens.slice(1).map((open, i) => open.at - opens[i].at);
      // The n-th wait is 50-100 % of 1 s × 2^n (timers never fire early; late, under load, they may).
      gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(1000 * 2 ** i * 0.5 - 20));
      expect(traffic.streams).toEqual([]);
      expect(seen.states).toEqual(['connecting', 'reconnecting']);
      expect(seen.errors.length).toBe(opens.length);
      expect(seen.errors.every((e) => e.status === 401)).toBe(true);

      client.close();
      const count = traffic.requests.length;
      await sleep(2500);
      expect(traffic.requests.length).toBe(count);
      expect(seen.states.at(-1)).toBe('closed');
    }, 15_000);

    it('backs off a stream refused after its ticket (a topic not allowed), up to maxMs, and close() stops it', async () => {
      const user = newUser('kim');
      const { client, traffic, seen } = clientFor(hub.url, user, { topics: ['team:1'], backoff: { initialMs: 100, maxMs: 400 } });
      client.connect();
      await sleep(2500);
      const opened = traffic.streams.length;
      // Waits of 50-100, 100-200, then 200-400 ms: 7 to 15 opens in 2.5 s; never a loop without waits.
      expect(opened).toBeGreaterThanOrEqual(6);
      expect(opened).toBeLessThanOrEqual(16);
      expect(seen.states).toEqual(['connecting', 'reconnecting']);
      expect(seen.errors.slice(0, 3).map((e) => e.status)).toEqual([403, 403, 403]);

      client.close();
      await sleep(1000);
      expect(traffic.streams.length).toBe(opened);
      expect(client.state).toBe('closed');
    }, 10_000);
  });

  describe("transport: 'fetch'", () => {
    it('reports every frame, heartbeats and unheard types included, tracks their ids, and needs no EventSource', async () => {
      const user = newUser('fay');
      const { client, seen } = clientFor(hub.url, user, { transport: 'fetch', EventSource: undefined });
      const frames: StreamFrame[] = [];
      client.on('frame', (frame) => frames.push(frame));
      const notes = collect(client, 'test.note');
      client.connect();
      await live(client);
      await waitFor('a heartbeat', () => frames.some((f) => f.comment === 'ping'));

      await published(hub, { type: 'test.note', recipients: [user], data: { n: 1 } });
      await waitFor('the first event', () => notes.length === 1);
      await published(hub, { type: 'test.unheard', recipients: [user], data: { n: 2 }, persist: false });
      await waitFor('both events as frames', () => frames.filter((f) => f.event?.startsWith('test.')).length === 2);
      const events = frames.filter((f) => f.comment === undefined);
      expect(events.map((f) => f.event)).toEqual(['ready', 'test.note', 'test.unheard']);
      expect(JSON.parse(events[0].data!)).toEqual({ userId: user, connectionId: client.connectionId, topics: [] });
      const unheard = events[2];
      expect(JSON.parse(unheard.data!)).toMatchObject({ id: unheard.id, type: 'test.unheard', data: { n: 2 } });
      expect(frames.filter((f) => f.comment !== undefined).every((f) => JSON.stringify(f) === '{"comment":"ping"}')).toBe(true);
      // No handler listens to test.unheard, yet the client is past it: a reconnect does not bring it again.
      expect(client.lastEventId).toBe(unheard.id);
      expect(numbers(notes)).toEqual([1]);

      client.close();
      frames.length = 0;
      await published(hub, { type: 'test.note', recipients: [user], data: { n: 3 } });
      client.connect();
      await waitFor('the replayed event', () => notes.length === 2);
      await sleep(200);
      expect(frames.filter((f) => f.comment === undefined).map((f) => f.event)).toEqual(['ready', 'test.note']);
      expect(numbers(notes)).toEqual([1, 3]);
      expect(seen.ready.map((r) => r.resumed)).toEqual([false, true]);
      expect(seen.errors).toEqual([]);
    });

    it('tells the status of a refused stream', async () => {
      const { client, seen } = clientFor(hub.url, newUser('gus'), { transport: 'fetch', topics: ['team:1'], backoff: { initialMs: 5000 } });
      client.connect();
      await waitFor('a refusal', () => seen.errors.length > 0);
      expect(seen.errors.map((e) => [e.status, e.message])).toEqual([[403, 'the stream was refused (403) or could not be reached']]);
      expect(client.state).toBe('reconnecting');
    });
  });
});

describe('@herald/client resuming (REPLAY_MAX_EVENTS=3)', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ REPLAY_MAX_EVENTS: '3' });
  });
  afterAll(() => hub.close());

  it('resumes from a kept lastEventId in a new client: what was missed is replayed', async () => {
    const user = newUser('olga');
    const { client: before } = clientFor(hub.url, user);
    const early = collect(before, 'test.note');
    before.connect();
    await live(before);
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 1 } });
    await waitFor('the first event', () => early.length === 1);
    before.close();
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 2 } });
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 3 } });

    const { client: after, traffic, seen } = clientFor(hub.url, user, { lastEventId: before.lastEventId });
    const late = collect(after, 'test.note');
    after.connect();
    await waitFor('the replay', () => late.length === 2);
    expect(numbers(late)).toEqual([2, 3]);
    expect(credentialsIn(traffic.streams[0]).lastEventId).toBe(early[0].envelope.id);
    // Its first stream: the page shows nothing yet, whatever id it resumes from.
    expect(seen.ready).toEqual([{ resumed: false, topics: [] }]);
    expect(seen.resets).toEqual([]);
  });

  it('on `reset` calls onReset (naming the topic when it is a topic’s) and emits it, then goes on live', async () => {
    const user = newUser('pia');
    const onResetCalls: unknown[] = [];
    const onReset = (info: unknown) => void onResetCalls.push(info);
    const { client, seen } = clientFor(hub.url, user, { topics: ['post:50'], onReset });
    const notes = collect(client, 'test.note');
    client.connect();
    await live(client);
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 1 } });
    await waitFor('the first event', () => notes.length === 1);

    // Away for more than the window keeps, of the user's events and of the topic's.
    client.close();
    for (let n = 2; n <= 6; n++) {
      await published(hub, { type: 'test.note', recipients: [user], data: { n } });
      await published(hub, { type: 'test.topic', topics: ['post:50'], data: { n } });
    }
    client.connect();
    await waitFor('two resets', () => seen.resets.length === 2);
    await published(hub, { type: 'test.note', recipients: [user], data: { n: 7 } });
    await waitFor('the live event', () => notes.length === 2);

    const expected = [{ reason: 'replay-window-exceeded' }, { reason: 'replay-window-exceeded', topic: 'post:50' }];
    expect(seen.resets).toHaveLength(2);
    expect(seen.resets).toEqual(expect.arrayContaining(expected));
    expect(onResetCalls).toEqual(seen.resets);
    expect(numbers(notes)).toEqual([1, 7]);
    expect(seen.states).toEqual(['connecting', 'live', 'closed', 'connecting', 'live']);
  });
});

describe('@herald/client when streams end (STREAM_MAX_AGE_MS=1500)', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ STREAM_MAX_AGE_MS: '1500' });
  });
  afterAll(() => hub.close());

  it('reopens at once with a new ticket, the last id and the current topics: nothing lost, nothing twice', async () => {
    const user = newUser('lea');
    const { client, traffic, seen } = clientFor(hub.url, user, { topics: ['post:1'] });
    const notes = collect(client, 'test.note');
    const topicEvents = collect(client, 'test.topic');
    client.connect();
    await live(client);
    await client.setTopics(['post:2']);

    const total = 40;
    for (let n = 1; n <= total; n++) {
      await published(hub, { type: 'test.note', recipients: [user], data: { n }, persist: false });
      await published(hub, { type: 'test.topic', topics: [n % 2 ? 'post:1' : 'post:2'], data: { n } });
      await sleep(100);
    }
    await waitFor('every event', () => notes.length >= total && topicEvents.length >= total / 2, 10_000);
    await sleep(300);

    expect(numbers(notes)).toEqual(range(1, total));
    expect(topicEvents.map((e) => [e.envelope.topic, e.data.n])).toEqual(range(1, total / 2).map((i) => ['post:2', 2 * i]));
    const opened = traffic.streams.map(credentialsIn);
    expect(opened.length).toBeGreaterThanOrEqual(3);
    expect(opened[0].topics).toEqual(['post:1']);
    for (const later of opened.slice(1)) {
      expect(later).toEqual({ ticket: expect.any(String), accessToken: null, lastEventId: expect.any(String), topics: ['post:2'] });
    }
    expect(new Set(opened.map((o) => o.ticket)).size).toBe(opened.length);
    // Each end: reconnecting, then live again, without back-off errors.
    expect(seen.states.slice(0, 4)).toEqual(['connecting', 'live', 'reconnecting', 'live']);
    expect(seen.errors).toEqual([]);
    expect(seen.resets).toEqual([]);
  }, 20_000);
});

// ---------------------------------------------------------------------------

describe('@herald/client across a hub restart (child process, Redis)', () => {
  let redis: RedisServer;
  const hubs: HubProcess[] = [];
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(path.join(tmpdir(), 'herald-client-'));
  });
  afterAll(async () => {
    for (const hub of hubs) await hub.kill('SIGKILL');
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reconnects on its own when the hub comes back on its port: events published meanwhile arrive once', async () => {
    const env = { PORT: String(await lowPort()), REDIS_URL: redis.url, SQLITE_PATH: path.join(dir, 'herald.sqlite'), LOG_LEVEL: 'warn' };
    const first = await startHubProcess(env);
    hubs.push(first);
    await first.ready();
    const user = newUser('max');
    const { client, seen } = clientFor(first.url, user, { backoff: { initialMs: 250, maxMs: 2000 } });
    const notes = collect(client, 'test.note');
    client.connect();
    await live(client);
    await published(first, { type: 'test.note', recipients: [user], data: { n: 1 } });
    await waitFor('the first event', () => notes.length === 1);

    await first.kill('SIGKILL');
    await waitFor('reconnecting', () => client.state === 'reconnecting');
    // While no hub runs: into the Redis ingress, delivered once a hub is back.
    const ingress = new Redis(redis.url);
    try {
      await ingress.xadd('herald:ingress', '*', 'envelope', JSON.stringify({ type: 'test.note', recipients: [user], data: { n: 2 } }));
    } finally {
      ingress.disconnect();
    }
    await sleep(500);

    const second = await startHubProcess(env);
    hubs.push(second);
    await second.ready();
    await published(second, { type: 'test.note', recipients: [user], data: { n: 3 }, persist: false });
    await waitFor('all three events', () => notes.length >= 3, 15_000, () => `got ${numbers(notes)}, state ${client.state}`);
    await sleep(300);

    expect(numbers(notes).sort()).toEqual([1, 2, 3]);
    expect(seen.states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
    expect(seen.ready.map((r) => r.resumed)).toEqual([false, true]);
    // The replay log is in Redis: the old id still means something.
    expect(seen.resets).toEqual([]);
    // What the client told its error handlers: only failed opens while the hub was away.
    expect(seen.errors.every((e) => e.status === undefined || e.status === 503)).toBe(true);
  }, 40_000);
});

// ---------------------------------------------------------------------------

describe('@herald/client in Chromium, from <script type="module">', () => {
  let hub: TestHub;
  let bundle: string;
  let out: string;
  beforeAll(async () => {
    hub = await startHub();
    // The package's own build (libs/client/tsconfig.json), into a directory of its own.
    out = mkdtempSync(path.join(tmpdir(), 'herald-client-dist-'));
    execFileSync('npx', ['tsc', '-p', 'libs/client/tsconfig.json', '--outDir', out], { cwd: ROOT, stdio: 'pipe' });
    bundle = readFileSync(path.join(out, 'client.js'), 'utf8');
  }, 60_000);
  afterAll(async () => {
    await hub?.close();
    rmSync(out, { recursive: true, force: true });
  });

  it('builds to one file with no imports that a page loads as a module, and works with the browser’s EventSource', async () => {
    expect(bundle).not.toMatch(/^\s*import\s/m);
    expect(readFileSync(path.join(out, 'client.d.ts'), 'utf8')).toContain('export declare class HeraldClient');

    const user = newUser('nia');
    const token = tokenFor(user);
    const html = `<!doctype html><title>client</title><link rel="icon" href="data:,">
<script type="module">
  import { HeraldClient } from './herald-client.js';
  const token = ${JSON.stringify(token)};
  window.got = { states: [], events: [], unread: null };
  const herald = new HeraldClient({ url: '', token: () => token, topics: ['post:9'] });
  herald.on('state', (state) => window.got.states.push(state));
  herald.on('test.note', (data, envelope) => window.got.events.push([data.n, envelope.topic ?? null]));
  herald.on('test.topic', (data, envelope) => window.got.events.push([data.n, envelope.topic ?? null]));
  herald.on('ready', async () => { window.got.unread = await herald.inbox.unreadCount(); });
  herald.connect();
  window.herald = herald;
</script>`;
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const streamUrls: string[] = [];
      page.on('pageerror', (err) => problems.push(err.message));
      page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
      page.on('request', (request) => request.url().includes('/v1/stream?') && streamUrls.push(request.url()));
      // Served from the hub's origin, so the client's url is '' (same origin).
      await page.route(`${hub.url}/client-test/**`, (route) =>
        route.fulfill(
          route.request().url().endsWith('.js')
            ? { contentType: 'text/javascript', body: bundle }
            : { contentType: 'text/html', body: html },
        ),
      );
      await page.goto(`${hub.url}/client-test/index.html`);
      const got = () => page.evaluate(() => (globalThis as any).got);
      await waitFor('the page to be live', async () => (await got()).unread !== null, 10_000, async () => JSON.stringify(await got()));

      await published(hub, { type: 'test.note', recipients: [user], data: { n: 1 } });
      await published(hub, { type: 'test.topic', topics: ['post:9'], data: { n: 2 } });
      await waitFor('two events in the page', async () => (await got()).events.length === 2);
      expect(await got()).toEqual({ states: ['connecting', 'live'], events: [[1, null], [2, 'post:9']], unread: 0 });
      expect(streamUrls).toHaveLength(1);
      expect(streamUrls[0]).not.toContain(token);
      expect(credentialsIn(streamUrls[0])).toMatchObject({ ticket: expect.any(String), accessToken: null, topics: ['post:9'] });
      await page.evaluate(() => (globalThis as any).herald.close());
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 30_000);
});
