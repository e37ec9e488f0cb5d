/**
 * Scale-out, with real processes: one private redis-server and several hub
 * processes (dist/) on it, as behind a load balancer. The contract is
 * ../shared/spec/API.md ("Subscribe" replay, "Tokens" stream tickets); the
 * requirements are issue 3 (cross-instance delivery and ordering, reconnect to
 * another instance with Last-Event-ID under continuous publishing, SIGKILL of
 * the instance a client is on, tickets across instances).
 *
 * Every event carries a sequence number in its data ({n}), so loss,
 * duplicates and order can be checked exactly.
 */
import { EventSource } from 'eventsource';
import jwt from 'jsonwebtoken';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_SECRET } from './support/hub.js';
import { HubProcess, RedisServer, startHubProcess, startProxy, startRedis, TcpProxy } from './support/processes.js';
import { openRaw, RawStream, SseFrame } from './support/sse.js';

/** Per test (ESM jest has no global `jest.setTimeout`). */
const TIMEOUT = 45_000;

// ---------------------------------------------------------------- helpers

const EVENT_TYPE = 'test.seq';

const userToken = (sub: string) => jwt.sign({ sub }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const serviceToken = jwt.sign({ sub: 'svc', scope: 'events:publish' }, TEST_SECRET, {
  algorithm: 'HS256',
  expiresIn: 3600,
});

let users = 0;
/** A user id no other test uses, so one test's events never reach another (they share one Redis). */
const newUser = (name: string) => `${name}-${process.pid}-${++users}`;

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Event ids are `<ms>-<seq>`: compared as two numbers. */
function compareIds(a: string, b: string): number {
  const [am, as = 0] = a.split('-').map(Number);
  const [bm, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

/** The ids (with their position) that are not strictly greater than the one before. */
function notIncreasing(ids: string[]): string[] {
  const bad: string[] = [];
  for (let i = 1; i < ids.length; i++) {
    if (compareIds(ids[i - 1], ids[i]) >= 0) bad.push(`#${i}: ${ids[i - 1]} then ${ids[i]}`);
  }
  return bad;
}

/** The n that occur more than once. */
function duplicates(ns: number[]): number[] {
  const seen = new Set<number>();
  const dups = new Set<number>();
  for (const n of ns) (seen.has(n) ? dups : seen).add(n);
  return [...dups];
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await sleep(10);
  }
}

/** POST /v1/events with the service token; anything but 202 throws. */
async function publish(hub: HubProcess, recipients: string[], data: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${hub.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${serviceToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: EVENT_TYPE, recipients, data }),
  });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`publish on ${hub.url} → ${response.status} ${text}`);
}

interface Received {
  n: number;
  /** The frame's `id:` line. */
  id: string;
  /** The `id` inside the data envelope; must equal `id`. */
  envelopeId: string;
}

/**
 * Reads a raw stream in the background and records every frame. (It reads
 * with no timeout: a timed-out `next()` of the support reader would leave a
 * waiter behind that swallows a later frame.)
 */
class Recorder {
  /** Every frame but comments, in order. */
  readonly frames: SseFrame[] = [];
  readonly events: Received[] = [];
  /** The id of the last frame that carried one: what the client would send as Last-Event-ID. */
  lastId: string | undefined;
  readonly done: Promise<void>;

  constructor(readonly stream: RawStream) {
    this.done = (async () => {
      for (;;) {
        let frame: SseFrame;
        try {
          frame = await stream.next(2 ** 31 - 1);
        } catch {
          return; // ended or closed
        }
        if (frame.comment !== undefined) continue;
        this.frames.push(frame);
        if (frame.id !== undefined) this.lastId = frame.id;
        if (frame.event === EVENT_TYPE) {
          const envelope = JSON.parse(frame.data ?? 'null') as { id: string; data: { n: number } };
          this.events.push({ n: envelope.data.n, id: frame.id ?? '', envelopeId: envelope.id });
        }
      }
    })();
  }

  get ready(): SseFrame | undefined {
    return this.frames.find((f) => f.event === 'ready');
  }

  async close(): Promise<void> {
    this.stream.close();
    await this.done;
  }
}

/** Opens alice's raw stream on a hub and waits for its `ready`. */
async function openStream(
  base: string,
  user: string,
  options: { lastEventId?: string; query?: string } = {},
): Promise<Recorder> {
  // With a query credential (a ticket) there is no header: a Bearer header would win over it.
  const headers: Record<string, string> = options.query ? {} : { authorization: `Bearer ${userToken(user)}` };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const stream = await openRaw(`${base}/v1/stream${options.query ?? ''}`, { headers });
  if (stream.response.status !== 200) {
    throw new Error(`stream on ${base} → ${stream.response.status} ${await stream.response.text()}`);
  }
  const recorder = new Recorder(stream);
  cleanups.push(() => recorder.stream.close());
  await waitFor(`ready on ${base}`, () => recorder.frames.length > 0, 5000);
  expect(recorder.frames[0].event).toBe('ready');
  return recorder;
}

/** The hub output, for failure messages. */
const outputOf = (hub: HubProcess) => {
  const lines = hub.output
    .join('')
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => line && !/\[(InstanceLoader|RoutesResolver|RouterExplorer|NestFactory)\]/.test(line));
  return `--- hub ${hub.port} (pid ${hub.pid}) ---\n${lines.slice(-30).join('\n')}`;
};

// ---------------------------------------------------------------- setup

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((stop) => stop()));

let redis: RedisServer;
const hubs: HubProcess[] = [];
let A: HubProcess;
let B: HubProcess;
let C: HubProcess;

async function startHub(env: Record<string, string> = {}): Promise<HubProcess> {
  const hub = await startHubProcess({ REDIS_URL: redis.url, ...env });
  hubs.push(hub);
  await hub.ready();
  return hub;
}

beforeAll(async () => {
  redis = await startRedis();
  [A, B, C] = await Promise.all([startHub(), startHub(), startHub()]);
});

afterAll(async () => {
  await Promise.all(hubs.map((hub) => hub.kill('SIGKILL').catch(() => undefined)));
  await redis?.stop();
});

/** On a failed expectation, shows what the hubs printed. */
async function withHubOutput(body: () => Promise<void>, only?: () => HubProcess[]): Promise<void> {
  try {
    await body();
  } catch (err) {
    const output = (only?.() ?? hubs).map(outputOf).join('\n');
    if (err instanceof Error) err.message += `\n\n${output}`;
    throw err;
  }
}

// ---------------------------------------------------------------- tests

describe('fan-out across instances', () => {
  it('delivers 1,000 rapid events published on B to a stream on A, each once, in publish order', () =>
    withHubOutput(async () => {
      const alice = newUser('alice');
      const stream = await openStream(A.url, alice);

      // 10 publishers at once, each publishing its 100 in sequence: the order
      // of one publisher's events is guaranteed, across publishers it is not.
      const PUBLISHERS = 10;
      const EACH = 100;
      const TOTAL = PUBLISHERS * EACH;
      await Promise.all(
        range(0, PUBLISHERS).map(async (p) => {
          for (let i = 0; i < EACH; i++) await publish(B, [alice], { n: p * EACH + i });
        }),
      );
      await waitFor(`${TOTAL} events`, () => stream.events.length >= TOTAL, 15_000, () => `got ${stream.events.length}`);
      await sleep(300); // nothing more (no duplicate) may follow
      await stream.close();

      const ns = stream.events.map((e) => e.n);
      expect(duplicates(ns)).toEqual([]);
      expect([...ns].sort((a, b) => a - b)).toEqual(range(0, TOTAL));
      for (let p = 0; p < PUBLISHERS; p++) {
        expect(ns.filter((n) => n >= p * EACH && n < (p + 1) * EACH)).toEqual(range(p * EACH, (p + 1) * EACH));
      }
      expect(notIncreasing(stream.events.map((e) => e.id))).toEqual([]);
      expect(stream.events.filter((e) => e.id !== e.envelopeId)).toEqual([]);
    }), TIMEOUT);

  it('delivers every event to both tabs of a user, open on two different instances', () =>
    withHubOutput(async () => {
      const alice = newUser('alice');
      const tabA = await openStream(A.url, alice);
      const tabB = await openStream(B.url, alice);
      const TOTAL = 200;
      for (let n = 0; n < TOTAL; n++) await publish(C, [alice], { n });
      await waitFor(
        `${TOTAL} events on both tabs`,
        () => tabA.events.length >= TOTAL && tabB.events.length >= TOTAL,
        10_000,
        () => `tab on A: ${tabA.events.length}, tab on B: ${tabB.events.length}`,
      );
      await sleep(200);
      await Promise.all([tabA.close(), tabB.close()]);

      for (const tab of [tabA, tabB]) {
        expect(tab.events.map((e) => e.n)).toEqual(range(0, TOTAL));
        expect(notIncreasing(tab.events.map((e) => e.id))).toEqual([]);
      }
      // One id space per user: both tabs saw the same id for each event.
      expect(tabA.events.map((e) => e.id)).toEqual(tabB.events.map((e) => e.id));
    }), TIMEOUT);
});

describe('reconnecting to another instance', () => {
  it('loses and repeats nothing when the client hops between instances with Last-Event-ID while events keep coming', () =>
    withHubOutput(async () => {
      const alice = newUser('alice');
      const TOTAL = 400;
      const PER_SESSION = 50;
      const route = [A, C, B, A, C, B, A];

      let session = await openStream(route[0].url, alice);
      expect(session.ready!.id).toBe('0'); // alice has no events yet

      let published = 0;
      const publisher = (async () => {
        for (let n = 0; n < TOTAL; n++) {
          await publish(B, [alice], { n });
          published++;
          await sleep(5);
        }
      })();
      publisher.catch(() => undefined); // awaited below; don't let a failure go unhandled meanwhile

      const received: Received[] = [];
      const hops: { to: number; sent: string; readyId: string | undefined; waiting: number }[] = [];
      for (let hop = 1; hop < route.length; hop++) {
        const target = received.length + PER_SESSION;
        await waitFor(
          `${PER_SESSION} events in session ${hop}`,
          () => received.length + session.events.length >= Math.min(target, TOTAL),
          10_000,
          () => `have ${received.length + session.events.length}, published ${published}`,
        );
        await session.close();
        received.push(...session.events);
        const last = session.lastId!;
        // Immediately reopen elsewhere, as EventSource would, with the last id seen.
        session = await openStream(route[hop].url, alice, { lastEventId: last });
        // Events stored (202) by the time the new stream was ready and not seen by the old one: the seam.
        const waiting = published - received.length;
        hops.push({ to: route[hop].port, sent: last, readyId: session.ready?.id, waiting });
      }
      await publisher;
      await waitFor(
        `all ${TOTAL} events`,
        () => received.length + session.events.length >= TOTAL,
        10_000,
        () => `have ${received.length + session.events.length}`,
      );
      await sleep(200);
      await session.close();
      received.push(...session.events);

      expect(duplicates(received.map((e) => e.n))).toEqual([]);
      expect(received.map((e) => e.n)).toEqual(range(0, TOTAL));
      expect(notIncreasing(received.map((e) => e.id))).toEqual([]);
      expect(received.filter((e) => e.id !== e.envelopeId)).toEqual([]);
      // Each reopen echoed the id it was given; events were published across the seams.
      expect(hops.filter((h) => h.readyId !== h.sent)).toEqual([]);
      expect(hops.filter((h) => h.waiting > 0).length).toBeGreaterThanOrEqual(hops.length / 2);
    }), TIMEOUT);

  it('an EventSource whose instance is SIGKILLed reconnects through the proxy to another and ends with every event once', () =>
    withHubOutput(async () => {
      const victim = await startHub();
      const proxy: TcpProxy = await startProxy([victim.port]);
      cleanups.push(() => void proxy.close());
      const alice = newUser('alice');
      const es = new EventSource(`${proxy.url}/v1/stream?access_token=${userToken(alice)}`);
      cleanups.push(() => es.close());

      const received: Received[] = [];
      const readies: { id: string; lastSeen: string | undefined }[] = [];
      const errors: string[] = [];
      es.addEventListener('ready', (event) => readies.push({ id: event.lastEventId, lastSeen: received.at(-1)?.id }));
      es.addEventListener(EVENT_TYPE, (event) => {
        const envelope = JSON.parse(event.data) as { id: string; data: { n: number } };
        received.push({ n: envelope.data.n, id: event.lastEventId, envelopeId: envelope.id });
      });
      es.addEventListener('error', (event) => errors.push(String(event.message ?? event.type)));
      await waitFor('the first ready', () => readies.length === 1, 5000);

      const TOTAL = 300;
      let published = 0;
      const publisher = (async () => {
        for (let n = 0; n < TOTAL; n++) {
          await publish(B, [alice], { n }); // B survives
          published++;
          await sleep(10);
        }
      })();
      publisher.catch(() => undefined);

      await waitFor('100 events before the kill', () => received.length >= 100, 10_000);
      await victim.kill('SIGKILL');
      const receivedAtKill = received.length;
      const publishedAtKill = published;
      // The balancer: the dead instance stays listed (refused, so skipped) next to a live one.
      proxy.setTargets([victim.port, B.port]);

      await waitFor('the reconnect', () => readies.length === 2, 10_000, () => `errors: ${errors.join(', ')}`);
      await publisher;
      await waitFor(`all ${TOTAL} events`, () => received.length >= TOTAL, 10_000, () => `got ${received.length}`);
      await sleep(200);
      es.close();

      expect(receivedAtKill).toBeLessThan(TOTAL); // killed mid-way
      expect(publishedAtKill).toBeLessThan(TOTAL);
      expect(duplicates(received.map((e) => e.n))).toEqual([]);
      expect(received.map((e) => e.n)).toEqual(range(0, TOTAL));
      expect(notIncreasing(received.map((e) => e.id))).toEqual([]);
      expect(received.filter((e) => e.id !== e.envelopeId)).toEqual([]);
      expect(readies).toHaveLength(2);
      // The reconnect sent the last id seen (ready echoes it).
      expect(readies[1].id).toBe(readies[1].lastSeen);
    }), TIMEOUT);
});

describe('stream tickets across instances', () => {
  it('a ticket issued on A is redeemed once on B; a second use on A is refused', () =>
    withHubOutput(async () => {
      const alice = newUser('alice');
      const issued = await fetch(`${A.url}/v1/stream-tickets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${userToken(alice)}` },
      });
      expect(issued.ok).toBe(true);
      const { ticket, expiresIn } = (await issued.json()) as { ticket: string; expiresIn: number };
      expect(typeof ticket).toBe('string');
      expect(expiresIn).toBe(30);

      const onB = await openStream(B.url, alice, { query: `?ticket=${encodeURIComponent(ticket)}` });
      expect(onB.stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(JSON.parse(onB.ready!.data!)).toMatchObject({ userId: alice });
      // It is alice's stream: an event for her arrives on it.
      await publish(C, [alice], { n: 1 });
      await waitFor('the event on the ticket stream', () => onB.events.length === 1, 5000);
      await onB.close();

      const again = await fetch(`${A.url}/v1/stream?ticket=${encodeURIComponent(ticket)}`);
      expect(again.status).toBe(401);
      expect(again.headers.get('content-type')).toMatch(/json/);
      await again.text();
    }), TIMEOUT);
});

describe('replay window across instances', () => {
  let W1: HubProcess;
  let W2: HubProcess;

  beforeAll(async () => {
    [W1, W2] = await Promise.all([startHub({ REPLAY_MAX_EVENTS: '5' }), startHub({ REPLAY_MAX_EVENTS: '5' })]);
  }, TIMEOUT);

  it('with REPLAY_MAX_EVENTS=5, a client 20 events behind reconnects on another instance and gets ready, reset (id = newest), then live', () =>
    withHubOutput(async () => {
      const alice = newUser('alice');
      const first = await openStream(W1.url, alice);
      await publish(W2, [alice], { n: 0 });
      await waitFor('the first event', () => first.events.length === 1, 5000);
      await first.close();
      const firstId = first.events[0].id;

      const AWAY = 20;
      for (let n = 1; n <= AWAY; n++) await publish(W2, [alice], { n });

      // Where alice's log ends now: a fresh subscribe's ready carries the newest id.
      const probe = await openStream(W2.url, alice);
      const newest = probe.ready!.id!;
      await probe.close();
      expect(compareIds(newest, firstId)).toBeGreaterThan(0);

      const back = await openStream(W2.url, alice, { lastEventId: firstId });
      await waitFor('ready and one more frame', () => back.frames.length >= 2, 5000);
      await publish(W1, [alice], { n: AWAY + 1 });
      await waitFor('the live event', () => back.events.some((e) => e.n === AWAY + 1), 5000, () =>
        JSON.stringify(back.frames.slice(0, 5)),
      );
      await sleep(100);
      await back.close();

      // ready, reset, then only the live event: none of the 20 missed events is replayed.
      expect(back.frames.map((f) => `${f.event} ${f.id}`)).toEqual([
        `ready ${firstId}`,
        `reset ${newest}`,
        `${EVENT_TYPE} ${back.events.at(-1)?.id}`,
      ]);
      const [ready, reset, ...rest] = back.frames;
      expect(ready).toMatchObject({ event: 'ready', id: firstId });
      expect(reset).toMatchObject({ event: 'reset', id: newest });
      expect(JSON.parse(reset.data!)).toEqual({ reason: 'replay-window-exceeded' });
      // Live delivery continues after the reset's id.
      expect(rest.map((f) => f.event)).toEqual([EVENT_TYPE]);
      expect(back.events.map((e) => e.n)).toEqual([AWAY + 1]);
      expect(compareIds(back.events[0].id, newest)).toBeGreaterThan(0);
    }, () => [W1, W2]), TIMEOUT);
});
