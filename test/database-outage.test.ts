/**
 * PostgreSQL out of reach while the hub runs (the chaos run's finding): a
 * request that needs the database is a 503 with Retry-After, not a 500, and
 * works again once it is back; ingress entries wait for it in place, in
 * order, and none is dead-lettered however long the outage. The outage is a
 * TCP proxy between the hub and the machine's PostgreSQL cutting every
 * connection and refusing new ones, which is what a crashed server looks like
 * from the hub.
 */
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, expectError } from './support/http.js';
import { createTestDatabase, PG_ADMIN_URL, TestDatabase } from './support/postgres.js';
import { HubProcess, RedisServer, startHubProcess, startProxy, startRedis, TcpProxy } from './support/processes.js';
import { SEQUENCE_TYPE, SequenceRecorder } from './support/recorder.js';
import { serviceToken } from './support/tokens.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

const PG_PORT = Number(new URL(PG_ADMIN_URL).port || 5432);
/** Short, so that before the fix a failed entry was claimed again, counted, and dead-lettered within the outage. */
const CLAIM_IDLE_MS = 200;
const OUTAGE_MS = 3000;

describe('PostgreSQL out of reach', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let redis: RedisServer;
  let client: Redis;
  let hub: HubProcess;

  const down = () => {
    proxy.setTargets([]);
    proxy.cut();
  };
  const up = () => proxy.setTargets([PG_PORT]);

  beforeAll(async () => {
    [db, proxy, redis] = await Promise.all([createTestDatabase(), startProxy([PG_PORT]), startRedis()]);
    const url = new URL(db.url);
    url.port = String(proxy.port);
    hub = await startHubProcess({ DATABASE_URL: url.toString(), REDIS_URL: redis.url, INGRESS_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS) });
    await hub.ready();
    client = new Redis(redis.url);
  });

  afterEach(up);

  afterAll(async () => {
    client?.disconnect();
    await hub?.kill();
    await Promise.all([redis?.stop(), proxy?.close()]);
    await db?.drop();
  });

  it('answers 503 with Retry-After while it is away, and takes the same request once it is back', async () => {
    const user = newUser('outage');
    const event = { type: 'outage.test', recipients: [user], data: {}, persist: true };
    const authorization = `Bearer ${serviceToken()}`;
    down();
    const refused = await call(hub, 'POST', '/v1/events', { authorization, body: event });
    expectError(refused, 503);
    expect(refused.body.message).toBe('the database is unavailable; retry shortly');
    const read = await call(hub, 'GET', '/v1/notifications', { as: user });
    expectError(read, 503);
    expect(read.body).toEqual(expect.objectContaining({ requestId: expect.any(String) }));
    const retried = await fetch(`${hub.url}/v1/events`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(retried.headers.get('retry-after')).toBe('1');
    up();
    await waitFor('a publish to be taken again', async () => (await call(hub, 'POST', '/v1/events', { authorization, body: event })).status === 202);
    expect((await call(hub, 'GET', '/v1/notifications', { as: user })).status).toBe(200);
  });

  it('keeps ingress entries waiting in order through the outage, none dead-lettered', async () => {
    const user = newUser('ingress-outage');
    const stream = await SequenceRecorder.open(hub, user);
    try {
      down();
      const numbers = [1, 2, 3, 4, 5, 6];
      for (const n of numbers) {
        await client.xadd('herald:ingress', '*', 'envelope', JSON.stringify({ type: SEQUENCE_TYPE, recipients: [user], data: { n }, persist: true }));
      }
      // Long enough for several claims and retries of the first entries.
      await sleep(OUTAGE_MS);
      expect(stream.events).toEqual([]);
      up();
      await waitFor('the entries to arrive once the database is back', () => stream.events.length >= numbers.length, 15_000);
      expect(stream.events.map((e) => e.n)).toEqual(numbers);
      expect(await client.xlen('herald:ingress:dead')).toBe(0);
      expect(hub.output.join('')).toMatch(/ingress entries wait for an outage to end/);
    } finally {
      await stream.close();
    }
  });
});
