// fanout: one event to 5,000 users, each holding one stream. The API takes at
// most 1,000 recipients per event, so Herald gets 5 events of 1,000 recipients,
// all due at the same instant; Nchan gets one message on a channel all 5,000
// subscribe to (its own way to broadcast). Reported per path: the time until the
// last subscriber has it, and the median subscriber, over several repetitions.
import { sleep } from '../lib/clock.mjs';
import { startHub } from '../lib/hub.mjs';
import { account, drain, nextStep } from '../lib/ladder.mjs';
import { startNchan } from '../lib/nchan.mjs';
import { startPublisher } from '../lib/publisher.mjs';
import { startRedis } from '../lib/redis.mjs';
import { median, round, summarize } from '../lib/stats.mjs';
import { openSubscribers } from '../lib/subscribers.mjs';
import { userId } from '../lib/tokens.mjs';

export const FANOUT_USERS = 5000;
export const MAX_RECIPIENTS = 1000; // docs/api.md: recipients, 1-1000 user ids

async function repeat(ctx, { kind = 'herald', server, publisher, groups, channel, perEvent }) {
  let subs, pub;
  try {
    subs = await openSubscribers({ kind, target: { host: '127.0.0.1', port: server.port }, count: FANOUT_USERS, channel });
    if (subs.opened.failed > 0) throw new Error(`${subs.opened.failed} streams failed to open`);
    pub = await startPublisher(publisher);
    await sleep(500);
    const reps = [];
    const total = ctx.quick ? 3 : 10;
    for (let r = 0; r < total; r++) {
      const step = nextStep();
      const result = await pub.burst({ step, groups, channel });
      const expected = result.acked.reduce((sum, q) => sum + perEvent(q), 0);
      await drain(subs, step, expected, ctx.drainMs);
      const collected = await subs.collect(step);
      const { lost, dup } = account(result.acked, collected, perEvent);
      const lat = summarize(collected.latencies);
      reps.push({ last: round(lat.max), p50: round(lat.p50), received: lat.n, lost, dup, unacked: groups.length - result.acked.length });
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
      reps,
    };
    ctx.log(`  last subscriber: median ${figures.lastMedian} ms, worst ${figures.lastMax} ms; median subscriber ${figures.p50Median} ms; lost ${figures.lost}, dup ${figures.dup}`);
    return figures;
  } finally {
    await pub?.close();
    await subs?.close();
  }
}

const herald = (ctx, server, publisher) => {
  const groups = [];
  for (let from = 0; from < FANOUT_USERS; from += MAX_RECIPIENTS) {
    groups.push(Array.from({ length: Math.min(MAX_RECIPIENTS, FANOUT_USERS - from) }, (_, i) => userId(from + i)));
  }
  return repeat(ctx, { server, publisher, groups, perEvent: (q) => groups[q].length });
};

export async function fanout(ctx) {
  const result = { eventsPerFanout: Math.ceil(FANOUT_USERS / MAX_RECIPIENTS), recipientsPerEvent: MAX_RECIPIENTS };
  const local = (s) => ({ host: '127.0.0.1', port: s.port });

  ctx.log('  HTTP live:');
  let hub = await startHub({ cpu: 0 });
  try {
    result.httpLive = await herald(ctx, hub, { mode: 'http', target: local(hub), persist: false });
  } finally {
    await hub.stop();
  }

  ctx.log('  HTTP persisted (SQLite):');
  hub = await startHub({ cpu: 0 });
  try {
    result.httpPersisted = await herald(ctx, hub, { mode: 'http', target: local(hub), persist: true });
  } finally {
    await hub.stop();
  }

  ctx.log('  ingress:');
  const redis = await startRedis(0);
  try {
    hub = await startHub({ cpu: 0, env: { REDIS_URL: redis.url } });
    try {
      result.ingress = await herald(ctx, hub, { mode: 'xadd', redisUrl: redis.url, stream: 'herald:ingress' });
    } finally {
      await hub.stop();
    }
  } finally {
    await redis.stop();
  }

  if (ctx.nchan) {
    ctx.log('  Nchan (one channel, 5,000 subscribers):');
    const nchan = await startNchan({ cpu: 0 });
    try {
      result.nchan = await repeat(ctx, {
        kind: 'nchan', server: nchan, publisher: { mode: 'nchan', target: local(nchan) },
        groups: [['all']], channel: 'all', perEvent: () => FANOUT_USERS,
      });
    } finally {
      await nchan.stop();
    }
  }
  return result;
}
