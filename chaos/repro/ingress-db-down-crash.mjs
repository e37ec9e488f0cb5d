// Reproduces what every chaos run with a PostgreSQL fault shows: a hub exits
// (status 1, an unhandled promise rejection) as soon as it handles a persisted
// Redis ingress entry while PostgreSQL is down.
//
// One hub on a Redis and a PostgreSQL of its own; PostgreSQL stopped (fast
// shutdown); one persisted envelope added to herald:ingress. Exits 1 when
// the hub exited by itself within 4 s.
//
//   npm run build && node chaos/repro/ingress-db-down-crash.mjs [immediate]
//
// Cause: RedisIngressSource.run() starts handling a batch
// (`this.handling = this.handle(entries)`) and only awaits it at the next
// turn of its loop, after the next XREADGROUP (BLOCK 1000): a rejection in
// between has no handler yet, and Node's default (--unhandled-rejections=throw)
// ends the process. With NODE_OPTIONS=--unhandled-rejections=warn the hub
// logs "PromiseRejectionHandledWarning: Promise rejection was handled
// asynchronously" instead, and lives.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { HubSlot } from '../lib/hubs.mjs';
import { PostgresServer } from '../lib/postgres.mjs';
import { killAllNow } from '../lib/procs.mjs';
import { RedisServer } from '../lib/redis.mjs';
import { SECRET } from '../lib/tokens.mjs';
import { lowPort, sleep } from '../lib/util.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-repro-'));
chmodSync(dir, 0o755);
process.on('exit', () => {
  killAllNow();
  rmSync(dir, { recursive: true, force: true });
});
const redis = new RedisServer({ dir: path.join(dir, 'redis'), port: await lowPort() });
const postgres = new PostgresServer({ dir: path.join(dir, 'postgres'), port: await lowPort() });
await Promise.all([redis.start(), postgres.create()]);
const hub = new HubSlot({
  index: 0,
  port: await lowPort(),
  dir,
  log: () => undefined,
  env: { NODE_ENV: 'production', JWT_SECRET: SECRET, LOG_LEVEL: 'warn', REDIS_URL: redis.url, DATABASE_URL: postgres.url },
});
await hub.start();
await hub.waitReady(20_000);
const mode = process.argv[2] === 'immediate' ? 'immediate' : 'fast';
await postgres.stop(mode);
const client = new Redis(redis.url);
const entry = await client.xadd('herald:ingress', '*', 'envelope', JSON.stringify({ type: 'repro', recipients: ['alice'], data: {}, persist: true }));
await sleep(4000);
hub.wanted = false;
client.disconnect();
const exits = hub.unexpectedExits;
const log = readFileSync(path.join(dir, 'hub0.log'), 'utf8');
const cause = /triggerUncaughtException[\s\S]*?\n\n([^\n]+)/.exec(log)?.[1];
console.log(
  `PostgreSQL stopped (${mode}), ingress entry ${entry} added: ` +
    (exits.length > 0 ? `the hub exited by itself (code ${exits[0].code}) ${exits[0].at - Number(entry.split('-')[0])} ms later: ${cause}` : 'the hub kept running'),
);
process.exit(exits.length > 0 ? 1 : 0);
