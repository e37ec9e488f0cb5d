// Herald's chaos run: see chaos/README.md.
//   npm run chaos                          120 s of faults (builds first)
//   CHAOS_SECONDS=30 CHAOS_SEED=7 node chaos/run.mjs
// Starts its own Redis, PostgreSQL and three hubs behind a proxy, runs
// clients and publishers at a steady rate while faults are injected on a
// schedule drawn from CHAOS_SEED, then lets everything recover and checks
// every acknowledged event against what each stream received. The last line
// is `published N, delivered N, lost 0, duplicated 0`; the exit status is 1
// when anything was lost or duplicated, or another delivery guarantee broke
// (ids, resets, routing, inboxes), 2 when the set-up failed.
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { check, checkInboxes, outstanding, verdict } from './lib/check.mjs';
import { Tab } from './lib/clients.mjs';
import { HUB_MAIN, HubSlot } from './lib/hubs.mjs';
import { keyOf, Ledger } from './lib/ledger.mjs';
import { describe, FAULT_KINDS, Nemesis, plan } from './lib/nemesis.mjs';
import { PostgresServer } from './lib/postgres.mjs';
import { killAllNow } from './lib/procs.mjs';
import { Proxy } from './lib/proxy.mjs';
import { Comments, Flood, HttpBatch, HttpSingle, Ingress } from './lib/publishers.mjs';
import { Rng } from './lib/random.mjs';
import { RedisServer } from './lib/redis.mjs';
import { hubLogLines, report } from './lib/report.mjs';
import { SECRET, serviceToken, userToken } from './lib/tokens.mjs';
import { lowPort, now, RunClock, sleep, waitFor } from './lib/util.mjs';

const SECONDS = Number(process.env.CHAOS_SECONDS ?? 120);
const SEED = process.env.CHAOS_SEED ?? String(Math.floor(Math.random() * 1e9));
const USERS = Number(process.env.CHAOS_USERS ?? 24);
const RATE = Number(process.env.CHAOS_RATE ?? 1);
const KEEP = process.env.CHAOS_KEEP === '1';
const STRICT = process.env.CHAOS_STRICT === '1';
const HUBS = 3;
/** How long publishers keep retrying what is under way once the faults are over. */
const PUBLISH_GRACE_MS = 30_000;
const RECOVER_MS = 45_000;
const SETTLE_MS = 30_000;
/** Quiet time with nothing owed before the verdict: a late duplicate would show within it (the outbox relay polls every second). */
const QUIET_MS = 2_000;
/** With notifications still owed, how long without any event frame (every tab connected) before checking anyway. */
const GIVE_UP_QUIET_MS = 10_000;

if (!Number.isFinite(SECONDS) || SECONDS < 5) {
  console.error(`CHAOS_SECONDS must be a number of seconds ≥ 5 (got ${process.env.CHAOS_SECONDS})`);
  process.exit(2);
}
if (!existsSync(HUB_MAIN)) {
  console.error(`${path.relative(process.cwd(), HUB_MAIN)} is missing: run \`npm run build\` first (npm run chaos does)`);
  process.exit(2);
}

const runDir = mkdtempSync(path.join(tmpdir(), 'herald-chaos-'));
chmodSync(runDir, 0o755); // PostgreSQL runs as `postgres` under it
const runLog = path.join(runDir, 'run.log');
let clock = new RunClock();
const log = (message) => {
  const line = `[${clock.stamp()}] ${message}`;
  console.log(line);
  appendFileSync(runLog, `${line}\n`);
};

let cleanup = async () => undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true;
    console.log(`\n${signal}: stopping everything the run started (by PID); logs kept in ${runDir}`);
    const timer = setTimeout(() => {
      killAllNow();
      process.exit(130);
    }, 8000);
    void cleanup()
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        killAllNow();
        process.exit(130);
      });
  });
}
process.on('exit', () => killAllNow());

async function main() {
  const rng = new Rng(SEED);
  const workload = rng.fork('workload');
  const users = Array.from({ length: USERS }, (_, i) => `user${i}`);
  const tokens = new Map(users.map((u) => [u, userToken(u)]));
  const ledger = new Ledger();
  const runId = `${SEED}-${Date.now().toString(36)}`;

  console.log(`Herald chaos run: seed ${SEED}, ${SECONDS} s of faults, ${HUBS} hubs, ${USERS} users; logs in ${runDir}`);

  // ------------------------------------------------------------ the cluster
  const [redisPort, pgPort, proxyPort, ...hubPorts] = await Promise.all(Array.from({ length: 3 + HUBS }, () => lowPort()));
  const redis = new RedisServer({ dir: path.join(runDir, 'redis'), port: redisPort });
  const postgres = new PostgresServer({ dir: path.join(runDir, 'postgres'), port: pgPort });
  const hubEnv = {
    NODE_ENV: 'production',
    JWT_SECRET: SECRET,
    LOG_LEVEL: 'warn',
    REDIS_URL: redis.url,
    DATABASE_URL: postgres.url,
    // A window larger than the run: any `reset` is a failure.
    REPLAY_MAX_EVENTS: '1000000',
    REPLAY_MAX_BYTES: '1073741824',
    REPLAY_TTL_MS: '7200000',
    HEARTBEAT_MS: '5000',
    SHUTDOWN_GRACE_MS: '3000',
    // Streams also end by age, so clients reconnect (and replay) besides the faults.
    STREAM_MAX_AGE_MS: '30000',
    INGRESS_CLAIM_IDLE_MS: '5000',
    // Events go to 1-3 recipients: from 2 on they take the fan-out channel, so
    // both ways between instances meet the faults.
    REDIS_FANOUT_CHANNEL_MIN: '2',
  };
  const hubs = hubPorts.map((port, index) => new HubSlot({ index, port, env: hubEnv, dir: runDir, log }));
  const proxy = new Proxy(hubPorts);
  const tabs = [];
  const workers = [];
  let flood;

  cleanup = async () => {
    for (const tab of tabs) tab.close();
    await Promise.all(workers.map((w) => w.stop(Date.now()).catch(() => undefined)));
    await proxy.close().catch(() => undefined);
    await Promise.all(hubs.map((hub) => hub.stop('SIGTERM', 5000).catch(() => undefined)));
    await redis.stop().catch(() => undefined);
    await postgres.stop('fast').catch(() => undefined);
  };

  const setupStarted = now();
  await Promise.all([redis.start(), postgres.create()]);
  // One hub first (it runs the migrations), then the others.
  await hubs[0].start();
  await hubs[0].waitReady(30_000);
  await Promise.all(hubs.slice(1).map(async (hub) => {
    await hub.start();
    await hub.waitReady(30_000);
  }));
  await proxy.listen(proxyPort);
  log(`Redis :${redisPort} (AOF, fsync always), PostgreSQL :${pgPort} (${postgres.bin}), hubs :${hubPorts.join(' :')}, proxy :${proxy.port}`);

  // ------------------------------------------------------------ the tabs
  const openTab = async (user, mode, late) => {
    const tab = new Tab({ id: `${user}/tab${tabs.filter((t) => t.user === user).length}`, user, mode, base: proxy.url, token: tokens.get(user), late, log });
    tabs.push(tab);
    await Promise.race([tab.open(), sleep(late ? 8000 : 30_000)]);
    if (tab.firstReadyAt === null) log(`${tab.id} has no ready yet`);
    return tab;
  };
  const initial = [];
  await Promise.all(
    users.map(async (user, i) => {
      const count = [1, 2, 1, 3][i % 4];
      for (let t = 0; t < count; t++) initial.push(await openTab(user, (i + t) % 3 === 2 ? 'ticket' : 'token', false));
    }),
  );
  initial.sort((a, b) => (a.id < b.id ? -1 : 1));
  if (initial.some((tab) => tab.firstReadyAt === null)) throw new Error('not every tab got its first ready');
  log(`${initial.length} tabs open (${initial.filter((t) => t.mode === 'ticket').length} with tickets) in ${((now() - setupStarted) / 1000).toFixed(1)} s of set-up`);

  // ------------------------------------------------------------ publishers
  const common = { ledger, users, log, base: proxy.url, runId, redisUrl: redis.url };
  const service = serviceToken('chaos');
  for (let i = 0; i < 3; i++) workers.push(new HttpSingle({ ...common, name: `http${i}`, rng: workload.fork(`http${i}`), ratePerSec: 6 * RATE, token: service }));
  workers.push(new HttpBatch({ ...common, name: 'batch0', rng: workload.fork('batch0'), ratePerSec: 1.5 * RATE, token: service }));
  for (let i = 0; i < 2; i++) workers.push(new Ingress({ ...common, name: `ingress${i}`, rng: workload.fork(`ingress${i}`), ratePerSec: 6 * RATE }));
  const comments = new Comments({ ...common, name: 'comments0', rng: workload.fork('comments0'), ratePerSec: 3 * RATE, tokens });
  workers.push(comments);
  flood = new Flood({ ...common, name: 'flood0', rng: workload.fork('flood0'), ratePerSec: 10, token: service });
  workers.push(flood);

  // ------------------------------------------------------------ faults
  const faults = plan(rng.fork('faults'), SECONDS, { hubs: HUBS, tabs: initial.length });
  clock = new RunClock();
  const nemesis = new Nemesis({
    faults,
    clock,
    log,
    hubs,
    redis,
    postgres,
    proxy,
    tabs: initial,
    allTabs: () => tabs,
    flood,
    users,
    openTab: (user, mode) => openTab(user, mode, true),
  });
  log(`schedule (seed ${SEED}): ${faults.length} faults planned`);
  for (const fault of faults) log(`  at ${fault.at.toFixed(1)} s  ${fault.kind.padEnd(20)} ${describe(fault)}`);

  for (const worker of workers) worker.start();
  nemesis.start();
  await sleep(SECONDS * 1000);

  // ------------------------------------------------------------ recovery
  log('faults over: healing what is down, publishers finish what is under way');
  flood.giveUpAt = Date.now() + PUBLISH_GRACE_MS;
  await nemesis.stop();
  await Promise.all([redis.start(), postgres.start()]);
  await Promise.all(hubs.map((hub) => hub.start()));
  proxy.setDelay(0);
  for (const tab of tabs) tab.resume();
  const publishingEnded = now();
  await Promise.all(workers.map((w) => w.stop(Date.now() + PUBLISH_GRACE_MS)));
  log(`publishers stopped (${((now() - publishingEnded) / 1000).toFixed(1)} s to finish what was under way)`);
  const recoverStarted = now();
  await waitFor(async () => (await Promise.all(hubs.map((h) => h.ready()))).every(Boolean), 'every hub ready', RECOVER_MS, { every: 250 }).catch((err) =>
    log(`${err.message}`),
  );
  await waitFor(() => tabs.every((t) => t.connected || t.firstReadyAt === null), 'every tab connected', RECOVER_MS, { every: 250 }).catch(() =>
    log(`not every tab reconnected: ${tabs.filter((t) => !t.connected).map((t) => t.id).join(', ')}`),
  );
  const recovered = now();
  log(`recovered in ${((recovered - recoverStarted) / 1000).toFixed(1)} s; settling`);

  // ------------------------------------------------------------ settle
  let settled = false;
  let last = null;
  const settleStarted = now();
  while (now() - settleStarted < SETTLE_MS) {
    const { missing, pending } = outstanding({ ledger, tabs });
    const lastFrame = Math.max(...tabs.map((t) => t.lastFrameAt));
    // Streams keep reconnecting (they end by age): only events count as news here.
    const lastEvent = Math.max(...tabs.map((t) => t.lastEventAt));
    if (missing === 0 && pending === 0 && now() - lastFrame > QUIET_MS) {
      settled = true;
      break;
    }
    // Still owed, but nothing has arrived for a while and every tab is connected: what is
    // missing was skipped on an open stream or by a replay, and will not come.
    if (pending === 0 && now() - lastEvent > GIVE_UP_QUIET_MS && tabs.every((t) => t.connected || t.firstReadyAt === null)) break;
    if (!last || last.missing !== missing) log(`settling: ${missing} notification(s) still owed to tabs, ${pending} publish(es) pending`);
    last = { missing, pending };
    await sleep(250);
  }
  log(settled ? `settled after ${((now() - settleStarted) / 1000).toFixed(1)} s` : `not settled within ${SETTLE_MS / 1000} s; checking what arrived`);

  // ------------------------------------------------------------ ground truth
  const anyUserToken = tokens.get(users[0]);
  const getJson = async (url, token) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
        if (response.ok) return await response.json();
      } catch {
        // retried
      }
      await sleep(300);
    }
    return null;
  };
  const commentProblems = await comments.resolveRecipients((post) => getJson(`${proxy.url}/v1/posts/${post.id}`, anyUserToken));
  const inboxes = new Map();
  await Promise.all(
    users.map(async (user) => {
      const items = [];
      let cursor = null;
      for (;;) {
        const page = await getJson(`${proxy.url}/v1/notifications?limit=100${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`, tokens.get(user));
        if (!page) return;
        for (const item of page.items) items.push({ ...item, key: keyOf(item) });
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      inboxes.set(user, items);
    }),
  );
  const outbox = await postgres.query('SELECT COUNT(*)::int AS n FROM outbox');
  const diag = { outbox: outbox?.[0]?.n ?? 'unreadable' };
  const redisClient = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redisClient.connect();
    const pending = await redisClient.xpending('herald:ingress', 'herald').catch(() => [0]);
    diag.ingressPending = Number(pending?.[0] ?? 0);
    diag.deadLetters = await redisClient.xlen('herald:ingress:dead');
    diag.deadLetterSamples = (await redisClient.xrange('herald:ingress:dead', '-', '+', 'COUNT', 5)).map(([, fields]) => fields.join(' ').slice(0, 300));
    diag.redisMemory = /used_memory_human:(\S+)/.exec(await redisClient.info('memory'))?.[1];
  } catch (err) {
    diag.redisError = err.message;
  } finally {
    redisClient.disconnect();
  }

  // ------------------------------------------------------------ verdict
  const result = check({ ledger, tabs });
  const inbox = checkInboxes({ ledger, inboxes });
  const hubLog = hubLogLines(
    hubs.map((hub) => {
      try {
        return readFileSync(path.join(runDir, `${hub.name}.log`), 'utf8');
      } catch {
        return '';
      }
    }),
  );
  const judged = verdict({ result, inbox, commentProblems, hubs, diag, settled, hubLog, executed: nemesis.executed });
  const text = report({
    seed: SEED,
    seconds: SECONDS,
    users,
    tabs,
    initial,
    ledger,
    workers,
    flood,
    nemesis,
    faultKinds: FAULT_KINDS,
    hubs,
    redis,
    postgres,
    proxy,
    result,
    inbox,
    commentProblems,
    diag,
    hubLog,
    settled,
    verdict: judged,
    strict: STRICT,
    timings: { recoverMs: recovered - recoverStarted, settleMs: now() - settleStarted },
  });
  const failed = judged.fatal.length > 0 || (STRICT && judged.findings.length > 0);

  if (failed || KEEP) {
    // What each tab saw and what was published, for investigating (times in ms since the faults began).
    const t = (at) => (at === null ? null : Math.round(at - clock.start));
    writeFileSync(
      path.join(runDir, 'tabs.json'),
      JSON.stringify(
        tabs.map((tab) => ({
          id: tab.id,
          user: tab.user,
          mode: tab.mode,
          late: tab.late,
          firstReadyAt: t(tab.firstReadyAt),
          timeline: tab.timeline.map((e) => ({ ...e, at: t(e.at) })),
          events: tab.events.map((f) => [f.key, f.id, t(f.at), f.conn]),
        })),
      ),
    );
    writeFileSync(
      path.join(runDir, 'ledger.json'),
      JSON.stringify(ledger.all().map((e) => ({ ...e, startedAt: t(e.startedAt), ackedAt: t(e.ackedAt) }))),
    );
  }
  await cleanup();
  cleanup = async () => undefined;
  if (failed || KEEP) console.log(`logs kept in ${runDir}`);
  else rmSync(runDir, { recursive: true, force: true });
  console.log(text);
  console.log(`published ${result.owed}, delivered ${result.delivered}, lost ${result.lost}, duplicated ${result.duplicated}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  async (err) => {
    console.error(`chaos run failed: ${err.stack ?? err}`);
    await cleanup().catch(() => undefined);
    console.error(`logs kept in ${runDir}`);
    process.exit(2);
  },
);
