// fanout: one event to 5,000 users, each holding one stream. The API takes at
// most 1,000 recipients per event, so Herald gets 5 events of 1,000 recipients,
// all due at the same instant; Nchan gets one message on a channel all 5,000
// subscribe to (its own way to broadcast). Reported per path: the time until the
// last subscriber has it, and the median subscriber, over several repetitions.
//
// fanout-topic: the same 5,000 users, each stream following one topic (the same
// for all: GET /v1/stream?topic=bench:all, allowed by the token's topics claim),
// and one event published to that topic per repetition (docs/api.md, "Topics"):
// Herald's own way to broadcast, against Nchan's shared channel.
import { sleep } from '../lib/clock.mjs';
import { startHub } from '../lib/hub.mjs';
import { account, drain, nextStep } from '../lib/ladder.mjs';
import { startNchan } from '../lib/nchan.mjs';
import { cpuSeconds } from '../lib/procstat.mjs';
import { startPublisher } from '../lib/publisher.mjs';
import { startRedis } from '../lib/redis.mjs';
import { median, round, summarize } from '../lib/stats.mjs';
import { openSubscribers } from '../lib/subscribers.mjs';
import { userId } from '../lib/tokens.mjs';

export const FANOUT_USERS = 5000;
export const MAX_RECIPIENTS = 1000; // docs/api.md: recipients, 1-1000 user ids
/** The topic every stream of fanout-topic follows, and the pattern its users' tokens admit. */
export const FANOUT_TOPIC = 'bench:all';
export const FANOUT_TOPIC_CLAIM = ['bench:*'];

const local = (s) => ({ host: '127.0.0.1', port: s.port });

/**
 * Opens the 5,000 streams, then publishes `groups` (an event per recipients list,
 * all due at once; each also to `topic` when given) `total` times and measures each
 * repetition. `perEvent(q)`: how many streams must get event q. `serverPids()`: the
 * processes whose CPU a fan-out costs (the hub, and Redis when it is on the path).
 */
async function repeat(ctx, { kind = 'herald', server, serverPids, publisher, groups, channel, topic, tokenTopics, perEvent }) {
  let subs, pub;
  const serverCpu = () => serverPids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  try {
    subs = await openSubscribers({ kind, target: local(server), count: FANOUT_USERS, channel, topic, tokenTopics });
    if (subs.opened.failed > 0) throw new Error(`${subs.opened.failed} streams failed to open: ${JSON.stringify(subs.opened.errors)}`);
    pub = await startPublisher(publisher);
    await sleep(500);
    const reps = [];
    const total = ctx.quick ? 3 : 10;
    let collected;
    for (let r = 0; r < total; r++) {
      const step = nextStep();
      const cpu0 = serverCpu();
      const result = await pub.burst({ step, groups, channel, topic });
      const expected = result.acked.reduce((sum, q) => sum + perEvent(q), 0);
      await drain(subs, step, expected, ctx.drainMs);
      const cpuMs = (serverCpu() - cpu0) * 1000;
      collected = await subs.collect(step);
      const { lost, dup } = account(result.acked, collected, perEvent);
      const lat = summarize(collected.latencies);
      reps.push({
        last: round(lat.max), p50: round(lat.p50), received: lat.n, lost, dup,
        unacked: groups.length - result.acked.length, statuses: result.statuses, serverCpuMs: round(cpuMs, 0),
      });
      await sleep(300);
    }
    const figures = {
      repetitions: reps.length,
      lastMedian: round(median(reps.map((r) => r.last))),
      lastMax: round(Math.max(...reps.map((r) => r.last))),
      p50Median: round(median(reps.map((r) => r.p50))),
      lost: reps.reduce((s, r) => s + r.lost, 0),
      dup: reps.reduce((s, r) => s + r.dup, 0),
      unacked: reps.reduce((s, r) => s + r.unacked, 0),
      // Counted by the subscribers over the whole run (not per repetition).
      outOfOrder: collected.outOfOrder,
      misrouted: collected.misrouted,
      // CPU time of the server processes from the publish until the last stream had it
      // (/proc: 10 ms ticks), the median over the repetitions.
      serverCpuMsMedian: round(median(reps.map((r) => r.serverCpuMs)), 0),
      reps,
    };
    const unacked = figures.unacked ? `, unacked ${figures.unacked} ${JSON.stringify(reps.map((r) => r.statuses))}` : '';
    ctx.log(`  last subscriber: median ${figures.lastMedian} ms, worst ${figures.lastMax} ms; median subscriber ${figures.p50Median} ms; lost ${figures.lost}, dup ${figures.dup}, out of order ${figures.outOfOrder}, misrouted ${figures.misrouted}${unacked}; server CPU ${figures.serverCpuMsMedian} ms per fan-out`);
    return figures;
  } finally {
    await pub?.close();
    await subs?.close();
  }
}

/** Herald, the 5,000 users as recipients: 5 events of 1,000. */
const herald = (ctx, server, serverPids, publisher) => {
  const groups = [];
  for (let from = 0; from < FANOUT_USERS; from += MAX_RECIPIENTS) {
    groups.push(Array.from({ length: Math.min(MAX_RECIPIENTS, FANOUT_USERS - from) }, (_, i) => userId(from + i)));
  }
  return repeat(ctx, { server, serverPids, publisher, groups, perEvent: (q) => groups[q].length });
};

/** Herald, the 5,000 streams following one topic: one event to the topic, no recipients. */
const heraldTopic = (ctx, server, serverPids, publisher) =>
  repeat(ctx, {
    server, serverPids, publisher, groups: [[]], topic: FANOUT_TOPIC, tokenTopics: FANOUT_TOPIC_CLAIM,
    perEvent: () => FANOUT_USERS,
  });

/** Runs `run(hub)` against a fresh hub (with a Redis of its own when `redis`), and stops them. */
async function withHub({ redis: withRedis = false } = {}, run) {
  const redis = withRedis ? await startRedis(0) : null;
  try {
    const hub = await startHub({ cpu: 0, env: redis ? { REDIS_URL: redis.url } : {} });
    try {
      return await run(hub, redis);
    } finally {
      await hub.stop();
    }
  } finally {
    await redis?.stop();
  }
}

export async function fanout(ctx) {
  const result = { eventsPerFanout: Math.ceil(FANOUT_USERS / MAX_RECIPIENTS), recipientsPerEvent: MAX_RECIPIENTS };

  ctx.log('  HTTP live:');
  result.httpLive = await withHub({}, (hub) =>
    herald(ctx, hub, () => [hub.pid], { mode: 'http', target: local(hub), persist: false }));

  ctx.log('  HTTP persisted (SQLite):');
  result.httpPersisted = await withHub({}, (hub) =>
    herald(ctx, hub, () => [hub.pid], { mode: 'http', target: local(hub), persist: true }));

  ctx.log('  ingress:');
  result.ingress = await withHub({ redis: true }, (hub, redis) =>
    herald(ctx, hub, () => [hub.pid, redis.pid], { mode: 'xadd', redisUrl: redis.url, stream: 'herald:ingress' }));

  if (ctx.nchan) {
    ctx.log('  Nchan (one channel, 5,000 subscribers):');
    const nchan = await startNchan({ cpu: 0 });
    try {
      result.nchan = await repeat(ctx, {
        kind: 'nchan', server: nchan, serverPids: () => nchan.pids(), publisher: { mode: 'nchan', target: local(nchan) },
        groups: [['all']], channel: 'all', perEvent: () => FANOUT_USERS,
      });
    } finally {
      await nchan.stop();
    }
  }
  return result;
}

export async function fanoutTopic(ctx) {
  const result = { topic: FANOUT_TOPIC, tokenTopics: FANOUT_TOPIC_CLAIM, eventsPerFanout: 1 };

  ctx.log(`  HTTP live, one hub (streams follow ${FANOUT_TOPIC}):`);
  result.httpLive = await withHub({}, (hub) =>
    heraldTopic(ctx, hub, () => [hub.pid], { mode: 'http', target: local(hub), persist: false }));

  ctx.log('  HTTP live, one hub with Redis (published into that hub):');
  result.redis = await withHub({ redis: true }, (hub, redis) =>
    heraldTopic(ctx, hub, () => [hub.pid, redis.pid], { mode: 'http', target: local(hub), persist: false }));

  return result;
}
