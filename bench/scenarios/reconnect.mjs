// reconnect-storm: three hubs on one Redis, 10,000 streams on hub A, events
// published (HTTP, into hub B) to those users at a modest rate throughout. Hub A
// is killed with SIGKILL; every client reconnects with Last-Event-ID to hub B or
// C (by slot parity) after a small random back-off. Reported: time from the kill
// until every stream is live again (ready received), lost and duplicated events.
import { now, sleep } from '../lib/clock.mjs';
import { startHub } from '../lib/hub.mjs';
import { account, drain, nextStep } from '../lib/ladder.mjs';
import { startPublisher } from '../lib/publisher.mjs';
import { startRedis } from '../lib/redis.mjs';
import { round, summarize } from '../lib/stats.mjs';
import { openSubscribers } from '../lib/subscribers.mjs';

const BACKOFF_MS = 500;

export async function reconnectStorm(ctx) {
  const streams = ctx.quick ? 3000 : 10_000;
  const rate = 200;
  const durationMs = ctx.quick ? 6000 : 12_000;
  const killAfterMs = ctx.quick ? 2000 : 4000;
  const redis = await startRedis(0);
  const hubs = [];
  let subs, pub;
  try {
    for (let i = 0; i < 3; i++) hubs.push(await startHub({ cpu: 0, env: { REDIS_URL: redis.url } }));
    const [a, b, c] = hubs;
    subs = await openSubscribers({ kind: 'herald', target: { host: '127.0.0.1', port: a.port }, count: streams, workers: 2 });
    if (subs.opened.failed > 0) throw new Error(`${subs.opened.failed} streams failed to open`);
    ctx.log(`  ${streams} streams on hub A in ${round(subs.opened.seconds, 2)} s`);
    pub = await startPublisher({ mode: 'http', target: { host: '127.0.0.1', port: b.port }, persist: false });
    const allBack = await subs.armFailover([{ host: '127.0.0.1', port: b.port }, { host: '127.0.0.1', port: c.port }], BACKOFF_MS);
    const step = nextStep();
    const publishing = pub.rate({ step, rate, durationMs, users: streams, graceMs: ctx.drainMs });
    await sleep(killAfterMs);
    const killedAt = now();
    await a.kill();
    const back = await Promise.race([allBack(), sleep(60_000).then(() => null)]);
    const result = await publishing;
    await drain(subs, step, result.acked.length, ctx.drainMs);
    const collected = await subs.collect(step);
    const { lost, dup } = account(result.acked, collected);
    const lat = summarize(collected.latencies);
    const figures = {
      streams,
      rate,
      backoffMs: BACKOFF_MS,
      allLiveSeconds: back ? round((Math.max(...back.map((w) => w.at)) - killedAt) / 1000, 2) : null,
      reconnected: back ? back.reduce((s, w) => s + w.reconnected, 0) : null,
      published: Math.round((rate * durationMs) / 1000),
      acked: result.acked.length,
      lost,
      dup,
      outOfOrder: collected.outOfOrder,
      resets: collected.resets,
      p99: round(lat.p99),
      max: round(lat.max),
    };
    ctx.log(`  all ${streams} streams live again ${figures.allLiveSeconds} s after the kill (back-off up to ${BACKOFF_MS} ms); ${figures.acked} events acked, lost ${lost}, dup ${dup}, out of order ${figures.outOfOrder}, resets ${figures.resets}; p99 ${figures.p99} ms, max ${figures.max} ms`);
    return figures;
  } finally {
    await pub?.close();
    await subs?.close();
    for (const hub of hubs) await hub.stop();
    await redis.stop();
  }
}
