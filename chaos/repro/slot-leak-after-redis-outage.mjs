// Reproduces a stream-slot leak the chaos run hinted at (429s long after
// recovery, "releasing a stream slot … failed" warnings): streams that close
// while Redis is away keep counting against STREAMS_PER_USER_MAX on the
// instance that held them, for as long as that instance lives and opens no
// other stream of the same user.
//
// Two hubs A and B on a Redis of their own, STREAMS_PER_USER_MAX=2. Alice
// opens 2 streams on A; Redis stops; she closes both; Redis comes back.
// Alice, with no stream open anywhere, opens one on B. Exits 1 when B
// still refuses it (429) 10 s after Redis is back.
//
//   npm run build && node chaos/repro/slot-leak-after-redis-outage.mjs
//
// Cause: RedisStreamCounter.release() states the instance's new count once;
// when that fails, "the next change corrects it", but the next change is
// only the next open or close of the same user on the same instance.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HubSlot } from '../lib/hubs.mjs';
import { killAllNow } from '../lib/procs.mjs';
import { RedisServer } from '../lib/redis.mjs';
import { SECRET, userToken } from '../lib/tokens.mjs';
import { lowPort, sleep, waitFor } from '../lib/util.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-repro-'));
process.on('exit', () => {
  killAllNow();
  rmSync(dir, { recursive: true, force: true });
});
const redis = new RedisServer({ dir: path.join(dir, 'redis'), port: await lowPort() });
await redis.start();
const env = (name) => ({
  NODE_ENV: 'production',
  JWT_SECRET: SECRET,
  LOG_LEVEL: 'warn',
  REDIS_URL: redis.url,
  STREAMS_PER_USER_MAX: '2',
  SQLITE_PATH: path.join(dir, `${name}.sqlite`),
});
const [a, b] = await Promise.all(
  ['A', 'B'].map(async (name, index) => {
    const hub = new HubSlot({ index, port: await lowPort(), dir, log: () => undefined, env: env(name) });
    await hub.start();
    await hub.waitReady(20_000);
    return hub;
  }),
);
const token = userToken('alice');
const open = async (hub) => {
  const controller = new AbortController();
  const response = await fetch(`${hub.url}/v1/stream`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  if (response.status === 200) {
    const reader = response.body.getReader();
    await reader.read(); // ready
  }
  return { status: response.status, close: () => controller.abort() };
};

const streams = [await open(a), await open(a)];
console.log(`alice's 2 streams on A: ${streams.map((s) => s.status).join(', ')}`);
await redis.stop();
await sleep(500);
for (const stream of streams) stream.close();
await sleep(1000);
await redis.start();
await waitFor(async () => (await a.ready()) && (await b.ready()), 'both hubs ready again', 30_000);
// A has to state its count again once Redis is back: allow it a few seconds (the leak lasted for ever).
const tries = [];
const deadline = Date.now() + 10_000;
for (;;) {
  const attempt = await open(b);
  attempt.close();
  tries.push(attempt.status);
  if (attempt.status !== 429 || Date.now() > deadline) break;
  await sleep(1000);
}
console.log(`Redis stopped, alice closed both, Redis back; alice (no stream open) opens one on B: ${tries.join(', ')}`);
process.exit(tries.at(-1) === 429 ? 1 : 0);
