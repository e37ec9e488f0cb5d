/**
 * A stream never holds a database connection (issue 4: the well-known failure
 * of streams exhausting the pool). PostgreSQL with a pool of 2
 * (DATABASE_POOL_MAX=2) and 50 open streams: posts, comments and inbox reads
 * still complete promptly, the database sees no more connections than the
 * pool allows, and the streams still receive their notifications.
 */
import pg from 'pg';
import type { Json } from './support/http.js';
import { startHub, TestHub } from './support/hub.js';
import { createTestDatabase, TestDatabase } from './support/postgres.js';
import { Recorder } from './support/recorder.js';

// ---------------------------------------------------------------- helpers

const POOL = 2;
const STREAMS = 50;
const USERS = 25; // two streams (tabs) each
/** "Promptly": a request that waited for a connection held by a stream would wait forever. */
const PROMPT_MS = 1000;

// ---------------------------------------------------------------- tests

describe(`PostgreSQL with a pool of ${POOL} and ${STREAMS} open streams`, () => {
  let db: TestDatabase;
  let hub: TestHub;
  const recorders: Recorder[] = [];
  const users = Array.from({ length: USERS }, (_, i) => `pool-user-${i}`);

  /** A request with its duration; fails on a non-2xx status. */
  async function timed(method: string, path: string, user: string, body?: unknown): Promise<{ ms: number; status: number; body: Json }> {
    const started = performance.now();
    const response = await fetch(`${hub.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${hub.userToken(user)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { ms: performance.now() - started, status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Connections the hub holds to its database right now, as PostgreSQL sees them. */
  async function connectionsToDatabase(): Promise<number> {
    const name = new URL(db.url).pathname.slice(1);
    const client = new pg.Client({ connectionString: db.url.replace(`/${name}`, '/postgres') });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      return Number(rows[0].n);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    hub = await startHub({ DATABASE_URL: db.url, DATABASE_POOL_MAX: String(POOL), HEARTBEAT_MS: '3600000' });
    for (const user of users) {
      recorders.push(await Recorder.open(hub, user), await Recorder.open(hub, user));
    }
  });
  afterAll(async () => {
    await Recorder.closeAll(recorders);
    await hub?.close();
    await db?.drop();
  });

  it(`holds ${STREAMS} streams open, and the database sees at most ${POOL} connections`, async () => {
    expect(recorders).toHaveLength(STREAMS);
    expect([hub.registry.size, hub.registry.userCount]).toEqual([STREAMS, USERS]);
    expect(recorders.filter((r) => r.stream.ended())).toEqual([]);
    expect(await connectionsToDatabase()).toBeLessThanOrEqual(POOL);
  });

  it('creates posts and comments promptly, one after another, and the streams get the notifications', async () => {
    const [author, ...commenters] = users.slice(0, 11);
    const slow: string[] = [];
    const check = (what: string, result: { ms: number; status: number }, status: number) => {
      expect({ what, status: result.status }).toEqual({ what, status });
      if (result.ms > PROMPT_MS) slow.push(`${what}: ${Math.round(result.ms)} ms`);
    };

    const post = await timed('POST', '/v1/posts', author, { title: 'Pool party', body: 'Is anyone there?' });
    check('create post', post, 201);
    const made: string[] = [];
    for (const [i, user] of commenters.entries()) {
      const comment = await timed('POST', `/v1/posts/${post.body.id}/comments`, user, { body: `comment ${i}` });
      check(`comment ${i}`, comment, 201);
      made.push(comment.body.id);
    }
    check('get post', await timed('GET', `/v1/posts/${post.body.id}`, author), 200);
    check('list inbox', await timed('GET', '/v1/notifications', author), 200);
    expect(slow).toEqual([]);
    // The pool is in use (so the count below means something), and never larger than allowed.
    const open = await connectionsToDatabase();
    expect(open).toBeGreaterThanOrEqual(1);
    expect(open).toBeLessThanOrEqual(POOL);

    // The author's two tabs got every comment; each commenter's tabs every later one.
    for (const tab of recorders.filter((r) => r.user === author)) {
      expect((await tab.waitFor('comment.created', made.length)).map((e) => e.data.commentId)).toEqual(made);
    }
    for (const [i, user] of commenters.entries()) {
      for (const tab of recorders.filter((r) => r.user === user)) {
        const later = made.slice(i + 1);
        const got = later.length > 0 ? await tab.waitFor('comment.created', later.length) : tab.envelopes('comment.created');
        expect(got.map((e) => e.data.commentId)).toEqual(later);
      }
    }
    expect(await connectionsToDatabase()).toBeLessThanOrEqual(POOL);
  });

  it('serves a burst of concurrent writes and reads through the small pool', async () => {
    const author = users[20];
    const post = await timed('POST', '/v1/posts', author, { title: 'Burst', body: 'All at once' });
    expect(post.status).toBe(201);
    const started = performance.now();
    const results = await Promise.all([
      ...users.slice(0, 20).map((user, i) => timed('POST', `/v1/posts/${post.body.id}/comments`, user, { body: `burst ${i}` })),
      ...users.slice(0, 10).map((user) => timed('GET', '/v1/notifications?limit=5', user)),
      ...users.slice(0, 5).map((user, i) => timed('POST', '/v1/posts', user, { title: `parallel ${i}`, body: 'x' })),
    ]);
    const elapsed = performance.now() - started;
    expect(results.map((r) => r.status)).toEqual([...Array(20).fill(201), ...Array(10).fill(200), ...Array(5).fill(201)]);
    expect(elapsed).toBeLessThan(5 * PROMPT_MS);

    // The author heard of all 20 comments on both tabs.
    for (const tab of recorders.filter((r) => r.user === author)) {
      const got = await tab.waitFor('comment.created', 20);
      expect(new Set(got.map((e) => e.data.commentId)).size).toBe(20);
    }
    expect(recorders.filter((r) => r.stream.ended())).toEqual([]);
  });
});
