// The inbox with 100,000 notifications for one user: timings of the queries the
// API runs and their query plans, on SQLite and PostgreSQL. Prints the figures
// and writes them to bench/results/inbox.json.
//   npm run build && node bench/inbox.mjs            (PostgreSQL at TEST_POSTGRES_URL
//                                                     or postgres://postgres@127.0.0.1:5432/test)
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { Comment } from '../dist/apps/hub/src/comments/comment.entity.js';
import { Post } from '../dist/apps/hub/src/comments/post.entity.js';
import { MIGRATIONS } from '../dist/apps/hub/src/database/database.module.js';
import { InboxItem } from '../dist/apps/hub/src/inbox/inbox-item.entity.js';
import { Notification } from '../dist/apps/hub/src/inbox/notification.entity.js';
import { OutboxEntry } from '../dist/apps/hub/src/outbox/outbox-entry.entity.js';

/** Every entity, as the features register them in the hub. */
const ENTITIES = [Post, Comment, Notification, InboxItem, OutboxEntry];

const PER_USER = 100_000;
const OTHER_USERS = 200;
const PER_OTHER = 500;
const ROUNDS = 50;

const QUERIES = {
  // The shape InboxService.list builds: the user's page first, then the join.
  'first page (20 newest)': {
    sql: `SELECT n.id, n.type, n.data, n.created_at, p.read_at FROM
          (SELECT notification_id, read_at FROM inbox_items WHERE user_id = $1
           ORDER BY notification_id DESC LIMIT 21) p
          JOIN notifications n ON n.id = p.notification_id ORDER BY p.notification_id DESC`,
    params: () => ['heavy'],
  },
  'deep page (20 before the 90,000th newest)': {
    sql: `SELECT n.id, n.type, n.data, n.created_at, p.read_at FROM
          (SELECT notification_id, read_at FROM inbox_items WHERE user_id = $1 AND notification_id < $2
           ORDER BY notification_id DESC LIMIT 21) p
          JOIN notifications n ON n.id = p.notification_id ORDER BY p.notification_id DESC`,
    params: (deepId) => ['heavy', deepId],
  },
  'unread count': {
    sql: `SELECT COUNT(*) AS n FROM inbox_items WHERE user_id = $1 AND read_at IS NULL`,
    params: () => ['heavy'],
  },
};

async function fill(ds, postgres) {
  const now = new Date().toISOString();
  const batch = 5000;
  const insertAll = async (userId, count, readEvery) => {
    for (let done = 0; done < count; done += batch) {
      const n = Math.min(batch, count - done);
      await ds.transaction(async (m) => {
        const values = Array.from({ length: n }, (_, i) => `('comment.created', '{"postId":"${done + i}"}', '${now}')`);
        const ids = postgres
          ? (await m.query(`INSERT INTO notifications (type, data, created_at) VALUES ${values.join(',')} RETURNING id`)).map((r) => r.id)
          : await (async () => {
              await m.query(`INSERT INTO notifications (type, data, created_at) VALUES ${values.join(',')}`);
              const [{ last }] = await m.query('SELECT last_insert_rowid() AS last');
              return Array.from({ length: n }, (_, i) => last - n + 1 + i);
            })();
        const items = ids.map((id, i) => `('${userId}', ${id}, ${(done + i) % readEvery === 0 ? 'NULL' : `'${now}'`})`);
        await m.query(`INSERT INTO inbox_items (user_id, notification_id, read_at) VALUES ${items.join(',')}`);
      });
    }
  };
  await insertAll('heavy', PER_USER, 50); // 2% unread
  for (let u = 0; u < OTHER_USERS; u++) await insertAll(`user${u}`, PER_OTHER, 3);
}

async function measure(name, ds, postgres) {
  await ds.runMigrations();
  const started = performance.now();
  await fill(ds, postgres);
  const fillSeconds = (performance.now() - started) / 1000;
  if (postgres) await ds.query('ANALYZE');
  else await ds.query('ANALYZE');
  const [{ id: deepId }] = await ds.query(
    `SELECT notification_id AS id FROM inbox_items WHERE user_id = 'heavy' ORDER BY notification_id DESC LIMIT 1 OFFSET 90000`,
  );
  const results = {};
  for (const [label, { sql, params }] of Object.entries(QUERIES)) {
    const native = postgres ? sql : sql.replace(/\$\d/g, '?');
    const args = params(deepId);
    await ds.query(native, args);
    const times = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      await ds.query(native, args);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const plan = postgres
      ? (await ds.query(`EXPLAIN ${native}`, args)).map((r) => r['QUERY PLAN'])
      : (await ds.query(`EXPLAIN QUERY PLAN ${native}`, args)).map((r) => r.detail);
    results[label] = { medianMs: +times[ROUNDS >> 1].toFixed(3), p95Ms: +times[Math.floor(ROUNDS * 0.95)].toFixed(3), plan };
  }
  console.log(`\n${name}: ${PER_USER} notifications for one user, ${OTHER_USERS * PER_OTHER} for others (filled in ${fillSeconds.toFixed(1)} s)`);
  for (const [label, r] of Object.entries(results)) {
    console.log(`  ${label}: median ${r.medianMs} ms, p95 ${r.p95Ms} ms`);
    for (const line of r.plan) console.log(`      ${line}`);
  }
  return results;
}

const out = { date: new Date().toISOString(), perUser: PER_USER, rounds: ROUNDS };

const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-'));
const sqlite = new DataSource({ type: 'better-sqlite3', database: path.join(dir, 'bench.sqlite'), entities: ENTITIES, migrations: MIGRATIONS, enableWAL: true });
await sqlite.initialize();
out.sqlite = await measure('SQLite', sqlite, false);
await sqlite.destroy();

const adminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
const dbName = `herald_bench_${process.pid}`;
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(adminUrl);
url.pathname = `/${dbName}`;
const postgres = new DataSource({ type: 'postgres', url: url.toString(), entities: ENTITIES, migrations: MIGRATIONS });
try {
  await postgres.initialize();
  out.postgres = await measure('PostgreSQL', postgres, true);
} finally {
  await postgres.destroy().catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}

mkdirSync(new URL('./results', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/inbox.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log('\nwritten to bench/results/inbox.json');
