/**
 * Nothing is lost between the database and the stream (issue 4): a persisted
 * event is stored with its inbox items and an outbox entry in one
 * transaction; the relay hands it to the fan-out after the commit. Here the
 * real hub (a child process) kills itself right after that commit
 * (HERALD_FAULT=crash-after-commit), before the hand-over: the request that
 * caused it fails, the process is gone, and the database holds the comment,
 * the notification, its inbox item and the outbox entry. A hub restarted on
 * the same database (without the fault) drains the outbox before it listens,
 * so a client that reconnects with the last event id it had before the crash
 * gets the notification exactly once, and the inbox holds it once.
 *
 * On SQLite (the same file across the restart) and PostgreSQL, with the
 * embedded fan-out (whose replay log starts empty with each process, so the
 * client resumes from "0") and with Redis (whose log outlives the process, so
 * the client resumes from an event it received before the crash). The event
 * comes from a comment, from `POST /v1/events` with `persist`, and from the
 * Redis ingress (where the restarted hub also takes over the unacknowledged
 * entry, and must not store it a second time).
 */
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { ISO, Json } from './support/http.js';
import { createTestDatabase, TestDatabase } from './support/postgres.js';
import { HubProcess, RedisServer, startHubProcess, startRedis } from './support/processes.js';
import { Recorder } from './support/recorder.js';
import { serviceToken, userToken } from './support/tokens.js';
import { newUser } from './support/users.js';

// ---------------------------------------------------------------- helpers

const TIMEOUT = 40_000;
/** Longer than the relay's poll (1 s): a second hand-over of the same entry would show within it. */
const SETTLE_MS = 1300;
/** How long a frame (`ready` included) may take to arrive on a stream. */
const FRAME_WAIT_MS = 8000;

async function request(url: string, method: string, token: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Resolves once the process is gone (it killed itself), or rejects. */
async function processGone(hub: HubProcess, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let alive = true;
    try {
      process.kill(hub.pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) break;
    if (Date.now() > deadline) throw new Error(`hub ${hub.pid} is still running ${timeoutMs} ms after the fault; output:\n${hub.output.join('')}`);
    await sleep(20);
  }
  await expect(fetch(`${hub.url}/health/live`)).rejects.toThrow();
}

type Tables = Record<'posts' | 'comments' | 'notifications' | 'inbox_items' | 'outbox', number>;

/** Row counts, read straight from the hub's database. */
async function tableCounts(database: { sqlitePath?: string; url?: string }): Promise<Tables> {
  const source = database.url
    ? new DataSource({ type: 'postgres', url: database.url })
    : new DataSource({ type: 'better-sqlite3', database: database.sqlitePath!, readonly: true, fileMustExist: true });
  await source.initialize();
  try {
    const counts = {} as Tables;
    for (const table of ['posts', 'comments', 'notifications', 'inbox_items', 'outbox'] as const) {
      const [row] = (await source.query(`SELECT COUNT(*) AS n FROM ${table}`)) as { n: string | number }[];
      counts[table] = Number(row.n);
    }
    return counts;
  } finally {
    await source.destroy();
  }
}

// ---------------------------------------------------------------- tests

type Trigger = 'comment' | 'publish' | 'ingress';

interface Case {
  name: string;
  database: 'sqlite' | 'postgres';
  redis: boolean;
  trigger: Trigger;
}

const cases: Case[] = [
  { name: 'a comment, SQLite, embedded fan-out', database: 'sqlite', redis: false, trigger: 'comment' },
  { name: 'a comment, SQLite, Redis fan-out', database: 'sqlite', redis: true, trigger: 'comment' },
  { name: 'a comment, PostgreSQL, embedded fan-out', database: 'postgres', redis: false, trigger: 'comment' },
  { name: 'a comment, PostgreSQL, Redis fan-out', database: 'postgres', redis: true, trigger: 'comment' },
  { name: 'POST /v1/events with persist, SQLite, embedded fan-out', database: 'sqlite', redis: false, trigger: 'publish' },
  { name: 'a Redis ingress entry with persist, SQLite, Redis fan-out', database: 'sqlite', redis: true, trigger: 'ingress' },
];

describe('a crash between commit and delivery', () => {
  let redis: RedisServer | undefined;
  const hubs: HubProcess[] = [];
  const recorders: Recorder[] = [];
  const databases: TestDatabase[] = [];
  const dirs: string[] = [];
  let prefixes = 0;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Recorder.closeAll(recorders);
    await Promise.all(hubs.splice(0).map((h) => h.kill('SIGKILL')));
  });
  afterAll(async () => {
    await redis?.stop();
    for (const db of databases) await db.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const start = async (env: Record<string, string>) => {
    const hub = await startHubProcess(env);
    hubs.push(hub);
    await hub.ready();
    return hub;
  };
  const subscribe = async (hub: HubProcess, user: string, lastEventId?: string) => {
    const recorder = await Recorder.open(hub, user, { lastEventId, readyTimeoutMs: FRAME_WAIT_MS });
    recorders.push(recorder);
    return recorder;
  };

  it.each(cases)(
    '$name: delivered exactly once after a restart, and in the inbox once',
    async ({ database, redis: withRedis, trigger }) => {
      // One database for both runs: a SQLite file of our own, or a fresh PostgreSQL database.
      const dbEnv: Record<string, string> = {};
      const where: { sqlitePath?: string; url?: string } = {};
      if (database === 'sqlite') {
        const dir = mkdtempSync(path.join(tmpdir(), 'herald-crash-'));
        dirs.push(dir);
        dbEnv.SQLITE_PATH = where.sqlitePath = path.join(dir, 'herald.sqlite');
      } else {
        const db = await createTestDatabase();
        databases.push(db);
        dbEnv.DATABASE_URL = where.url = db.url;
      }
      const prefix = `crash${++prefixes}:`;
      const env: Record<string, string> = {
        HEARTBEAT_MS: '3600000',
        ...dbEnv,
        ...(withRedis ? { REDIS_URL: redis!.url, REDIS_PREFIX: prefix, INGRESS_CLAIM_IDLE_MS: '300' } : {}),
      };
      const [alice, bob] = [newUser('alice'), newUser('bob')];

      // ---- the first run, with the fault armed
      const first = await start({ ...env, HERALD_FAULT: 'crash-after-commit' });
      // A post's event goes to its topic only and notifies no one: the fault stays armed.
      const post = await request(`${first.url}/v1/posts`, 'POST', userToken(alice), { title: 'Crash course', body: 'Read me.' });
      expect(post.status).toBe(201);
      const before = await subscribe(first, alice);
      const readyId = before.frames[0].id;
      let resumeFrom: string;
      if (withRedis) {
        // An event alice gets before the crash (not persisted: no fault); she resumes after it.
        const earlier = await request(`${first.url}/v1/events`, 'POST', serviceToken('crash-test'), { type: 'before.crash', recipients: [alice], persist: false });
        expect(earlier.status).toBe(202);
        resumeFrom = (await before.waitForFrame((f) => f.event === 'before.crash', FRAME_WAIT_MS)).id!;
        expect(resumeFrom).not.toBe(readyId);
      } else {
        // The embedded replay log starts afresh with each process: alice had seen nothing yet.
        expect(readyId).toBe('0');
        resumeFrom = readyId!;
      }

      // ---- the event that crashes it
      const text = `Crashed while telling you 💥 (${trigger})`;
      let expectedData: Record<string, unknown>;
      let expectedType: string;
      if (trigger === 'comment') {
        await expect(
          request(`${first.url}/v1/posts/${post.body.id}/comments`, 'POST', userToken(bob), { body: text }),
        ).rejects.toThrow();
        expectedType = 'comment.created';
        expectedData = { postId: post.body.id, commentId: expect.any(String), authorId: bob, excerpt: text };
      } else if (trigger === 'publish') {
        await expect(
          request(`${first.url}/v1/events`, 'POST', serviceToken('crash-test'), { type: 'crash.test', recipients: [alice], data: { text }, persist: true }),
        ).rejects.toThrow();
        expectedType = 'crash.test';
        expectedData = { text };
      } else {
        const client = new Redis(redis!.url);
        try {
          await client.xadd(`${prefix}ingress`, '*', 'envelope', JSON.stringify({ type: 'crash.test', recipients: [alice], data: { text } }));
        } finally {
          client.disconnect();
        }
        expectedType = 'crash.test';
        expectedData = { text };
      }
      await processGone(first);
      await before.done; // its stream ended with the process
      expect(before.frames.filter((f) => f.event === expectedType)).toEqual([]);

      // The crash came after the commit and before the hand-over: all of it is stored, the outbox entry too
      // (a comment has two: its notification, and comment.added to the post's topic, which has no inbox).
      const stored = await tableCounts(where);
      expect(stored).toEqual({
        posts: 1,
        comments: trigger === 'comment' ? 1 : 0,
        notifications: 1,
        inbox_items: 1,
        outbox: trigger === 'comment' ? 2 : 1,
      });

      // ---- the restart, on the same database, without the fault
      const second = await start(env);
      // The embedded fan-out drains the outbox before the hub listens: its replay log is new, and a
      // client must not see the hub before the event is in it. (With Redis the log outlives the
      // process and the relay may hand it over later; the dedupe key covers a second hand-over.)
      if (!withRedis) expect((await tableCounts(where)).outbox).toBe(0);

      const after = await subscribe(second, alice, resumeFrom);
      expect(after.frames[0].id).toBe(resumeFrom);
      const frame = await after.waitForFrame((f) => f.event === expectedType, FRAME_WAIT_MS);
      await sleep(SETTLE_MS);
      // Exactly once, and nothing from before the crash again.
      expect(after.frames.map((f) => f.event)).toEqual(['ready', expectedType]);
      const envelope = JSON.parse(frame.data!) as Json;
      expect(envelope).toEqual({
        id: frame.id,
        type: expectedType,
        data: expectedData,
        createdAt: expect.stringMatching(ISO),
        notificationId: expect.any(String),
      });

      // The inbox has it once, under the id the frame named; the comment itself exists once.
      const inbox = await request(`${second.url}/v1/notifications`, 'GET', userToken(alice));
      expect(inbox).toEqual({
        status: 200,
        body: {
          items: [{ id: envelope.notificationId, type: expectedType, data: envelope.data, createdAt: envelope.createdAt, readAt: null }],
          unreadCount: 1,
          nextCursor: null,
        },
      });
      expect((await request(`${second.url}/v1/notifications`, 'GET', userToken(bob))).body.items).toEqual([]);
      if (trigger === 'comment') {
        const got = await request(`${second.url}/v1/posts/${post.body.id}`, 'GET', userToken(bob));
        expect(got.body.comments).toEqual([
          { id: envelope.data.commentId, postId: post.body.id, authorId: bob, body: text, createdAt: expect.stringMatching(ISO) },
        ]);
      }
      if (trigger === 'ingress') {
        // The restarted hub took the abandoned entry over, recognised it as stored, and acknowledged it.
        const client = new Redis(redis!.url);
        try {
          const deadline = Date.now() + 8000;
          let pending = -1;
          while (Date.now() < deadline) {
            pending = Number(((await client.xpending(`${prefix}ingress`, 'herald')) as [number])[0]);
            if (pending === 0) break;
            await sleep(50);
          }
          expect(pending).toBe(0);
          expect(await client.xlen(`${prefix}ingress:dead`)).toBe(0);
        } finally {
          client.disconnect();
        }
        await sleep(500);
        expect(after.frames.map((f) => f.event)).toEqual(['ready', expectedType]);
        expect((await request(`${second.url}/v1/notifications`, 'GET', userToken(alice))).body.items).toHaveLength(1);
      }
      expect(await tableCounts(where)).toEqual({ ...stored, outbox: 0 });

      // A stream that had already seen it resumes with nothing to replay.
      const caughtUp = await subscribe(second, alice, frame.id);
      await sleep(300);
      expect(caughtUp.frames.map((f) => f.event)).toEqual(['ready']);
    },
    TIMEOUT,
  );
});
