// STREAMS_PER_USER_MAX counts a user's streams across the cluster (API.md,
// Configuration), with two real hub processes on one Redis: the cap holds
// whichever instances the streams land on, also when they open at once, a
// closed stream frees its place everywhere, and the streams of an instance
// that crashed stop counting once it is overdue.
import { setTimeout as sleep } from 'node:timers/promises';
import { HubProcess, RedisServer, startHubProcess, startRedis } from './support/processes.js';
import { openRaw, RawStream } from './support/sse.js';
import { userToken } from './support/tokens.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

const CAP = 3;

describe('STREAMS_PER_USER_MAX across instances', () => {
  let redis: RedisServer;
  let a: HubProcess;
  let b: HubProcess;
  const open: RawStream[] = [];

  const connect = async (hub: HubProcess, user: string) => {
    const stream = await openRaw(`${hub.url}/v1/stream?access_token=${userToken(user)}`);
    if (stream.response.status === 200) {
      expect((await stream.next()).event).toBe('ready');
      open.push(stream);
    }
    return stream;
  };

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, STREAMS_PER_USER_MAX: String(CAP) };
    [a, b] = await Promise.all([startHubProcess(env), startHubProcess(env)]);
    await Promise.all([a.ready(), b.ready()]);
  });

  afterAll(async () => {
    for (const stream of open) stream.close();
    await Promise.all([a.kill(), b.kill()]);
    await redis.stop();
  });

  it('holds the cap whichever instance the streams open on, and frees a place on close', async () => {
    const user = newUser('tabs');
    const first = await connect(a, user);
    expect((await connect(b, user)).response.status).toBe(200);
    expect((await connect(a, user)).response.status).toBe(200);
    for (const hub of [a, b]) {
      const refused = await connect(hub, user);
      expect(refused.response.status).toBe(429);
      expect(refused.response.headers.get('content-type')).toContain('application/json');
      expect(await refused.response.json()).toEqual(expect.objectContaining({ statusCode: 429 }));
    }
    first.close();
    await waitFor('the closed stream to free its place', async () => {
      const retry = await connect(b, user);
      return retry.response.status === 200;
    }, 5000);
  });

  it('admits exactly the cap when streams of one user open at once on both instances', async () => {
    const user = newUser('burst');
    const attempts = await Promise.all(Array.from({ length: 8 }, (_, i) => connect(i % 2 ? a : b, user)));
    const statuses = attempts.map((s) => s.response.status).sort();
    expect(statuses).toEqual([...Array(CAP).fill(200), ...Array(8 - CAP).fill(429)]);
  });

  it('stops counting the streams of an instance that crashed', async () => {
    const user = newUser('crash');
    for (let i = 0; i < CAP; i++) expect((await connect(a, user)).response.status).toBe(200);
    expect((await connect(b, user)).response.status).toBe(429);
    await a.kill('SIGKILL');
    // A is overdue after its liveness window (15 s), then B admits the user
    // again. Asked twice a second, as a client backing off would: a tighter
    // loop meets the per-user rate limit on stream opens instead.
    await waitFor(
      'B to admit the user once A is overdue',
      async () => {
        const attempt = await connect(b, user);
        if (attempt.response.status === 200) return true;
        expect(await attempt.response.json()).toEqual(expect.objectContaining({ message: expect.stringContaining('STREAMS_PER_USER_MAX') }));
        await sleep(500);
        return false;
      },
      25_000,
    );
  }, 40_000);
});
