// SIGTERM (API.md, Operations): readiness turns 503 and new streams get 503 at
// once, open streams are ended within SHUTDOWN_GRACE_MS, and the process exits
// with status 0; a client that was on it replays everything on another
// instance, and its place in the cluster-wide stream count is free at once.
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './support/wait.js';
import { publish as publishEvent } from './support/http.js';
import { HubProcess, lowPort, RedisServer, spawnHubProcess, startHubProcess, startRedis } from './support/processes.js';
import { openRaw, RawStream } from './support/sse.js';
import { serviceToken, userToken } from './support/tokens.js';

const GRACE_MS = 2000;
const TOKEN_TTL_S = 600;
const token = (sub: string) => userToken(sub, TOKEN_TTL_S);
const service = serviceToken('svc', TOKEN_TTL_S);

async function publish(hub: HubProcess, n: number): Promise<void> {
  const response = await publishEvent(hub, { type: 'drain.test', recipients: ['alice'], data: { n } }, service);
  expect(response.status).toBe(202);
}

describe('SIGTERM', () => {
  let redis: RedisServer;
  let leaving: HubProcess;
  let staying: HubProcess;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, SHUTDOWN_GRACE_MS: String(GRACE_MS), STREAMS_PER_USER_MAX: '1' };
    [leaving, staying] = await Promise.all([startHubProcess(env), startHubProcess(env)]);
    await Promise.all([leaving.ready(), staying.ready()]);
  });

  afterAll(async () => {
    await Promise.all([leaving.kill(), staying.kill()]);
    await redis.stop();
  });

  it('refuses new streams, ends open ones within the grace period, exits, and loses nothing', async () => {
    const streams: RawStream[] = [];
    for (let i = 0; i < 20; i++) {
      const stream = await openRaw(`${leaving.url}/v1/stream?access_token=${token(i === 0 ? 'alice' : `user${i}`)}`);
      expect((await stream.next()).event).toBe('ready');
      streams.push(stream);
    }
    await publish(staying, 1);
    const lastSeen = (await streams[0].next()).id!;

    const exited = leaving.kill('SIGTERM');
    const signalled = Date.now();
    await sleep(100);
    const ready = await fetch(`${leaving.url}/health/ready`);
    expect(ready.status).toBe(503);
    const refused = await fetch(`${leaving.url}/v1/stream?access_token=${token('bob')}`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(refused.headers.get('content-type')).toContain('application/json');

    // Events published while the instance drains are not lost for its clients.
    await publish(staying, 2);
    for (const stream of streams) {
      await stream.until(() => stream.ended(), GRACE_MS + 1000).catch(() => undefined);
      expect(stream.ended()).toBe(true);
    }
    // Gone within the grace period, by SIGTERM alone, with a status that says all went well.
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(GRACE_MS + 1000);
    // Each stream gave its place back before Redis was closed: with one
    // stream allowed per user, alice is admitted on the other instance at
    // once, not after the dead instance's counts expire.
    expect(leaving.output.join('')).not.toMatch(/releasing a stream slot/);

    const resumed = await openRaw(`${staying.url}/v1/stream`, {
      headers: { authorization: `Bearer ${token('alice')}`, 'last-event-id': lastSeen },
    });
    expect(resumed.response.status).toBe(200);
    expect((await resumed.next()).event).toBe('ready');
    expect(JSON.parse((await resumed.next()).data!).data).toEqual({ n: 2 });
    resumed.close();
  }, 20_000);
});

describe('SIGTERM while the hub is still starting', () => {
  it('exits at once with status 0, as nothing was taken in yet (the chaos run saw it die of the signal)', async () => {
    // Nothing listens there: the hub keeps retrying its database, as when PostgreSQL is late.
    const hub = await spawnHubProcess({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await lowPort()}/herald` });
    try {
      await waitFor('the hub to be retrying its database', () => /Unable to connect to the database/.test(hub.output.join('')));
      const signalled = Date.now();
      expect(await hub.kill('SIGTERM')).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(2000);
      expect(hub.output.join('')).toMatch(/SIGTERM while starting: nothing taken in yet, exiting/);
    } finally {
      await hub.kill();
    }
  });
});
