// The publish paths at a ladder of rates, 1,000 users with one stream each,
// unicast (one recipient per event): HTTP live, HTTP persisted (SQLite and
// PostgreSQL), the Redis ingress, cross-instance, and Nchan's HTTP publish.
import { sleep } from '../lib/clock.mjs';
import { startHub } from '../lib/hub.mjs';
import { runLadder, runRateStep } from '../lib/ladder.mjs';
import { startNchan } from '../lib/nchan.mjs';
import { createDatabase } from '../lib/postgres.mjs';
import { startPublisher } from '../lib/publisher.mjs';
import { startRedis } from '../lib/redis.mjs';
import { openSubscribers } from '../lib/subscribers.mjs';

export const USERS = 1000;

/** Runs a ladder with subscribers on `subscribeTo` and a publisher on `publishTo`; `cleanup` stops the servers. */
async function ladder(ctx, { rates, kind = 'herald', subscribeTo, publisher, hubPids, cleanup }) {
  let subs, pub;
  try {
    subs = await openSubscribers({ kind, target: { host: '127.0.0.1', port: subscribeTo.port }, count: USERS });
    if (subs.opened.failed > 0) throw new Error(`${subs.opened.failed} of ${USERS} streams failed to open: ${JSON.stringify(subs.opened.errors)}`);
    pub = await startPublisher(publisher);
    await sleep(500);
    const genPids = [...subs.pids, pub.pid];
    return await runLadder(ctx.quick ? rates.quick : rates.full, (rate) =>
      runRateStep({ subs, pub, rate, durationMs: ctx.stepMs, users: USERS, hubPids: hubPids(), genPids, drainMs: ctx.drainMs }),
    ctx.log);
  } finally {
    await pub?.close();
    await subs?.close();
    await cleanup();
  }
}

const local = (server) => ({ host: '127.0.0.1', port: server.port });

export async function httpLive(ctx) {
  const hub = await startHub({ cpu: 0 });
  const herald = await ladder(ctx, {
    rates: { full: [1000, 2500, 5000, 7500, 10000], quick: [1000, 5000] },
    subscribeTo: hub,
    publisher: { mode: 'http', target: local(hub), persist: false },
    hubPids: () => [hub.pid],
    cleanup: () => hub.stop(),
  });
  if (!ctx.nchan) return { herald };
  ctx.log('  Nchan:');
  const nchan = await startNchan({ cpu: 0 });
  const nchanResult = await ladder(ctx, {
    rates: { full: [1000, 2500, 5000, 7500, 10000, 15000, 20000], quick: [1000, 5000] },
    kind: 'nchan',
    subscribeTo: nchan,
    publisher: { mode: 'nchan', target: local(nchan) },
    hubPids: () => nchan.pids(),
    cleanup: () => nchan.stop(),
  });
  return { herald, nchan: nchanResult };
}

/** Persisted events published by `mode` ('http' or 'batch') at `rates`, on a SQLite hub and then a PostgreSQL one. */
async function persistedLadders(ctx, mode, rates) {
  ctx.log('  SQLite:');
  const hub = await startHub({ cpu: 0 });
  const sqlite = await ladder(ctx, {
    rates: rates.sqlite,
    subscribeTo: hub,
    publisher: { mode, target: local(hub), persist: true },
    hubPids: () => [hub.pid],
    cleanup: () => hub.stop(),
  });
  ctx.log('  PostgreSQL:');
  let postgres;
  try {
    const db = await createDatabase();
    const pgHub = await startHub({ cpu: 0, env: { DATABASE_URL: db.url } }).catch(async (err) => {
      await db.drop();
      throw err;
    });
    postgres = await ladder(ctx, {
      rates: rates.postgres,
      subscribeTo: pgHub,
      publisher: { mode, target: local(pgHub), persist: true },
      hubPids: () => [pgHub.pid],
      cleanup: async () => {
        await pgHub.stop();
        await db.drop();
      },
    });
  } catch (err) {
    ctx.log(`  PostgreSQL skipped: ${err.message}`);
    postgres = { skipped: err.message };
  }
  return { sqlite, postgres };
}

export function httpPersisted(ctx) {
  return persistedLadders(ctx, 'http', {
    sqlite: { full: [250, 500, 1000, 2000, 3000], quick: [250, 1000] },
    postgres: { full: [250, 500, 1000, 2500, 5000], quick: [250, 1000] },
  });
}

/** The same paths with POST /v1/events/batch: what is due each millisecond goes in one request. */
export async function httpBatch(ctx) {
  ctx.log('  live:');
  const hub = await startHub({ cpu: 0 });
  const live = await ladder(ctx, {
    rates: { full: [5000, 10000, 20000, 30000], quick: [5000, 20000] },
    subscribeTo: hub,
    publisher: { mode: 'batch', target: local(hub), persist: false },
    hubPids: () => [hub.pid],
    cleanup: () => hub.stop(),
  });
  const persisted = await persistedLadders(ctx, 'batch', {
    sqlite: { full: [1000, 2000, 5000, 10000], quick: [2000, 5000] },
    postgres: { full: [1000, 2500, 5000, 10000], quick: [2000, 5000] },
  });
  return { live, ...persisted };
}

export async function ingress(ctx) {
  const redis = await startRedis(0);
  const hub = await startHub({ cpu: 0, env: { REDIS_URL: redis.url } }).catch(async (err) => {
    await redis.stop();
    throw err;
  });
  const herald = await ladder(ctx, {
    rates: { full: [5000, 10000, 20000, 30000], quick: [5000, 20000] },
    subscribeTo: hub,
    publisher: { mode: 'xadd', redisUrl: redis.url, stream: 'herald:ingress' },
    hubPids: () => [hub.pid, redis.pid],
    cleanup: async () => {
      await hub.stop();
      await redis.stop();
    },
  });
  return { herald };
}

export async function crossInstance(ctx) {
  const run = async (mode, rates) => {
    const redis = await startRedis(0);
    const hubs = [];
    try {
      hubs.push(await startHub({ cpu: 0, env: { REDIS_URL: redis.url } }));
      hubs.push(await startHub({ cpu: 0, env: { REDIS_URL: redis.url } }));
    } catch (err) {
      for (const hub of hubs) await hub.stop();
      await redis.stop();
      throw err;
    }
    const [a, b] = hubs;
    return ladder(ctx, {
      rates,
      subscribeTo: a,
      publisher: { mode, target: local(b), persist: false },
      hubPids: () => [a.pid, b.pid, redis.pid],
      cleanup: async () => {
        await a.stop();
        await b.stop();
        await redis.stop();
      },
    });
  };
  const herald = await run('http', { full: [1000, 2500, 5000, 10000], quick: [1000, 5000] });
  ctx.log('  batched (POST /v1/events/batch into B):');
  const batched = await run('batch', { full: [2500, 5000, 10000, 20000], quick: [5000, 10000] });
  return { herald, batched };
}
