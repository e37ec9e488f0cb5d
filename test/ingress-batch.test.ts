/**
 * The ingress stores what one read brings in one script call per slot
 * (transport/redis/redis-append-batch.ts), with a real hub on a Redis of its
 * own: each user's entries are stored once and in order, an invalid entry
 * is dead-lettered alone, an entry whose append fails waits in place while
 * the rest of its batch is stored, and a batch whose call Redis refuses
 * waits whole, then is stored once, in order. A batch request goes in one
 * call too, and its dedupe markers still skip a retry.
 */
import { compareEventIds } from '#herald/contracts/event-id';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { PreparedEvent } from '../apps/hub/src/events/stream-message.js';
import { RedisReplayLog } from '../apps/hub/src/transport/redis/redis-replay-log.js';
import { RedisConnections } from '../apps/hub/src/transport/redis/redis.connections.js';
import type { TestHub } from './support/hub.js';
import { RedisServer, startRedis } from './support/processes.js';
import { openLog, RedisHub, startRedisHub } from './support/redis-hub.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

const TIMEOUT = 60_000;
const INGRESS = 'herald:ingress';
const DEAD = 'herald:ingress:dead';
const GROUP = 'herald';

let running: RedisHub;
let client: Redis;
let hub: TestHub;

beforeAll(async () => {
  running = await startRedisHub({ LOG_LEVEL: 'error' });
  ({ client, hub } = running);
  await waitFor('the consumer group', async () => (await client.exists(INGRESS)) === 1, 10_000);
});

afterAll(() => running?.close());

const envelope = (user: string, n: number) => JSON.stringify({ type: 'batch.test', recipients: [user], persist: false, data: { n } });

/**
 * Adds the envelopes in one transaction: Redis answers the hub's blocked
 * read once it is done, so one read takes them all (up to 256). Added one
 * command at a time, the read would take the first alone.
 */
async function addAll(envelopes: string[]): Promise<string[]> {
  const transaction = client.multi();
  for (const body of envelopes) transaction.xadd(INGRESS, '*', 'envelope', body);
  return ((await transaction.exec()) ?? []).map(([, id]) => id as string);
}

/** The `n` of each event in the user's log, oldest first, after checking that the ids increase. */
async function logged(user: string): Promise<number[]> {
  const entries = await client.xrange(`herald:log:{${user}}`, '-', '+');
  entries.slice(1).forEach(([id], i) => expect(compareEventIds(id, entries[i][0])).toBeGreaterThan(0));
  return entries.map(([, fields]) => (JSON.parse(`{${fields[fields.indexOf('b') + 1]}`) as { data: { n: number } }).data.n);
}

const pending = async () => Number(((await client.xpending(INGRESS, GROUP)) as [number])[0]);

/** How often Redis ran the command so far. */
async function commandCalls(command: string): Promise<number> {
  const stats = await client.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
}

const scriptCalls = async () => (await commandCalls('evalsha')) + (await commandCalls('eval'));

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

it('stores a read of 256 entries in one script call: each user\'s once and in order, the invalid ones dead-lettered alone', async () => {
  const users = range(4).map((i) => newUser(`u${i}`));
  const bodies = range(64).flatMap((n) => users.map((user) => envelope(user, n)));
  bodies.splice(100, 0, 'not json');
  bodies.splice(200, 0, JSON.stringify({ type: 'batch.test', recipients: [] }));
  const deadBefore = await client.xlen(DEAD);
  const callsBefore = await scriptCalls();
  const ids = await addAll(bodies);
  await waitFor('every entry acknowledged', async () => (await pending()) === 0 && (await client.xlen(DEAD)) === deadBefore + 2, 10_000);
  for (const user of users) expect(await logged(user)).toEqual(range(64));
  const letters = (await client.xrange(DEAD, '-', '+')).slice(deadBefore).map(([, fields]) => fields[fields.indexOf('entry') + 1]);
  expect(letters).toEqual([ids[100], ids[200]]);
  // 258 entries: two reads, and a heartbeat or two (a script each) meanwhile; one call per entry would be 256 and more.
  expect((await scriptCalls()) - callsBefore).toBeLessThan(8);
}, TIMEOUT);

it('reads entries that trickle in together, not one by one, each user\'s once and in order', async () => {
  const users = range(4).map((i) => newUser(`t${i}`));
  const readsBefore = await commandCalls('xreadgroup');
  // One command each, a little apart: a blocked read wakes at the first of them.
  for (const n of range(25)) {
    for (const user of users) await client.xadd(INGRESS, '*', 'envelope', envelope(user, n));
    await sleep(1);
  }
  await waitFor('every entry acknowledged', async () => (await pending()) === 0 && (await logged(users[3])).length === 25, 10_000);
  for (const user of users) expect(await logged(user)).toEqual(range(25));
  // 100 entries over 25 ms and more: a read per entry or two without the pause after a short read.
  expect((await commandCalls('xreadgroup')) - readsBefore).toBeLessThan(30);
}, TIMEOUT);

it('keeps an entry whose append fails waiting in place, stores the rest of its batch at once, and the entry once when it can be', async () => {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map(newUser);
  // A key of the wrong type: bob's appends fail (WRONGTYPE) inside the call, the others' do not.
  await client.set(`herald:log:{${bob}}`, 'in the way');
  const deadBefore = await client.xlen(DEAD);
  await addAll(range(3).flatMap((n) => [alice, bob, carol].map((user) => envelope(user, n))));
  await waitFor('alice and carol stored', async () => (await logged(alice)).length === 3 && (await logged(carol)).length === 3, 10_000);
  await sleep(300);
  expect(await pending()).toBe(3);
  await client.del(`herald:log:{${bob}}`);
  await waitFor('bob stored', async () => (await pending()) === 0, 10_000);
  for (const user of [alice, bob, carol]) expect(await logged(user)).toEqual([1, 2, 3]);
  expect(await client.xlen(DEAD)).toBe(deadBefore);
}, TIMEOUT);

it('keeps a batch whose call Redis refuses waiting whole, then stores each entry once, in order', async () => {
  const [alice, bob] = ['alice', 'bob'].map(newUser);
  const deadBefore = await client.xlen(DEAD);
  // The hub's connections may read and acknowledge, but run no script: the whole call is refused.
  await client.call('ACL', 'SETUSER', 'default', '-eval', '-evalsha');
  try {
    await addAll(range(20).flatMap((n) => [alice, bob].map((user) => envelope(user, n))));
    await waitFor('the batch read', async () => (await pending()) === 40, 10_000, async () => `${await pending()} pending; ${hub.logs.lines.filter((l) => !l.startsWith('log')).join('\n')}`);
    await sleep(500);
    expect([await logged(alice), await logged(bob)]).toEqual([[], []]);
  } finally {
    await client.call('ACL', 'SETUSER', 'default', '+eval', '+evalsha');
  }
  await waitFor('the batch stored', async () => (await pending()) === 0, 10_000);
  expect([await logged(alice), await logged(bob)]).toEqual([range(20), range(20)]);
  expect(await client.xlen(DEAD)).toBe(deadBefore);
}, TIMEOUT);

it('stores a batch request sent twice with one Idempotency-Key once: one call, its events in order, the retry skipped by their markers', async () => {
  const [alice, bob] = ['alice', 'bob'].map(newUser);
  const events = range(10).map((n) => ({ type: 'batch.test', recipients: [n % 2 ? alice : bob], persist: false, data: { n } }));
  const send = () =>
    fetch(`${hub.url}/v1/events/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hub.serviceToken()}`, 'content-type': 'application/json', 'idempotency-key': `batch-${alice}` },
      body: JSON.stringify({ events }),
    });
  const callsBefore = await scriptCalls();
  expect((await send()).status).toBe(202);
  expect((await send()).status).toBe(202);
  expect([await logged(alice), await logged(bob)]).toEqual([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]]);
  // Two requests, a call each; a heartbeat or two meanwhile.
  expect((await scriptCalls()) - callsBefore).toBeLessThan(6);
}, TIMEOUT);

describe('appends of ingress entries, on connections of their own (prefix other:)', () => {
  let connections: RedisConnections;
  let log: RedisReplayLog;
  const ingress = 'other:ingress';
  const consumer = 'test-consumer';

  beforeAll(async () => {
    await client.xgroup('CREATE', ingress, GROUP, '$', 'MKSTREAM');
    ({ connections, log } = await openLog({ REDIS_URL: running.redis.url, REDIS_PREFIX: 'other:' }));
  });
  afterAll(() => connections?.onApplicationShutdown());

  /** An entry added and read by `consumer`: pending for it. */
  async function held(): Promise<string> {
    const entryId = (await client.xadd(ingress, '*', 'envelope', '{}'))!;
    await client.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 1, 'STREAMS', ingress, '>');
    return entryId;
  }

  const event = (n: number) => PreparedEvent.from({ type: 'batch.test', data: { n } }, new Date());
  const ack = (entryId: string, by = consumer) => ({ ack: { group: GROUP, consumer: by, entryId } });
  const stored = async (user: string) =>
    (await client.xrange(`other:log:{${user}}`, '-', '+')).map(([, fields]) => (JSON.parse(`{${fields[3]}`) as { data: { n: number } }).data.n);

  it('stores an entry offered twice in one call once, and acknowledges it', async () => {
    const user = newUser('twice');
    const entryId = await held();
    expect(await Promise.all([log.append(event(1), [user], ack(entryId)), log.append(event(1), [user], ack(entryId))])).toEqual([1, -1]);
    expect(await stored(user)).toEqual([1]);
    expect(Number(((await client.xpending(ingress, GROUP)) as [number])[0])).toBe(0);
  });

  it('stores nothing for an entry this consumer does not hold, the rest of the turn all the same (another consumer\'s entries in a call of their own)', async () => {
    const [user, other, mine] = ['taken', 'other', 'mine'].map(newUser);
    const [entryId, ownId] = [await held(), await held()];
    const served = await Promise.all([
      log.append(event(1), [user], ack(entryId, 'another-consumer')),
      log.append(event(2), [other]),
      log.append(event(3), [mine], ack(ownId)),
    ]);
    expect(served).toEqual([-1, 1, 1]);
    expect([await stored(user), await stored(other), await stored(mine)]).toEqual([[], [2], [3]]);
    expect(await client.xpending(ingress, GROUP, '-', '+', 10)).toEqual([[entryId, consumer, expect.any(Number), 1]]);
  });

  it("sets the log's and the byte counter's expiry when either begins, and again once the log's ran down by a hundredth of REPLAY_TTL_MS", async () => {
    const user = newUser('expiry');
    const keys = [`other:log:{${user}}`, `other:logbytes:{${user}}`];
    const ttls = () => Promise.all(keys.map((key) => client.pttl(key)));
    const setTtls = (ms: number) => Promise.all(keys.map((key) => client.pexpire(key, ms)));
    const TTL = 3_600_000; // REPLAY_TTL_MS's default
    const fresh = TTL - 5_000;
    await log.append(event(1), [user]);
    expect((await ttls()).map((ttl) => ttl > fresh)).toEqual([true, true]);
    // Within a hundredth (36 s) of the full time: left as it is.
    await setTtls(TTL - 30_000);
    await log.append(event(2), [user]);
    expect((await ttls()).map((ttl) => ttl <= TTL - 30_000)).toEqual([true, true]);
    // Ran down by more: set anew, on both.
    await setTtls(TTL - 60_000);
    await log.append(event(3), [user]);
    expect((await ttls()).map((ttl) => ttl > fresh)).toEqual([true, true]);
    // A counter that is gone while its log is not begins again, with an expiry.
    await client.del(keys[1]);
    await client.pexpire(keys[0], TTL - 30_000);
    await log.append(event(4), [user]);
    expect((await ttls()).map((ttl) => ttl > fresh)).toEqual([true, true]);
    expect(await stored(user)).toEqual([1, 2, 3, 4]);
  });

  it('fails alone an event whose entry it cannot look up (the group is gone), the rest of the call stored', async () => {
    const [orphan, other] = ['orphan', 'other'].map(newUser);
    const outcomes = await Promise.allSettled([
      log.append(event(1), [orphan], { ack: { group: 'no-such-group', consumer, entryId: '1-1' } }),
      log.append(event(2), [other]),
    ]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([expect.stringMatching(/NOGROUP/), 1]);
    expect([await stored(orphan), await stored(other)]).toEqual([[], [2]]);
  });
});

describe('appends on a Redis that became a replica (a master demoted under its connections)', () => {
  let demoted: RedisServer;
  let demotedClient: Redis;
  let connections: RedisConnections;
  let log: RedisReplayLog;

  beforeAll(async () => {
    demoted = await startRedis();
    demotedClient = new Redis(demoted.url);
    ({ connections, log } = await openLog({ REDIS_URL: demoted.url }));
  });
  afterAll(async () => {
    connections?.onApplicationShutdown();
    demotedClient?.disconnect();
    await demoted?.stop();
  });

  it('fail the whole call with READONLY, so that the connection goes to find the master, and work once it is one again', async () => {
    const user = newUser('demoted');
    const event = PreparedEvent.from({ type: 'batch.test', data: {} }, new Date());
    expect(await log.append(event, [user])).toBe(1);
    await demotedClient.replicaof('127.0.0.1', String(running.redis.port));
    let reconnects = 0;
    connections.appends.on('reconnecting', () => reconnects++);
    const refused = await Promise.allSettled([log.append(event, [user]), log.append(event, [newUser('other')])]);
    expect(refused.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual([
      expect.stringMatching(/^READONLY/),
      expect.stringMatching(/^READONLY/),
    ]);
    await waitFor('the connection to reconnect', () => reconnects > 0);
    await demotedClient.replicaof('NO', 'ONE');
    await waitFor('the connection back', () => connections.ready);
    expect(await log.append(event, [user])).toBe(1);
  });
});
