// Reproduces what the chaos run found (seed 20261205): when a hub drops a
// stream for not reading (1 MiB of events waiting for it) while it delivers
// an event, the user's NEXT stream on the same hub never gets that event.
//
// One hub (the embedded transport, or `redis` as argument for a Redis of its
// own), user alice with two streams: A, opened first, never read; B, opened
// second, read throughout. 60 KB events to alice until the hub drops A.
// Exits 1 when B misses an event.
//
//   npm run build && node chaos/repro/stall-skips-next-stream.mjs [redis]
//
// Cause: StreamRegistry.deliver() iterates the user's array of connections
// while Nest's drop (response.destroy() and unsubscribe, inside the
// subscriber.next() of that very delivery) runs the stream's teardown,
// registry.remove(), which splices the array: the iterator skips the next one.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HubSlot } from '../lib/hubs.mjs';
import { killAllNow } from '../lib/procs.mjs';
import { RedisServer } from '../lib/redis.mjs';
import { SECRET, serviceToken, userToken } from '../lib/tokens.mjs';
import { lowPort, sleep } from '../lib/util.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-repro-'));
process.on('exit', () => {
  killAllNow();
  rmSync(dir, { recursive: true, force: true });
});
let redisUrl;
if (process.argv[2] === 'redis') {
  const redis = new RedisServer({ dir: path.join(dir, 'redis'), port: await lowPort() });
  await redis.start();
  redisUrl = redis.url;
}
const hub = new HubSlot({
  index: 0,
  port: await lowPort(),
  dir,
  log: console.log,
  env: { NODE_ENV: 'production', JWT_SECRET: SECRET, LOG_LEVEL: 'warn', SQLITE_PATH: path.join(dir, 'hub.sqlite'), ...(redisUrl ? { REDIS_URL: redisUrl } : {}) },
});
await hub.start();
await hub.waitReady(20_000);
const token = userToken('alice');

// A: opened first, never read.
const a = net.connect(hub.port, '127.0.0.1');
await new Promise((resolve) => a.once('connect', resolve));
a.write(`GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
a.pause();
await sleep(300);

// B: opened second, read as it comes.
const received = new Set();
const b = await fetch(`${hub.url}/v1/stream`, { headers: { authorization: `Bearer ${token}` } });
const reader = b.body.getReader();
const decoder = new TextDecoder();
let buffer = '';
void (async () => {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (data && /^event: big$/m.test(frame)) received.add(JSON.parse(data).data.n);
    }
  }
})();
await sleep(300);

const pad = 'x'.repeat(60_000);
const service = serviceToken('svc');
const dropsBefore = hub.drops;
let last = 0;
let droppedAt = null;
for (let n = 0; n < 2000; n++) {
  const response = await fetch(`${hub.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'big', recipients: ['alice'], data: { n, pad }, persist: false }),
  });
  if (response.status !== 202) throw new Error(`publish ${n}: ${response.status}`);
  last = n;
  if (droppedAt === null && hub.drops > dropsBefore) droppedAt = n;
  if (droppedAt !== null && n >= droppedAt + 20) break;
}
await sleep(1500);
const missing = [];
for (let n = 0; n <= last; n++) if (!received.has(n)) missing.push(n);
console.log(
  `${redisUrl ? 'Redis' : 'embedded'} transport: events 0..${last} to alice; stream A (not reading) dropped by the hub near event ${droppedAt}; ` +
    `stream B (reading, open throughout) got ${received.size}, missing ${JSON.stringify(missing)}`,
);
a.destroy();
process.exit(missing.length > 0 ? 1 : 0);
