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
import { setTimeout as sleep } from 'node:timers/promises';
import { publish as publishEvent } from './support/http.js';
import { withHubOutput } from './support/hub-output.js';
import { HubProcess, RedisServer, startHubProcess, startProxy, startRedis, TcpProxy } from './support/processes.js';
import { Received, SEQUENCE_TYPE, SequenceRecorder } from './support/recorder.js';
import { compareIds, duplicates, notIncreasing, range } from './support/sequences.js';
import { serviceToken, userToken } from './support/tokens.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

/** Per test (ESM jest has no global `jest.setTimeout`). */
const TIMEOUT = 45_000;

// ---------------------------------------------------------------- helpers

/** The numbered events a SequenceRecorder collects. */
const EVENT_TYPE = SEQUENCE_TYPE;

/** POST /v1/events with the service token; anything but 202 throws. */
async function publish(hub: HubProcess, recipients: string[], data: Record<string, unknown>): Promise<void> {
  const response = await publishEvent(hub, { type: EVENT_TYPE, recipients, data });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`publish on ${hub.url} → ${response.status} ${text}`);
}

/** Opens the user's raw stream on a hub (or the proxy) and waits for its `ready`, which must be the first frame. */
async function openStream(
  target: { url: string },
  user: string,
  options: { lastEventId?: string; query?: string } = {},
): Promise<SequenceRecorder> {
  // With a query credential (a ticket) there is no header: a Bearer header would win over it.
  const recorder = await SequenceRecorder.open(target, user, { ...options, token: options.query ? null : undefined });
  cleanups.push(() => recorder.stream.close());
  expect(recorder.frames[0].event).toBe('ready');
  return recorder;
}

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

// ---------------------------------------------------------------- tests

describe('fan-out across instances', () => {
  it('delivers 1,000 rapid events published on B to a stream on A, each once, in publish order', () =>
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const stream = await openStream(A, alice);

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
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const tabA = await openStream(A, alice);
      const tabB = await openStream(B, alice);
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
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const TOTAL = 400;
      const PER_SESSION = 50;
      const route = [A, C, B, A, C, B, A];

      let session = await openStream(route[0], alice);
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
        session = await openStream(route[hop], alice, { lastEventId: last });
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
    withHubOutput(() => hubs, async () => {
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
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const issued = await fetch(`${A.url}/v1/stream-tickets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${userToken(alice)}` },
      });
      expect(issued.ok).toBe(true);
      const { ticket, expiresIn } = (await issued.json()) as { ticket: string; expiresIn: number };
      expect(typeof ticket).toBe('string');
      expect(expiresIn).toBe(30);

      const onB = await openStream(B, alice, { query: `?ticket=${encodeURIComponent(ticket)}` });
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
    const env = { REPLAY_MAX_EVENTS: '5', REPLAY_MAX_BYTES: '5000' };
    [W1, W2] = await Promise.all([startHub(env), startHub(env)]);
  }, TIMEOUT);

  it('with REPLAY_MAX_EVENTS=5, a client 20 events behind reconnects on another instance and gets ready, reset (id = newest), then live', () =>
    withHubOutput(() => [W1, W2], async () => {
      const alice = newUser('alice');
      const first = await openStream(W1, alice);
      await publish(W2, [alice], { n: 0 });
      await waitFor('the first event', () => first.events.length === 1, 5000);
      await first.close();
      const firstId = first.events[0].id;

      const AWAY = 20;
      for (let n = 1; n <= AWAY; n++) await publish(W2, [alice], { n });

      // Where alice's log ends now: a fresh subscribe's ready carries the newest id.
      const probe = await openStream(W2, alice);
      const newest = probe.ready!.id!;
      await probe.close();
      expect(compareIds(newest, firstId)).toBeGreaterThan(0);

      const back = await openStream(W2, alice, { lastEventId: firstId });
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
    }), TIMEOUT);

  it('with REPLAY_MAX_BYTES=5000, keeps the newest events that fit in its bytes (two of ~2 KB): replay after the last dropped one, reset before it', () =>
    withHubOutput(() => [W1, W2], async () => {
      const bob = newUser('bob');
      const live = await openStream(W1, bob);
      for (let n = 1; n <= 4; n++) await publish(W2, [bob], { n, pad: 'x'.repeat(2000) });
      await waitFor('the four events', () => live.events.length === 4, 5000);
      await live.close();
      const ids = live.events.map((e) => e.id);

      const after = await openStream(W2, bob, { lastEventId: ids[1] });
      await waitFor('the two kept events', () => after.events.length === 2, 5000, () => JSON.stringify([ids, after.frames]));
      await sleep(100);
      await after.close();
      expect(after.frames.map((f) => f.event)).toEqual(['ready', EVENT_TYPE, EVENT_TYPE]);
      expect(after.events.map((e) => e.id)).toEqual(ids.slice(2));

      const before = await openStream(W1, bob, { lastEventId: ids[0] });
      await waitFor('ready and reset', () => before.frames.length >= 2, 5000);
      await before.close();
      expect(before.frames.slice(0, 2).map((f) => `${f.event} ${f.id}`)).toEqual([`ready ${ids[0]}`, `reset ${ids[3]}`]);
    }), TIMEOUT);
});

describe('Idempotency-Key across instances', () => {
  it('a live publish retried on another instance with the same key reaches its streams once', () =>
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const stream = await openStream(C, alice);
      const withKey = (hub: HubProcess, n: number, key?: string) =>
        fetch(`${hub.url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${serviceToken()}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
          body: JSON.stringify({ type: EVENT_TYPE, recipients: [alice], data: { n }, persist: false }),
        });
      for (const hub of [A, B, A]) expect((await withKey(hub, 1, `retry-${alice}`)).status).toBe(202);
      expect((await withKey(B, 2)).status).toBe(202);
      await waitFor('the second event', () => stream.events.some((e) => e.n === 2), 5000);
      await sleep(100);
      await stream.close();
      expect(stream.events.map((e) => e.n)).toEqual([1, 2]);
    }), TIMEOUT);
});
