/**
 * Topics, scaled out, with real processes: hubs (dist/) sharing a private
 * redis-server, as behind a load balancer. A stream follows its user and the
 * topics of its URL (`?topic=post:42`, admitted by the token's `topics`
 * claim); its frame ids carry its position in the user and in every topic, so
 * a reconnect on any instance replays what each source missed, once, in order.
 *
 * Every event carries a number in its data ({n}) and says where it came from
 * (its envelope's `topic`, none for the user's own events), so loss,
 * duplicates, order and routing are checked exactly, per source. Two hubs
 * with a small replay window (REPLAY_MAX_EVENTS=5) serve every test; events
 * go in through either hub's HTTP API and through the Redis ingress.
 */
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import { compareEventIds } from '@herald/contracts/event-id';
import { decodeStreamPosition, type DecodedStreamPosition, sourceHash } from '@herald/contracts/stream-position';
import { topicSource } from '@herald/contracts/topic';
import { call, expectError, publish as publishEvent } from './support/http.js';
import { withHubOutput } from './support/hub-output.js';
import { HubProcess, RedisServer, startHubProcess, startRedis } from './support/processes.js';
import { SEQUENCE_TYPE, SequenceRecorder } from './support/recorder.js';
import { range } from './support/sequences.js';
import { TEST_SECRET } from './support/tokens.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

/** Per test (ESM jest has no global `jest.setTimeout`). */
const TIMEOUT = 30_000;
const EVENT_TYPE = SEQUENCE_TYPE;
const INGRESS = 'herald:ingress';
/** The source label of a user's own events (parentheses are not in a topic's charset). */
const USER = '(user)';

// ---------------------------------------------------------------- helpers

/** A user token whose `topics` claim lists these patterns (an exact topic, or a prefix ending in `*`). */
function tokenFor(user: string, topics: string[]): string {
  return jwt.sign({ sub: user, topics }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
}

/** Topic names no other test (nor another run on a shared Redis) uses: `post:t-<pid>-<k>-<suffix>`. */
function newTopics(kind: string, suffixes: string[]): string[] {
  const base = newUser('t');
  return suffixes.map((suffix) => `${kind}:${base}-${suffix}`);
}

/** One event as a stream received it. */
interface Got {
  /** Its topic, or USER for the user's own events. */
  source: string;
  n: number;
  /** The envelope's `id`: the event's id in its source's log. */
  id: string;
  /** The frame's `id:` line: the stream's position after it. */
  frameId: string;
}

/** The numbered events a stream received, in order. */
function eventsOf(stream: Pick<SequenceRecorder, 'frames'>): Got[] {
  return stream.frames
    .filter((f) => f.event === EVENT_TYPE)
    .map((f) => {
      const envelope = JSON.parse(f.data!) as { id: string; topic?: string; data: { n: number } };
      return { source: envelope.topic ?? USER, n: envelope.data.n, id: envelope.id, frameId: f.id ?? '' };
    });
}

/** The n received, per source (in order). */
function nsBySource(events: Got[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const e of events) (out[e.source] ??= []).push(e.n);
  return out;
}

/** The ids (in their source's log) received, per source (in order). */
function idsBySource(events: Got[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of events) (out[e.source] ??= []).push(e.id);
  return out;
}

/** A stream id, decoded; fails the test if it is not one. */
function decode(id: string | undefined): DecodedStreamPosition {
  const position = id === undefined ? null : decodeStreamPosition(id);
  if (position === null) throw new Error(`not a stream id: ${JSON.stringify(id)}`);
  return position;
}

/** The position a stream id carries for a topic (undefined: the id has none). */
function positionIn(id: string | undefined, topic: string): string | undefined {
  return decode(id).topics.get(sourceHash(topicSource(topic)));
}

/** Positions of a stream id as a plain object (topic → id, user under USER), for comparisons. */
function positionsOf(id: string | undefined, topics: string[]): Record<string, string | undefined> {
  const decoded = decode(id);
  const out: Record<string, string | undefined> = { [USER]: decoded.user };
  for (const topic of topics) out[topic] = positionIn(id, topic);
  return out;
}

/**
 * Every event frame's id carries, for the event's source, the event's own id
 * (for a user event of a stream without topics, the frame id is the event id).
 */
function framePositionMismatches(events: Got[]): string[] {
  return events
    .filter((e) => (e.source === USER ? decode(e.frameId).user : positionIn(e.frameId, e.source)) !== e.id)
    .map((e) => `n=${e.n} (${e.source}) id ${e.id} but frame id ${e.frameId}`);
}

/** Ids in a list that are not strictly increasing. */
function notIncreasing(ids: string[]): string[] {
  return ids.slice(1).filter((id, i) => compareEventIds(ids[i], id) >= 0);
}

// ---------------------------------------------------------------- setup

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((stop) => stop()));

let redis: RedisServer;
let ingress: Redis;
const hubs: HubProcess[] = [];
let A: HubProcess;
let B: HubProcess;

/**
 * A hub process on the test's Redis, ready. A start that times out is tried
 * once more: on a loaded machine (or while dist/ is being rebuilt) a start
 * can take longer than the 10 s the helper allows; a hub that cannot start
 * fails twice.
 */
async function startHub(env: Record<string, string>): Promise<HubProcess> {
  let hub: HubProcess;
  try {
    hub = await startHubProcess({ REDIS_URL: redis.url, ...env });
  } catch {
    hub = await startHubProcess({ REDIS_URL: redis.url, ...env });
  }
  hubs.push(hub);
  await hub.ready();
  return hub;
}

/**
 * Each source's log keeps its 5 newest events: the replay tests stay within
 * it (at most 5 missed per source), the reset test goes past it.
 */
const REPLAY_MAX_EVENTS = 5;

beforeAll(async () => {
  redis = await startRedis();
  ingress = new Redis(redis.url);
  const env = { REPLAY_MAX_EVENTS: String(REPLAY_MAX_EVENTS) };
  [A, B] = await Promise.all([startHub(env), startHub(env)]);
}, 45_000);

afterAll(async () => {
  ingress?.disconnect();
  await Promise.all(hubs.map((hub) => hub.kill('SIGKILL').catch(() => undefined)));
  await redis?.stop();
});

/**
 * Opens `user`'s stream on a hub, following `topics` (`token` admits them; by
 * default a plain user token, no `topics` claim), and waits for its `ready`,
 * which must be the first frame.
 */
async function openStream(
  hub: HubProcess,
  user: string,
  options: { token?: string; topics?: string[]; lastEventId?: string; lastEventIdInQuery?: boolean } = {},
): Promise<SequenceRecorder> {
  const params = new URLSearchParams();
  for (const topic of options.topics ?? []) params.append('topic', topic);
  let lastEventId = options.lastEventId;
  if (lastEventId !== undefined && options.lastEventIdInQuery) {
    params.set('lastEventId', lastEventId);
    lastEventId = undefined;
  }
  const query = params.size > 0 ? `?${params}` : '';
  const stream = await SequenceRecorder.open(hub, user, { token: options.token, query, lastEventId });
  cleanups.push(() => stream.stream.close());
  expect(stream.frames[0].event).toBe('ready');
  return stream;
}

/** POST /v1/events with the service token; anything but 202 throws. Resolves to the answer's body. */
async function publish(hub: HubProcess, body: Record<string, unknown>): Promise<unknown> {
  const response = await publishEvent(hub, { type: EVENT_TYPE, ...body });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`publish on ${hub.url} → ${response.status} ${text}`);
  return JSON.parse(text);
}

/** Event `n` to a topic (topics only: it travels live, no inbox), through `hub`. */
const toTopic = (hub: HubProcess, topic: string, n: number) => publish(hub, { topics: [topic], data: { n } });

/** Event `n` to a user, live (`persist: false`: stored in the log by the time of the 202). */
const toUser = (hub: HubProcess, user: string, n: number) => publish(hub, { recipients: [user], data: { n }, persist: false });

/** `XADD herald:ingress * envelope <json>`: one of the hubs takes it in. */
const viaIngress = (body: Record<string, unknown>) => ingress.xadd(INGRESS, '*', 'envelope', JSON.stringify({ type: EVENT_TYPE, ...body }));

/** Waits until the stream has received event `n`. */
const waitForN = (stream: SequenceRecorder, n: number, timeoutMs = 5000) =>
  waitFor(`event ${n} on ${stream.user}'s stream`, () => eventsOf(stream).some((e) => e.n === n), timeoutMs, () =>
    JSON.stringify(stream.frames.slice(-10)),
  );

/** Waits until the stream has received `count` numbered events. */
const waitForCount = (stream: SequenceRecorder, count: number, timeoutMs = 5000) =>
  waitFor(`${count} events on ${stream.user}'s stream`, () => eventsOf(stream).length >= count, timeoutMs, () =>
    `got ${eventsOf(stream).length}: ${JSON.stringify(stream.frames.slice(-10))}`,
  );

/** The `ready` frame's data. */
const readyData = (stream: SequenceRecorder) => JSON.parse(stream.ready!.data!) as { userId: string; connectionId: string; topics: string[] };

// ---------------------------------------------------------------- tests

describe('fan-out of a topic across instances', () => {
  it('an event published on B to a topic reaches every stream following it on A and on B, once each, and no other stream', () =>
    withHubOutput(() => hubs, async () => {
      const [topic, other] = newTopics('post', ['main', 'other']);
      const alice = newUser('alice'); // two tabs, one per instance; her claim is a prefix
      const bob = newUser('bob'); // claim: a prefix
      const erin = newUser('erin'); // claim: exactly the topic
      const carol = newUser('carol'); // follows another topic only
      const dave = newUser('dave'); // follows nothing: his own events only

      const followers = [
        await openStream(A, alice, { token: tokenFor(alice, ['post:*']), topics: [topic] }),
        await openStream(B, alice, { token: tokenFor(alice, ['post:*']), topics: [topic] }),
        await openStream(A, bob, { token: tokenFor(bob, ['post:*']), topics: [topic] }),
        await openStream(B, erin, { token: tokenFor(erin, [topic]), topics: [topic] }),
      ];
      const carolOnA = await openStream(A, carol, { token: tokenFor(carol, ['post:*']), topics: [other] });
      const daveOnA = await openStream(A, dave);
      const daveOnB = await openStream(B, dave);

      for (const stream of followers) {
        expect(readyData(stream)).toEqual({ userId: stream.user, connectionId: expect.any(String), topics: [topic] });
      }
      expect(readyData(carolOnA).topics).toEqual([other]);
      expect(readyData(daveOnA).topics).toEqual([]);
      // Connection ids are unique across instances.
      const connectionIds = [...followers, carolOnA, daveOnA, daveOnB].map((s) => readyData(s).connectionId);
      expect(new Set(connectionIds).size).toBe(connectionIds.length);

      expect(await toTopic(B, topic, 1)).toEqual({ accepted: 0, topics: 1 });
      // Then, through the same instance, one event to each of the other sources, and a second one to the topic:
      // once each has arrived, the first would have too, had it been sent to a stream it must not reach.
      await toTopic(B, other, 2);
      await toUser(B, dave, 3);
      await toTopic(B, topic, 4);
      for (const stream of followers) await waitForN(stream, 4);
      await waitForN(carolOnA, 2);
      await waitForN(daveOnA, 3);
      await waitForN(daveOnB, 3);

      const got = followers.map(eventsOf);
      for (const events of got) {
        expect(events.map((e) => `${e.source} ${e.n}`)).toEqual([`${topic} 1`, `${topic} 4`]);
        expect(framePositionMismatches(events)).toEqual([]);
      }
      // One id per event in the topic's log, whichever instance delivered it.
      const topicIds = got[0].map((e) => e.id);
      expect(notIncreasing(topicIds)).toEqual([]);
      for (const events of got) expect(events.map((e) => e.id)).toEqual(topicIds);

      expect(eventsOf(carolOnA).map((e) => `${e.source} ${e.n}`)).toEqual([`${other} 2`]);
      for (const stream of [daveOnA, daveOnB]) {
        const events = eventsOf(stream);
        expect(events.map((e) => `${e.source} ${e.n}`)).toEqual([`${USER} 3`]);
        // No topics: the frame id is the user's event id, as before topics.
        expect(events[0].frameId).toBe(events[0].id);
      }
      // Only `ready` and the numbered events: nothing else was sent to any of them.
      for (const stream of [...followers, carolOnA, daveOnA, daveOnB]) {
        expect(stream.frames.filter((f) => f.event !== 'ready' && f.event !== EVENT_TYPE)).toEqual([]);
      }
    }), TIMEOUT);
});

describe('replay across instances', () => {
  it('a stream of A following its user and 3 topics reconnects on B and gets exactly what each source missed, once, in order, then live events', () =>
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const [t1, t2] = newTopics('post', ['a', 'b']);
      const [t3] = newTopics('team', ['c']);
      const topics = [t1, t2, t3];
      const token = tokenFor(alice, ['post:*', t3]);
      // Another tab of alice's, open throughout: it sees every event, so each one is known to be stored (and its id) before the next.
      const watcher = await openStream(A, alice, { token, topics });
      const first = await openStream(A, alice, { token, topics });

      type Step = { n: number; to: string; via: 'B' | 'A' | 'ingress' };
      const run = async (steps: Step[]) => {
        for (const { n, to, via } of steps) {
          const body = to === USER ? { recipients: [alice], data: { n } } : { topics: [to], data: { n } };
          if (via === 'ingress') await viaIngress(body); // a user event from the ingress is persisted (inbox + outbox)
          else if (to === USER) await toUser(via === 'A' ? A : B, alice, n);
          else await toTopic(via === 'A' ? A : B, to, n);
          await waitForN(watcher, n);
        }
      };

      // Seen before the disconnect: some in the user, some in each topic.
      await run([
        { n: 1, to: USER, via: 'B' },
        { n: 2, to: t1, via: 'B' },
        { n: 3, to: t2, via: 'ingress' },
        { n: 4, to: t3, via: 'B' },
        { n: 5, to: t1, via: 'B' },
        { n: 6, to: USER, via: 'ingress' },
      ]);
      await waitForCount(first, 6);
      await first.close();
      const before = eventsOf(first);
      expect(before.map((e) => e.n)).toEqual(range(1, 7));
      const lastId = first.lastId!;
      expect(lastId).toBe(before.at(-1)!.frameId);
      // The last id carries the newest position in each source.
      expect(positionsOf(lastId, topics)).toEqual({
        [USER]: before.find((e) => e.n === 6)!.id,
        [t1]: before.find((e) => e.n === 5)!.id,
        [t2]: before.find((e) => e.n === 3)!.id,
        [t3]: before.find((e) => e.n === 4)!.id,
      });

      // Missed while away: through B and through the ingress, into every source.
      const missed: Step[] = [
        { n: 10, to: USER, via: 'B' },
        { n: 11, to: t1, via: 'B' },
        { n: 12, to: t2, via: 'B' },
        { n: 13, to: t3, via: 'ingress' },
        { n: 14, to: USER, via: 'ingress' },
        { n: 15, to: t1, via: 'ingress' },
        { n: 16, to: t3, via: 'B' },
        { n: 17, to: t2, via: 'ingress' },
        { n: 18, to: t1, via: 'B' },
      ];
      await run(missed);

      const second = await openStream(B, alice, { token, topics, lastEventId: lastId });
      expect(readyData(second)).toEqual({ userId: alice, connectionId: expect.any(String), topics });
      // ready says where the stream resumes: where the client was.
      expect(positionsOf(second.ready!.id, topics)).toEqual(positionsOf(lastId, topics));
      await waitForCount(second, missed.length);

      // Then live, into every source, through A.
      const live: Step[] = [
        { n: 20, to: t3, via: 'A' },
        { n: 21, to: USER, via: 'A' },
        { n: 22, to: t2, via: 'A' },
        { n: 23, to: t1, via: 'ingress' },
      ];
      await run(live);
      await waitForCount(second, missed.length + live.length);
      // A last one through B, after which nothing else may be pending.
      await run([{ n: 24, to: t1, via: 'B' }]);
      await waitForN(second, 24);

      const got = eventsOf(second);
      const expected = [...missed, ...live, { n: 24, to: t1 }];
      const per = (steps: { n: number; to: string }[], source: string) => steps.filter((s) => s.to === source).map((s) => s.n);
      expect(nsBySource(got)).toEqual({
        [USER]: per(expected, USER),
        [t1]: per(expected, t1),
        [t2]: per(expected, t2),
        [t3]: per(expected, t3),
      });
      // The replayed ones first, then the live ones.
      expect(got.slice(0, missed.length).map((e) => e.n).sort((a, b) => a - b)).toEqual(missed.map((s) => s.n));
      // The very events the watcher saw (same ids in each source's log), each after the position the client had.
      const watched = eventsOf(watcher).filter((e) => expected.some((s) => s.n === e.n));
      expect(idsBySource(got)).toEqual(idsBySource(watched));
      const was = positionsOf(lastId, topics);
      expect(got.filter((e) => compareEventIds(e.id, was[e.source]!) <= 0).map((e) => e.n)).toEqual([]);
      for (const ids of Object.values(idsBySource(got))) expect(notIncreasing(ids)).toEqual([]);
      expect(framePositionMismatches(got)).toEqual([]);
      expect(second.frames.map((f) => f.event).filter((e) => e !== EVENT_TYPE)).toEqual(['ready']);
    }), TIMEOUT);

  it('a stream following 30 topics reconnects on the other instance (lastEventId in the query) and gets every missed event of every topic once', () =>
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const topics = newTopics('post', range(0, 30).map(String));
      const token = tokenFor(alice, [topics[0].replace(/-0$/, '-*')]);
      const first = await openStream(A, alice, { token, topics });
      expect(readyData(first).topics).toEqual(topics);

      // One event per topic while connected, published in parallel (each topic's in order).
      const perTopic = (k: number) => Promise.all(topics.map((topic, i) => toTopic(B, topic, 100 * i + k)));
      await perTopic(0);
      await waitForCount(first, topics.length);
      await first.close();
      const lastId = first.lastId!;
      // 30 topic positions (and the user's) in one id, short enough for a header or a URL.
      expect(lastId.length).toBeLessThan(600);
      const was = positionsOf(lastId, topics);
      const seen = eventsOf(first);
      for (const [i, topic] of topics.entries()) expect(was[topic]).toBe(seen.find((e) => e.n === 100 * i)!.id);

      // Three per topic while away.
      const MISSED = 3;
      for (let k = 1; k <= MISSED; k++) await perTopic(k);

      const second = await openStream(B, alice, { token, topics, lastEventId: lastId, lastEventIdInQuery: true });
      expect(positionsOf(second.ready!.id, topics)).toEqual(was);
      await waitForCount(second, topics.length * MISSED, 10_000);
      await perTopic(MISSED + 1); // then live
      await waitForCount(second, topics.length * (MISSED + 1), 10_000);

      const got = eventsOf(second);
      expect(got).toHaveLength(topics.length * (MISSED + 1));
      expect(nsBySource(got)).toEqual(Object.fromEntries(topics.map((topic, i) => [topic, range(1, MISSED + 2).map((k) => 100 * i + k)])));
      for (const ids of Object.values(idsBySource(got))) expect(notIncreasing(ids)).toEqual([]);
      expect(got.filter((e) => compareEventIds(e.id, was[e.source]!) <= 0).map((e) => e.n)).toEqual([]);
      expect(framePositionMismatches(got)).toEqual([]);
      expect(second.frames.map((f) => f.event).filter((e) => e !== EVENT_TYPE)).toEqual(['ready']);
      // Ids stay short however far the stream gets.
      expect(Math.max(...got.map((e) => e.frameId.length))).toBeLessThan(600);
    }), TIMEOUT);
});

describe('replay window of a topic, across instances', () => {
  it('with REPLAY_MAX_EVENTS=5, a reconnect after 8 events on one topic gets one reset naming it, and the missed events of the other topic (5, the window full) and of the user', () =>
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const [flooded, quiet] = newTopics('post', ['flooded', 'quiet']);
      const topics = [flooded, quiet];
      const token = tokenFor(alice, ['post:*']);
      const watcher = await openStream(B, alice, { token, topics });
      const first = await openStream(A, alice, { token, topics });

      await toUser(B, alice, 1);
      await toTopic(B, flooded, 2);
      await toTopic(B, quiet, 3);
      await waitForCount(first, 3);
      await first.close();
      const lastId = first.lastId!;

      // Away: 8 in the flooded topic (its log keeps 5), exactly 5 in the quiet one (the window, full), 2 to the user.
      const floodedNs = range(10, 10 + REPLAY_MAX_EVENTS + 3);
      const quietNs = range(20, 20 + REPLAY_MAX_EVENTS);
      const userNs = [30, 31];
      for (const n of floodedNs) await toTopic(n % 2 ? A : B, flooded, n);
      for (const n of quietNs) await toTopic(n % 2 ? A : B, quiet, n);
      for (const n of userNs) await toUser(B, alice, n);
      await waitForCount(watcher, 3 + floodedNs.length + quietNs.length + userNs.length);
      const floodedHead = eventsOf(watcher).find((e) => e.n === floodedNs.at(-1))!.id;

      const second = await openStream(B, alice, { token, topics, lastEventId: lastId });
      await waitFor(
        'the reset and the replay',
        () => second.frames.some((f) => f.event === 'reset') && eventsOf(second).length >= quietNs.length + userNs.length,
        5000,
        () => JSON.stringify(second.frames),
      );
      // Then live, in the flooded topic: from its head on.
      await toTopic(A, flooded, 40);
      await toTopic(A, quiet, 41);
      await waitForN(second, 40);
      await waitForN(second, 41);

      const resets = second.frames.filter((f) => f.event === 'reset');
      expect(resets).toHaveLength(1);
      expect(JSON.parse(resets[0].data!)).toEqual({ reason: 'replay-window-exceeded', topic: flooded });
      // The reset moves the stream to the topic's newest event, and keeps its place in the others.
      expect(positionIn(resets[0].id, flooded)).toBe(floodedHead);
      const resetAt = second.frames.indexOf(resets[0]);
      const lastBefore = (source: string) =>
        eventsOf({ frames: second.frames.slice(0, resetAt) }).filter((e) => e.source === source).at(-1)?.id;
      expect(positionIn(resets[0].id, quiet)).toBe(lastBefore(quiet) ?? positionIn(lastId, quiet));
      expect(decode(resets[0].id).user).toBe(lastBefore(USER) ?? decode(lastId).user);

      const got = eventsOf(second);
      expect(nsBySource(got)).toEqual({ [USER]: userNs, [quiet]: [...quietNs, 41], [flooded]: [40] });
      expect(idsBySource(got)[quiet].slice(0, quietNs.length)).toEqual(
        eventsOf(watcher).filter((e) => quietNs.includes(e.n)).map((e) => e.id),
      );
      expect(compareEventIds(got.find((e) => e.n === 40)!.id, floodedHead)).toBeGreaterThan(0);
      // ready, then the reset before anything of the flooded topic.
      expect(second.frames[0].event).toBe('ready');
      expect(second.frames.findIndex((f) => f.event === 'reset')).toBeLessThan(
        second.frames.findIndex((f) => f.event === EVENT_TYPE && JSON.parse(f.data!).topic === flooded),
      );
      expect(framePositionMismatches(got)).toEqual([]);
      expect(second.frames.map((f) => f.event).filter((e) => e !== EVENT_TYPE)).toEqual(['ready', 'reset']);
    }), TIMEOUT);
});

describe('changing the topics of an open stream', () => {
  it('PUT on the instance holding the stream: it gets `topics`, then events of the added topic (published on the other instance) and no longer those of the removed one; a reconnect replays the added topic', () =>
    withHubOutput(() => hubs, async () => {
      const alice = newUser('alice');
      const bob = newUser('bob');
      const [removed, added] = newTopics('post', ['removed', 'added']);
      const token = tokenFor(alice, ['post:*']);
      const stream = await openStream(A, alice, { token, topics: [removed] });
      const { connectionId } = readyData(stream);
      // bob follows the added topic throughout, on B: he shows what it holds.
      const watcher = await openStream(B, bob, { token: tokenFor(bob, [added]), topics: [added] });

      await toTopic(B, removed, 1);
      await toTopic(B, added, 2); // before the change: not for alice's stream
      await waitForN(stream, 1);
      await waitForN(watcher, 2);
      const addedHead = eventsOf(watcher)[0].id;

      const reply = await call(A, 'PUT', `/v1/streams/${encodeURIComponent(connectionId)}/topics`, {
        authorization: `Bearer ${token}`,
        body: { topics: [added] },
      });
      expect({ status: reply.status, body: reply.body }).toEqual({ status: 200, body: { connectionId, topics: [added] } });

      const change = await stream.waitForFrame((f) => f.event === 'topics');
      expect(JSON.parse(change.data!)).toEqual({ topics: [added] });
      // Its id: the added topic at its newest event, the removed one gone.
      expect(positionIn(change.id, added)).toBe(addedHead);
      expect(positionIn(change.id, removed)).toBeUndefined();
      expect(decode(change.id).topics.size).toBe(1);

      await toTopic(B, removed, 3); // no longer followed
      await toTopic(B, added, 4);
      await waitForN(stream, 4);
      await waitForN(watcher, 4);

      expect(eventsOf(stream).map((e) => `${e.source} ${e.n}`)).toEqual([`${removed} 1`, `${added} 4`]);
      expect(stream.frames.map((f) => f.event)).toEqual(['ready', EVENT_TYPE, 'topics', EVENT_TYPE]);
      expect(framePositionMismatches(eventsOf(stream))).toEqual([]);
      await stream.close();
      const lastId = stream.lastId!;
      expect(positionIn(lastId, added)).toBe(eventsOf(watcher).find((e) => e.n === 4)!.id);

      // Away: the added topic, the removed one, and alice herself.
      await toTopic(B, added, 5);
      await toTopic(B, removed, 6);
      await toTopic(A, added, 7);
      await toUser(B, alice, 8);
      await waitForN(watcher, 7);

      const back = await openStream(B, alice, { token, topics: [added], lastEventId: lastId });
      expect(readyData(back).topics).toEqual([added]);
      await waitForCount(back, 3);
      await toTopic(A, added, 9); // live
      await waitForN(back, 9);
      await waitForN(watcher, 9);

      const got = eventsOf(back);
      expect(nsBySource(got)).toEqual({ [added]: [5, 7, 9], [USER]: [8] });
      expect(idsBySource(got)[added]).toEqual(eventsOf(watcher).filter((e) => [5, 7, 9].includes(e.n)).map((e) => e.id));
      expect(framePositionMismatches(got)).toEqual([]);
      expect(back.frames.map((f) => f.event).filter((e) => e !== EVENT_TYPE)).toEqual(['ready']);
    }), TIMEOUT);

  it('PUT on the instance that does not hold the stream: the change is handed to the one that does, and answered from there', () =>
    withHubOutput(() => hubs, async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const [kept, asked] = newTopics('post', ['kept', 'asked']);
      const token = tokenFor(alice, ['post:*']);
      const stream = await openStream(A, alice, { token, topics: [kept] });
      const { connectionId } = readyData(stream);
      const put = (on: HubProcess, id: string, user: string, topics: string[]) =>
        call(on, 'PUT', `/v1/streams/${encodeURIComponent(id)}/topics`, { authorization: `Bearer ${tokenFor(user, ['post:*'])}`, body: { topics } });

      // Another user's stream, and a stream id naming no live instance, are not found.
      expectError(await put(B, connectionId, bob, [asked]), 404);
      expectError(await put(B, `${'0'.repeat(12)}-1`, alice, [asked]), 404);

      const reply = await put(B, connectionId, alice, [asked]);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ connectionId, topics: [asked] });
      const change = await stream.waitForFrame((f) => f.event === 'topics');
      expect(JSON.parse(change.data!)).toEqual({ topics: [asked] });
      expect([...decode(change.id).topics.keys()]).toEqual([sourceHash(topicSource(asked))]);
      await toTopic(B, kept, 1);
      await toTopic(B, asked, 2);
      await waitForN(stream, 2);
      expect(eventsOf(stream).map((e) => `${e.source} ${e.n}`)).toEqual([`${asked} 2`]);
      expect(stream.frames.map((f) => f.event)).toEqual(['ready', 'topics', EVENT_TYPE]);
    }), TIMEOUT);
});
