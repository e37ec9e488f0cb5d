/**
 * The fan-out channel (REDIS_FANOUT_CHANNEL_MIN; transport/redis/redis.transport.ts
 * and APPEND in redis-scripts.ts): on one Redis node an event to many recipients
 * travels between instances as one message, naming each recipient and its id,
 * on a channel every instance follows, instead of one message per recipient.
 *
 * First the append script on its own, against a Redis of the test's own and
 * a subscriber that records what each channel carries; then two hub
 * processes on one Redis, with streams on both: every stream gets such an
 * event once, and a user's events keep their order whichever channel each
 * travelled on.
 */
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { PreparedEvent } from '../apps/hub/src/events/stream-message.js';
import type { RedisConnections } from '../apps/hub/src/transport/redis/redis.connections.js';
import type { RedisReplayLog } from '../apps/hub/src/transport/redis/redis-replay-log.js';
import { publish as publishEvent } from './support/http.js';
import { withHubOutput } from './support/hub-output.js';
import { HubProcess, RedisServer, startHubProcess, startRedis } from './support/processes.js';
import { SEQUENCE_TYPE, SequenceRecorder } from './support/recorder.js';
import { openLog } from './support/redis-hub.js';
import { notIncreasing, range } from './support/sequences.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

const TIMEOUT = 45_000;
const FANOUT = 'herald:fanout';

let redis: RedisServer;
let client: Redis;
let subscriber: Redis;
/** Every message the channels carried, as [channel, payload], in order. */
const heard: [string, string][] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  subscriber = new Redis(redis.url);
  await subscriber.subscribe(FANOUT);
  await subscriber.psubscribe('herald:u:*');
  subscriber.on('message', (channel: string, payload: string) => heard.push([channel, payload]));
  subscriber.on('pmessage', (_pattern: string, channel: string, payload: string) => heard.push([channel, payload]));
});
beforeEach(() => {
  heard.length = 0;
});

afterAll(async () => {
  subscriber?.disconnect();
  client?.disconnect();
  await redis?.stop();
});

/** Waits until the channels have carried `count` messages, and a little longer for any more. */
async function hear(count: number): Promise<[string, string][]> {
  await waitFor(`${count} message(s)`, () => heard.length >= count, 5000, () => `heard ${heard.length}`);
  await sleep(100);
  return [...heard];
}

const users = (name: string, n: number) => range(0, n).map((i) => newUser(`${name}${i}`));
const event = (n: number) => PreparedEvent.from({ type: SEQUENCE_TYPE, data: { n } }, new Date());
/** Each entry of the user's log, as [id, n]. */
const logged = async (user: string) =>
  (await client.xrange(`herald:log:{${user}}`, '-', '+')).map(
    ([id, fields]) => [id, (JSON.parse(`{${fields[3]}`) as { data: { n: number } }).data.n] as const,
  );

describe('the append script', () => {
  const opened: RedisConnections[] = [];

  afterAll(() => {
    for (const connections of opened) connections.onApplicationShutdown();
  });

  async function replayLog(env: Record<string, string> = {}): Promise<RedisReplayLog> {
    const { connections, log } = await openLog({ REDIS_URL: redis.url, ...env });
    opened.push(connections);
    return log;
  }

  it('publishes an event to 16 sources or more (the default) once, on the fan-out channel: its type, its tail, then each source and its id in the source\'s log', async () => {
    const log = await replayLog();
    const sources = users('wide', 16);
    const prepared = event(1);
    expect(await log.append(prepared, sources)).toBe(16);

    const messages = await hear(1);
    expect(messages.map(([channel]) => channel)).toEqual([FANOUT]);
    const [type, tail, ...pairs] = messages[0][1].split('\n');
    expect([type, tail]).toEqual([SEQUENCE_TYPE, prepared.tail]);
    const ids = await Promise.all(sources.map(async (user) => (await logged(user))[0][0]));
    expect(pairs).toEqual(sources.flatMap((user, i) => [user, ids[i]]));
  });

  it('publishes an event to fewer sources on each source\'s own channel', async () => {
    const log = await replayLog();
    const sources = users('narrow', 15);
    expect(await log.append(event(1), sources)).toBe(15);

    const messages = await hear(15);
    expect(messages.map(([channel]) => channel)).toEqual(sources.map((user) => `herald:u:{${user}}`));
  });

  it('counts the sources per event, not per call: a call of small events publishes each on its sources\' channels', async () => {
    const log = await replayLog();
    const sources = users('many', 20);
    expect(await Promise.all(sources.map((user, n) => log.append(event(n), [user])))).toEqual(sources.map(() => 1));

    const messages = await hear(20);
    expect(messages.map(([channel]) => channel)).toEqual(sources.map((user) => `herald:u:{${user}}`));
  });

  it('follows REDIS_FANOUT_CHANNEL_MIN: 0 never uses the fan-out channel, 2 uses it from two sources on', async () => {
    const never = await replayLog({ REDIS_FANOUT_CHANNEL_MIN: '0' });
    const wide = users('never', 40);
    expect(await never.append(event(1), wide)).toBe(40);
    expect((await hear(40)).filter(([channel]) => channel === FANOUT)).toEqual([]);

    heard.length = 0;
    const two = await replayLog({ REDIS_FANOUT_CHANNEL_MIN: '2' });
    const [a, b, c] = users('two', 3);
    await Promise.all([two.append(event(1), [a]), two.append(event(2), [b, c])]);
    expect((await hear(2)).map(([channel]) => channel)).toEqual([`herald:u:{${a}}`, FANOUT]);
  });

  it('keeps every event on its sources\' channels while a live instance does not follow the fan-out channel', async () => {
    const log = await replayLog();
    const sources = users('unfollowed', 20);
    await client.zadd('herald:instances', Date.now(), 'an-instance-that-does-not-follow');
    await client.sadd('herald:fanout:followers', 'one-that-does');
    try {
      expect(await log.append(event(1), sources)).toBe(20);
      expect((await hear(20)).map(([channel]) => channel)).toEqual(sources.map((user) => `herald:u:{${user}}`));

      heard.length = 0;
      await client.sadd('herald:fanout:followers', 'an-instance-that-does-not-follow');
      expect(await log.append(event(2), sources)).toBe(20);
      expect((await hear(1)).map(([channel]) => channel)).toEqual([FANOUT]);
    } finally {
      await client.del('herald:instances', 'herald:fanout:followers');
    }
  });

  it('publishes the sources stored before one whose log it cannot write, and answers the event with that error', async () => {
    const log = await replayLog();
    const sources = users('broken', 20);
    const broken = sources[12];
    await client.set(`herald:log:{${broken}}`, 'not a stream');

    await expect(log.append(event(1), sources)).rejects.toThrow(/WRONGTYPE/);
    const [[channel, payload]] = await hear(1);
    expect(channel).toBe(FANOUT);
    const pairs = payload.split('\n').slice(2);
    expect(pairs.filter((_, i) => i % 2 === 0)).toEqual(sources.slice(0, 12));
    for (const user of sources.slice(0, 12)) expect(await logged(user)).toHaveLength(1);
    for (const user of sources.slice(13)) expect(await logged(user)).toEqual([]);
  });
});

describe('hubs on one Redis, streams on both', () => {
  const hubs: HubProcess[] = [];
  const recorders: SequenceRecorder[] = [];
  let A: HubProcess;
  let B: HubProcess;

  beforeAll(async () => {
    [A, B] = await Promise.all(
      [0, 1].map(async () => {
        const hub = await startHubProcess({ REDIS_URL: redis.url });
        hubs.push(hub);
        await hub.ready();
        return hub;
      }),
    );
  });
  afterEach(() => SequenceRecorder.closeAll(recorders));
  afterAll(() => Promise.all(hubs.map((hub) => hub.kill('SIGKILL').catch(() => undefined))));

  async function open(hub: HubProcess, user: string, lastEventId?: string): Promise<SequenceRecorder> {
    const recorder = await SequenceRecorder.open(hub, user, { lastEventId });
    recorders.push(recorder);
    return recorder;
  }

  async function publish(hub: HubProcess, recipients: string[], n: number): Promise<void> {
    const response = await publishEvent(hub, { type: SEQUENCE_TYPE, recipients, persist: false, data: { n } });
    expect(response.status).toBe(202);
  }

  it('delivers an event to many recipients once to each of their streams, on either instance, with the id of each one\'s log', () =>
    withHubOutput(() => hubs, async () => {
      const onA = users('a', 20);
      const onB = users('b', 20);
      const away = users('away', 5);
      const streams = [...(await Promise.all(onA.map((user) => open(A, user)))), ...(await Promise.all(onB.map((user) => open(B, user))))];
      const before = Number((await client.pubsub('NUMSUB', FANOUT))[1]);
      expect(before).toBeGreaterThanOrEqual(2);

      await publish(B, [...onA, ...away, ...onB], 7);
      await waitFor('every stream has it', () => streams.every((s) => s.events.length > 0), 5000);
      await sleep(200);
      for (const stream of streams) {
        expect(stream.events.map((e) => e.n)).toEqual([7]);
        expect(stream.events[0].id).toBe((await logged(stream.user))[0][0]);
        expect(stream.events[0].envelopeId).toBe(stream.events[0].id);
      }
    }), TIMEOUT);

  it('counts each hub among the followers of the fan-out channel but one with REDIS_FANOUT_CHANNEL_MIN=0: while that one is up, events travel on the recipients\' channels and reach its streams', () =>
    withHubOutput(() => hubs, async () => {
      const followers = () => client.scard('herald:fanout:followers');
      const instances = () => client.zcard('herald:instances');
      expect([await instances(), await followers()]).toEqual([2, 2]);

      const C = await startHubProcess({ REDIS_URL: redis.url, REDIS_FANOUT_CHANNEL_MIN: '0' });
      hubs.push(C);
      await C.ready();
      await waitFor('C among the instances', async () => (await instances()) === 3, 5000);
      expect(await followers()).toBe(2);
      const crowd = users('zero', 20);
      const streams = await Promise.all(crowd.map((user) => open(C, user)));
      heard.length = 0;
      await publish(A, crowd, 1);
      await waitFor('every stream on C has it', () => streams.every((s) => s.events.length === 1), 5000);
      expect((await hear(20)).map(([channel]) => channel)).toEqual(crowd.map((user) => `herald:u:{${user}}`));

      await SequenceRecorder.closeAll(recorders);
      await C.kill('SIGTERM');
      await waitFor('C gone from the instances', async () => (await instances()) === 2, 10_000);
      heard.length = 0;
      const later = users('later', 20);
      const stream = await open(A, later[0]);
      await publish(B, later, 2);
      await waitFor('the stream on A has it', () => stream.events.length === 1, 5000);
      expect((await hear(1)).map(([channel]) => channel)).toEqual([FANOUT]);
    }), TIMEOUT);

  it('drops a follower left by an instance that is gone (a crash), on the beats that follow', async () => {
    await client.sadd('herald:fanout:followers', 'crashed-instance');
    await waitFor('the leftover dropped', async () => (await client.sismember('herald:fanout:followers', 'crashed-instance')) === 0, 20_000);
    expect(await client.scard('herald:fanout:followers')).toBe(2);
  }, TIMEOUT);

  it('replays from Last-Event-ID on the other instance while events to many recipients keep coming: nothing lost or repeated across the seam', () =>
    withHubOutput(() => hubs, async () => {
      const [alice, ...crowd] = users('seam', 20);
      const first = await open(A, alice);
      const TOTAL = 120;
      const publishing = (async () => {
        for (let n = 0; n < TOTAL; n++) await publish(B, [alice, ...crowd], n);
      })();
      await waitFor('30 events on the first stream', () => first.events.length >= 30, 10_000);
      await first.close();
      const second = await open(B, alice, first.lastId);
      await publishing;
      const received = () => [...first.events, ...second.events];
      await waitFor(`${TOTAL} events over both streams`, () => received().length >= TOTAL, 10_000, () => `got ${received().length}`);
      await sleep(200);

      expect(received().map((e) => e.n)).toEqual(range(0, TOTAL));
      expect(notIncreasing(received().map((e) => e.id))).toEqual([]);
    }), TIMEOUT);

  it('keeps a user\'s order whichever channel each event took: small and large events, interleaved', () =>
    withHubOutput(() => hubs, async () => {
      const [alice, ...crowd] = users('mixed', 20);
      const stream = await open(A, alice);
      const TOTAL = 200;
      // One request at a time, so the order of publishing is the order stored.
      for (let n = 0; n < TOTAL; n++) await publish(B, n % 3 === 0 ? [alice, ...crowd] : [alice], n);
      await waitFor(`${TOTAL} events`, () => stream.events.length >= TOTAL, 10_000, () => `got ${stream.events.length}`);
      await sleep(200);

      expect(stream.events.map((e) => e.n)).toEqual(range(0, TOTAL));
      expect(notIncreasing(stream.events.map((e) => e.id))).toEqual([]);
      expect(stream.events.map((e) => e.id)).toEqual((await logged(alice)).map(([id]) => id));
    }), TIMEOUT);
});
