/**
 * End-to-end tests of `GET /v1/stream` against a real hub on a real port:
 * framing and headers on the raw bytes (fetch), client behaviour with the
 * `eventsource` package (automatic reconnect with Last-Event-ID). The contract
 * is ../shared/spec/API.md, "Subscribe" and "Tokens".
 */
import { jest } from '@jest/globals';
import { EventSource } from 'eventsource';
import jwt from 'jsonwebtoken';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { openRaw, RawStream, SseFrame } from './support/sse.js';
import { startHub, TestHub } from './support/hub.js';
import { expectIncreasing } from './support/sequences.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

// ---------------------------------------------------------------- helpers

/** Streams, EventSources and publishers a test started: stopped after it, however it ended. */
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((stop) => stop()));

interface SubscribeOptions {
  lastEventId?: string;
  /** How `lastEventId` is sent: the header EventSource uses, or the query parameter. */
  via?: 'header' | 'query';
  token?: string;
}

/** Opens a raw stream for `user` (token in the Authorization header). */
async function subscribe(hub: TestHub, user: string, options: SubscribeOptions = {}): Promise<RawStream> {
  const url = new URL('/v1/stream', hub.url);
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? hub.userToken(user)}` };
  if (options.lastEventId !== undefined) {
    if (options.via === 'query') url.searchParams.set('lastEventId', options.lastEventId);
    else headers['last-event-id'] = options.lastEventId;
  }
  const stream = await openRaw(url.href, { headers });
  cleanups.push(() => stream.close());
  return stream;
}

/** Opens a stream and returns it with its first frame, which must be `ready`. */
async function subscribeReady(hub: TestHub, user: string, options: SubscribeOptions = {}) {
  const stream = await subscribe(hub, user, options);
  expect(stream.response.status).toBe(200);
  const ready = await stream.next(1000);
  expect(ready.event).toBe('ready');
  return { stream, ready };
}

/** The next frame that is not a comment (heartbeats are skipped). */
async function nextEvent(stream: RawStream, timeoutMs = 3000): Promise<SseFrame> {
  const frames = await stream.until((frame) => frame.comment === undefined, timeoutMs);
  return frames[frames.length - 1]!;
}

async function nextEvents(stream: RawStream, count: number, timeoutMs = 3000): Promise<SseFrame[]> {
  const events: SseFrame[] = [];
  while (events.length < count) events.push(await nextEvent(stream, timeoutMs));
  return events;
}

/** Every frame that arrives within `ms` (the stream stays open). */
async function framesFor(stream: RawStream, ms: number): Promise<{ frame: SseFrame; at: number }[]> {
  const seen: { frame: SseFrame; at: number }[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return seen;
    try {
      seen.push({ frame: await stream.next(left), at: Date.now() });
    } catch (err) {
      if (stream.ended()) throw new Error('the stream ended', { cause: err });
      return seen;
    }
  }
}

/** Every frame until the server ends the stream; fails if it has not ended within `timeoutMs`. */
async function framesUntilEnd(stream: RawStream, timeoutMs: number): Promise<SseFrame[]> {
  const frames: SseFrame[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      frames.push(await stream.next(Math.max(deadline - Date.now(), 1)));
    } catch (err) {
      if (stream.ended()) return frames;
      throw err;
    }
  }
}

async function expectNoEvent(stream: RawStream, ms: number): Promise<void> {
  const events = (await framesFor(stream, ms)).filter(({ frame }) => frame.comment === undefined);
  expect(events.map(({ frame }) => frame)).toEqual([]);
}

async function publish(hub: TestHub, recipients: string[], type: string, data: object = {}): Promise<void> {
  const response = await hub.publish({ type, recipients, data });
  expect(response.status).toBe(202);
}

interface Envelope {
  id: string;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** The JSON envelope of an event frame, checked against the frame's own id and type. */
function envelope(frame: SseFrame): Envelope {
  const parsed = JSON.parse(frame.data!) as Envelope;
  expect(parsed).toMatchObject({ id: frame.id, type: frame.event });
  return parsed;
}

/**
 * Closes a hub once its streams are gone. After a streaming fetch is aborted,
 * Node's fetch (undici) opens a spare keep-alive connection that sends no
 * request, and `server.close()` waits ~4 s for undici to drop it: closing the
 * server's connections first saves that wait in each suite.
 */
async function stopHub(hub: TestHub): Promise<void> {
  await waitFor('streams to close', () => hub.registry.size === 0, 2000).catch(() => undefined);
  (hub.app.getHttpServer() as Server).closeAllConnections();
  await hub.close();
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Publishes `{n: 1, 2, …}` to `user`, one event every `gapMs`, while
 * `keepGoing(n published so far)` holds. `done` resolves to how many it published.
 */
function startPublisher(hub: TestHub, user: string, gapMs: number, keepGoing: (published: number) => boolean) {
  let published = 0;
  let stopped = false;
  cleanups.push(() => (stopped = true));
  const done = (async () => {
    while (!stopped && keepGoing(published)) {
      await publish(hub, [user], 'tick', { n: published + 1 });
      published++;
      await sleep(gapMs);
    }
    return published;
  })();
  done.catch(() => undefined); // a failure surfaces where the test awaits `done`
  return { done, published: () => published };
}

// ------------------------------------------------------------------ tests

describe('GET /v1/stream', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ HEARTBEAT_MS: '200', STREAMS_PER_USER_MAX: '2' });
  });
  afterAll(() => stopHub(hub));

  it('answers 200 with the SSE headers, and `ready` as the first frame within 1 s', async () => {
    const user = newUser('alice');
    const started = Date.now();
    const stream = await subscribe(hub, user);
    const first = await stream.next(1000);
    expect(Date.now() - started).toBeLessThan(1000);

    const { status, headers } = stream.response;
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^text\/event-stream\b/);
    expect(headers.get('cache-control')).toContain('no-cache');
    expect(headers.get('x-accel-buffering')).toBe('no');

    expect(first).toEqual({ id: '0', event: 'ready', retry: 3000, data: expect.any(String) });
    expect(JSON.parse(first.data!)).toEqual({ userId: user, connectionId: expect.any(String), topics: [] });
  });

  it('gives `ready` the id of the user\'s newest event, and each stream its own connectionId', async () => {
    const user = newUser('alice');
    const first = await subscribeReady(hub, user);
    await publish(hub, [user], 'one');
    await publish(hub, [user], 'two');
    const [, newest] = await nextEvents(first.stream, 2);

    const second = await subscribeReady(hub, user);
    expect(second.ready.id).toBe(newest!.id);
    expect(JSON.parse(second.ready.data!).connectionId).not.toBe(JSON.parse(first.ready.data!).connectionId);
  });

  it('sends a `: ping` comment, with no id, every HEARTBEAT_MS', async () => {
    const { stream } = await subscribeReady(hub, newUser('alice'));
    const seen = await framesFor(stream, 1100);

    expect(seen.map(({ frame }) => frame)).toEqual(seen.map(() => ({ comment: 'ping' })));
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(seen.length).toBeLessThanOrEqual(7);
    const gaps = seen.slice(1).map(({ at }, i) => at - seen[i]!.at);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(100);
      expect(gap).toBeLessThanOrEqual(400);
    }
  });

  it('sends an event as id / event / data with the JSON envelope', async () => {
    const user = newUser('alice');
    const { stream } = await subscribeReady(hub, user);
    const before = Date.now();
    await publish(hub, [user], 'comment.created', { postId: '42' });

    const frame = await nextEvent(stream);
    expect(frame).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), event: 'comment.created', data: expect.any(String) });
    const { createdAt, ...rest } = envelope(frame);
    // The hub may add fields (an inbox id): the contract's four must be there.
    expect(rest).toMatchObject({ id: frame.id, type: 'comment.created', data: { postId: '42' } });
    expect(new Date(createdAt).toISOString()).toBe(createdAt);
    expect(Date.parse(createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(createdAt)).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('gives a user\'s events strictly increasing ids in delivery order, also under concurrent publishing', async () => {
    const [alice, bob] = [newUser('alice'), newUser('bob')];
    const { stream } = await subscribeReady(hub, alice);
    await Promise.all(
      range(1, 30).map((n) => publish(hub, n % 3 === 0 ? [bob, alice] : n % 3 === 1 ? [alice] : [bob], 'tick', { n })),
    );

    const events = await nextEvents(stream, 20);
    expectIncreasing(events.map((frame) => frame.id!));
    const ns = events.map((frame) => envelope(frame).data.n as number);
    expect([...ns].sort((a, b) => a - b)).toEqual(range(1, 30).filter((n) => n % 3 !== 2));
    await expectNoEvent(stream, 200);
  });

  it('never delivers one user\'s event to another', async () => {
    const [alice, bob] = [newUser('alice'), newUser('bob')];
    const a = await subscribeReady(hub, alice);
    const b = await subscribeReady(hub, bob);
    await publish(hub, [bob], 'for-bob');
    await publish(hub, [alice], 'for-alice');
    await publish(hub, [alice, bob], 'for-both');

    const [aliceOwn, aliceShared] = await nextEvents(a.stream, 2);
    const [bobOwn, bobShared] = await nextEvents(b.stream, 2);
    expect([aliceOwn!.event, aliceShared!.event]).toEqual(['for-alice', 'for-both']);
    expect([bobOwn!.event, bobShared!.event]).toEqual(['for-bob', 'for-both']);
    expect(aliceShared!.id).toBe(bobShared!.id);
    await expectNoEvent(a.stream, 200);
  });

  it('delivers every event to each of a user\'s tabs; closing one leaves the other working', async () => {
    const user = newUser('alice');
    const older = await subscribeReady(hub, user);
    const newer = await subscribeReady(hub, user);

    await publish(hub, [user], 'to-both', { n: 1 });
    const [a, b] = [await nextEvent(older.stream), await nextEvent(newer.stream)];
    expect(a.event).toBe('to-both');
    expect(b).toEqual(a);

    older.stream.close();
    await publish(hub, [user], 'to-one', { n: 2 });
    expect(envelope(await nextEvent(newer.stream)).data).toEqual({ n: 2 });
  });

  it('answers a stream past STREAMS_PER_USER_MAX with 429 JSON and Retry-After, and accepts one again once a stream closes', async () => {
    const user = newUser('alice');
    const first = await subscribeReady(hub, user);
    await subscribeReady(hub, user);

    const refused = await subscribe(hub, user);
    expect(refused.response.status).toBe(429);
    expect(refused.response.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(refused.response.headers.get('retry-after')).toBe('3');
    expect(await refused.response.json()).toMatchObject({ statusCode: 429 });
    await subscribeReady(hub, newUser('bob')); // the cap is per user

    first.stream.close();
    // The hub learns of the close asynchronously: a client retrying briefly gets in.
    const deadline = Date.now() + 2000;
    let retry = await subscribe(hub, user);
    while (retry.response.status === 429 && Date.now() < deadline) {
      await sleep(50);
      retry = await subscribe(hub, user);
    }
    expect(retry.response.status).toBe(200);
    expect((await retry.next(1000)).event).toBe('ready');
  });

  it('answers a stream without a token with 401 JSON, not a stream', async () => {
    const response = await fetch(`${hub.url}/v1/stream`);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(await response.json()).toMatchObject({ statusCode: 401 });
  });
});

describe('a client that leaves while its stream is being admitted', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(() => stopHub(hub));

  it('gives its place back: nothing stays in the registry or waits for its token to expire', async () => {
    // Admission held open until the client is gone, as a slow cluster-wide count would.
    let admit = () => undefined as void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const open = hub.registry.open.bind(hub.registry);
    let opened: Promise<unknown> | undefined;
    const spy = jest.spyOn(hub.registry, 'open').mockImplementationOnce(async (stream) => {
      await admitted;
      opened = open(stream);
      return opened as ReturnType<typeof open>;
    });
    const client = new AbortController();
    const request = fetch(`${hub.url}/v1/stream?access_token=${hub.userToken(newUser('alice'))}`, { signal: client.signal });
    request.catch(() => undefined);
    await waitFor('the stream to be in admission', () => spy.mock.calls.length === 1, 2000);
    client.abort();
    await sleep(200); // the hub sees the connection close
    admit();
    await waitFor('the stream to be admitted', () => opened !== undefined, 2000);
    await opened;
    await waitFor('the hub to give the place back', () => hub.registry.size === 0 && hub.registry.expiryCount === 0, 2000);
    spy.mockRestore();
  });
});

describe('Last-Event-ID replay', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(() => stopHub(hub));

  it.each(['header', 'query'] as const)(
    'sends, after ready, exactly the events published while away, then live (lastEventId by %s)',
    async (via) => {
      const user = newUser('alice');
      const away = await subscribeReady(hub, user);
      await publish(hub, [user], 'tick', { n: 1 });
      const seen = await nextEvent(away.stream);
      away.stream.close();
      for (const n of [2, 3, 4]) await publish(hub, [user], 'tick', { n });

      const back = await subscribeReady(hub, user, { lastEventId: seen.id!, via });
      expect(back.ready.id).toBe(seen.id);
      const replayed = await nextEvents(back.stream, 3);
      expect(replayed.map((frame) => envelope(frame).data.n)).toEqual([2, 3, 4]);
      await publish(hub, [user], 'tick', { n: 5 });
      const live = await nextEvent(back.stream);
      expect(envelope(live).data.n).toBe(5);
      expectIncreasing([seen, ...replayed, live].map((frame) => frame.id!));
      await expectNoEvent(back.stream, 200);
    },
  );

  it('replays everything to a client whose last id is the `0` of a ready with no events before it', async () => {
    const user = newUser('alice');
    const away = await subscribeReady(hub, user);
    expect(away.ready.id).toBe('0');
    away.stream.close();
    await publish(hub, [user], 'tick', { n: 1 });
    await publish(hub, [user], 'tick', { n: 2 });

    const back = await subscribeReady(hub, user, { lastEventId: '0' });
    expect((await nextEvents(back.stream, 2)).map((frame) => envelope(frame).data.n)).toEqual([1, 2]);
  });

  it.each([
    ['header', 'Last-Event-ID'],
    ['query', 'lastEventId'],
  ] as const)('answers a malformed last id (by %s) with 400 JSON naming %s', async (via, name) => {
    const stream = await subscribe(hub, newUser('alice'), { lastEventId: 'abc', via });
    expect(stream.response.status).toBe(400);
    expect(stream.response.headers.get('content-type')).toMatch(/^application\/json\b/);
    const body = (await stream.response.json()) as { statusCode: number; message: string };
    expect(body.statusCode).toBe(400);
    expect(body.message).toContain(name);
  });

  it('loses and repeats nothing across repeated reconnects while a publisher keeps publishing (raw clients)', async () => {
    const user = newUser('alice');
    const TOTAL = 300;
    const RECONNECT_EVERY = 40;
    let lastId: string | undefined;
    const frames: SseFrame[] = [];
    const pendingAtReconnect: number[] = [];
    let publisher: ReturnType<typeof startPublisher> | undefined;

    for (let round = 0; frames.length < TOTAL; round++) {
      if (publisher) pendingAtReconnect.push(publisher.published() - frames.length);
      const via = round % 2 === 0 ? 'header' : 'query';
      const { stream, ready } = await subscribeReady(hub, user, { lastEventId: lastId, via });
      expect(ready.id).toBe(lastId ?? '0');
      lastId = ready.id;
      publisher ??= startPublisher(hub, user, 5, (published) => published < TOTAL);
      const stopAt = Math.min(TOTAL, frames.length + RECONNECT_EVERY);
      while (frames.length < stopAt) {
        const frame = await nextEvent(stream);
        frames.push(frame);
        lastId = frame.id;
      }
      stream.close();
      // The publisher goes on while the client is away: until it has published past what the
      // client got (a fixed pause was not always enough on a loaded machine, where a publish
      // can take longer than the pause).
      await sleep(30);
      if (frames.length < TOTAL) await waitFor('an event published while away', () => publisher!.published() > frames.length, 5000);
    }

    expect(await publisher!.done).toBe(TOTAL);
    expect(frames.map((frame) => envelope(frame).data.n)).toEqual(range(1, TOTAL));
    expectIncreasing(frames.map((frame) => frame.id!));
    // Each reconnect had events waiting for it, so the replay, not luck, filled the gaps.
    expect(pendingAtReconnect).toHaveLength(Math.ceil(TOTAL / RECONNECT_EVERY) - 1);
    expect(pendingAtReconnect.filter((pending) => pending <= 0)).toEqual([]);
  });

  it('loses and repeats nothing when EventSource reconnects by itself after the server ends its stream', async () => {
    const user = newUser('alice');
    // As in a browser: EventSource cannot set headers, so the token goes in the query.
    const es = new EventSource(`${hub.url}/v1/stream?access_token=${hub.userToken(user)}`);
    cleanups.push(() => es.close());
    const received: { n: number; id: string; envelopeId: string }[] = [];
    const readies: { id: string; lastSeen: string | undefined; pending: number }[] = [];
    let publisher: ReturnType<typeof startPublisher> | undefined;
    es.addEventListener('ready', (event) =>
      readies.push({
        id: event.lastEventId,
        lastSeen: received.at(-1)?.id,
        pending: (publisher?.published() ?? 0) - received.length,
      }),
    );
    es.addEventListener('tick', (event) => {
      const { id, data } = JSON.parse(event.data) as Envelope;
      received.push({ n: data.n as number, id: event.lastEventId, envelopeId: id });
    });

    await waitFor('the first ready', () => readies.length === 1, 2000);
    const RECONNECTS = 2;
    let reconnects = 0;
    // Publishing goes on through every gap, and past 300 events.
    publisher = startPublisher(hub, user, 10, (published) => reconnects < RECONNECTS || published < 300);
    while (reconnects < RECONNECTS) {
      const target = received.length + 50;
      await waitFor(`${target} events`, () => received.length >= target, 5000);
      hub.registry.endSome(hub.registry.size); // the server ends every stream, as when it drains
      await waitFor(`reconnect #${reconnects + 1}`, () => readies.length === reconnects + 2, 6000); // retry: 3000
      reconnects++;
    }
    const total = await publisher.done;
    await waitFor(`all ${total} events`, () => received.length >= total, 5000);
    await sleep(100); // nothing more (no duplicate) may follow
    es.close();

    expect(received.map(({ n }) => n)).toEqual(range(1, total));
    expectIncreasing(received.map(({ id }) => id));
    expect(received.filter(({ id, envelopeId }) => id !== envelopeId)).toEqual([]);
    // Each reconnect sent the last id seen as Last-Event-ID (ready echoes it), with events waiting.
    for (const ready of readies.slice(1)) {
      expect(ready.id).toBe(ready.lastSeen);
      expect(ready.pending).toBeGreaterThan(0);
    }
  });
});

describe('REPLAY_MAX_BYTES: the replay window in bytes too', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ REPLAY_MAX_BYTES: '5000' });
  });
  afterAll(() => stopHub(hub));

  it('keeps the newest events that fit (two of ~2 KB here): replays after the last dropped one, resets before it', async () => {
    const user = newUser('alice');
    const { stream } = await subscribeReady(hub, user);
    for (const n of range(1, 6)) await publish(hub, [user], 'tick', { n, pad: 'x'.repeat(2000) });
    const ids = (await nextEvents(stream, 6)).map((frame) => frame.id!);
    stream.close();
    const after = await subscribeReady(hub, user, { lastEventId: ids[3] });
    expect((await nextEvents(after.stream, 2)).map((frame) => frame.id)).toEqual(ids.slice(4));
    after.stream.close();
    const before = await subscribeReady(hub, user, { lastEventId: ids[2] });
    expect(await before.stream.next()).toMatchObject({ event: 'reset', id: ids[5] });
    before.stream.close();
  });
});

describe('reset: a last id older than the replay window', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ REPLAY_MAX_EVENTS: '5' });
  });
  afterAll(() => stopHub(hub));

  /** Publishes ten events to a new user and returns the user and the ten ids. */
  async function userWithTenEvents() {
    const user = newUser('alice');
    const { stream } = await subscribeReady(hub, user);
    for (const n of range(1, 10)) await publish(hub, [user], 'tick', { n });
    const ids = (await nextEvents(stream, 10)).map((frame) => frame.id!);
    stream.close();
    return { user, ids };
  }

  const RESET = { event: 'reset', data: JSON.stringify({ reason: 'replay-window-exceeded' }) };

  it('sends ready with the id asked for, then `reset` with the newest id, then goes live', async () => {
    const { user, ids } = await userWithTenEvents();
    const { stream, ready } = await subscribeReady(hub, user, { lastEventId: ids[0] });
    expect(ready.id).toBe(ids[0]);
    expect(await stream.next()).toEqual({ ...RESET, id: ids[9] });

    await publish(hub, [user], 'tick', { n: 11 });
    const live = await nextEvent(stream);
    expect(envelope(live).data).toEqual({ n: 11 });
    expectIncreasing([ids[9]!, live.id!]);
  });

  it('replays without a reset when the id is the last one the window has dropped', async () => {
    const { user, ids } = await userWithTenEvents();
    const { stream } = await subscribeReady(hub, user, { lastEventId: ids[4], via: 'query' });
    expect((await nextEvents(stream, 5)).map((frame) => frame.id)).toEqual(ids.slice(5));
  });

  it.each([
    ['an id from before this boot', '1000-0'],
    ['0, with more events since than the window holds', '0'],
  ])('resets for %s', async (_, lastEventId) => {
    const { user, ids } = await userWithTenEvents();
    const { stream, ready } = await subscribeReady(hub, user, { lastEventId });
    expect(ready.id).toBe(lastEventId);
    expect(await stream.next()).toEqual({ ...RESET, id: ids[9] });
  });
});

describe('token expiry during a stream', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(() => stopHub(hub));

  /** A stream opened with a token that expires in 2 s, and that token's `exp` in ms. */
  async function shortLivedStream(user: string) {
    const token = hub.userToken(user, 2);
    const expiresAt = (jwt.decode(token) as { exp: number }).exp * 1000;
    return { ...(await subscribeReady(hub, user, { token })), expiresAt };
  }

  it('sends `expired` with the id of the last frame sent, then ends the stream', async () => {
    const user = newUser('alice');
    const { stream } = await shortLivedStream(user);
    await publish(hub, [user], 'tick', { n: 1 });
    const last = await nextEvent(stream);

    const rest = await framesUntilEnd(stream, 5000);
    expect(rest).toEqual([{ id: last.id, event: 'expired', data: expect.any(String) }]);
    await waitFor('the hub to release the stream', () => hub.registry.size === 0, 1000);
    expect(hub.registry.expiryCount).toBe(0);
  });

  it('loses nothing when the client comes back with a fresh token and its last event id', async () => {
    const user = newUser('alice');
    const { stream } = await shortLivedStream(user);
    await publish(hub, [user], 'tick', { n: 1 });
    expect(JSON.parse((await nextEvent(stream)).data!).data).toEqual({ n: 1 });
    const [expired] = await framesUntilEnd(stream, 5000);
    expect(expired.event).toBe('expired');
    // Published while the client was away, getting a new token.
    await publish(hub, [user], 'tick', { n: 2 });
    await publish(hub, [user], 'tick', { n: 3 });
    const { stream: again, ready } = await subscribeReady(hub, user, { lastEventId: expired.id });
    expect(ready.id).toBe(expired.id);
    const missed = await nextEvents(again, 2);
    expect(missed.map((frame) => JSON.parse(frame.data!).data)).toEqual([{ n: 2 }, { n: 3 }]);
  });

  it('expires the stream at the first expiry tick after the token\'s exp', async () => {
    const user = newUser('alice');
    const { stream, ready, expiresAt } = await shortLivedStream(user);
    const pending = hub.registry.expiryCount;
    await sleep(expiresAt + 5 - Date.now());
    // What the hub's shared 1 s tick does, run here just after the token expired:
    // any tick from now on must end this stream, or it keeps receiving events.
    hub.registry.endDue(performance.now());
    expect(hub.registry.expiryCount).toBe(pending - 1);
    expect(await framesUntilEnd(stream, 1000)).toEqual([{ id: ready.id, event: 'expired', data: expect.any(String) }]);
  });
});
