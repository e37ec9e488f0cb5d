import { call, Reply } from './support/http.js';
import { startHub, TestHub } from './support/hub.js';
import { RedisServer, startRedis } from './support/processes.js';
import { waitFor } from './support/wait.js';

/** Stream opens are tried with a HEAD-less GET that is cancelled once answered: only the status matters here. */
async function openStream(hub: TestHub, user: string): Promise<Reply> {
  const response = await fetch(`${hub.url}/v1/stream?access_token=${hub.userToken(user)}`);
  const body = response.headers.get('content-type')?.includes('json') ? await response.json() : undefined;
  await response.body?.cancel().catch(() => undefined);
  return { status: response.status, body, contentType: response.headers.get('content-type') };
}

const mint = (hub: TestHub) => call(hub, 'POST', '/v1/dev/token', { body: { sub: 'alice' } });
const ticket = (hub: TestHub, user: string) => call(hub, 'POST', '/v1/stream-tickets', { authorization: `Bearer ${hub.userToken(user)}` });

function expect429(reply: Reply, limit: string): void {
  expect(reply).toMatchObject({
    status: 429,
    body: { statusCode: 429, error: 'Too Many Requests', message: expect.stringMatching(/^rate limit: at most \d+ /), limit },
  });
}

describe('rate limits, in memory (embedded default)', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({
      RATE_LIMIT_DEV_TOKEN: '3',
      RATE_LIMIT_TICKETS: '2',
      RATE_LIMIT_STREAM_OPENS_PER_USER: '2',
      RATE_LIMIT_STREAM_OPENS_PER_ADDRESS: '5',
    });
  });
  afterAll(() => hub.close());

  it('POST /v1/dev/token: 429 JSON with Retry-After past the limit per address', async () => {
    for (let i = 0; i < 3; i++) expect((await mint(hub)).status).toBe(200);
    const response = await fetch(`${hub.url}/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice' }),
    });
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect429({ status: response.status, body: await response.json(), contentType: null }, 'dev-token');
  });

  it('POST /v1/stream-tickets: per user, so another user is not held back', async () => {
    expect((await ticket(hub, 'tina')).status).toBe(201);
    expect((await ticket(hub, 'tina')).status).toBe(201);
    expect429(await ticket(hub, 'tina'), 'tickets');
    expect((await ticket(hub, 'tom')).status).toBe(201);
  });

  it('a refused token never counts against the user it names', async () => {
    const bad = await call(hub, 'POST', '/v1/stream-tickets', { authorization: 'Bearer not-a-jwt' });
    expect(bad.status).toBe(401);
  });

  it('GET /v1/stream: opens per user, then per address', async () => {
    expect((await openStream(hub, 'sam')).status).toBe(200);
    expect((await openStream(hub, 'sam')).status).toBe(200);
    expect429(await openStream(hub, 'sam'), 'stream-user');
    // The address has used 3 of its 5 (the refused open counts too).
    expect((await openStream(hub, 'sue')).status).toBe(200);
    expect((await openStream(hub, 'sid')).status).toBe(200);
    expect429(await openStream(hub, 'sol'), 'stream-address');
  });
});

describe('rate limits off', () => {
  it('0 turns a limit off', async () => {
    const hub = await startHub({ RATE_LIMIT_DEV_TOKEN: '0' });
    try {
      for (let i = 0; i < 80; i++) expect((await mint(hub)).status).toBe(200);
    } finally {
      await hub.close();
    }
  });

  it('refuses a limit that is not a whole number, naming it', async () => {
    await expect(startHub({ RATE_LIMIT_TICKETS: 'many' })).rejects.toThrow(/RATE_LIMIT_TICKETS: must be a whole number/);
  });
});

describe('rate limits across instances (Redis)', () => {
  let redis: RedisServer;
  let a: TestHub;
  let b: TestHub;
  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, RATE_LIMIT_TICKETS: '3' };
    [a, b] = await Promise.all([startHub(env), startHub(env)]);
    // Until its Redis connection is up a hub lets requests through uncounted.
    for (const hub of [a, b]) await waitFor('the hub to reach Redis', async () => (await fetch(`${hub.url}/health/ready`)).ok, 10_000);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('counts a user on every instance together', async () => {
    expect((await ticket(a, 'uma')).status).toBe(201);
    expect((await ticket(b, 'uma')).status).toBe(201);
    expect((await ticket(a, 'uma')).status).toBe(201);
    expect429(await ticket(b, 'uma'), 'tickets');
    expect429(await ticket(a, 'uma'), 'tickets');
  });

  it('lets requests through while Redis is down, rather than failing them', async () => {
    await redis.kill();
    try {
      const reply = await call(a, 'POST', '/v1/dev/token', { body: { sub: 'alice' } });
      expect(reply.status).toBe(200);
    } finally {
      await redis.start();
    }
  });
});
