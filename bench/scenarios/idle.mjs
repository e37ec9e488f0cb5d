// idle: open N streams as fast as the generator can, then measure the open rate
// and the server's RSS per idle stream. Herald, the floor server and Nchan.
import { sleep } from '../lib/clock.mjs';
import { startFloor } from '../lib/floor.mjs';
import { startHub } from '../lib/hub.mjs';
import { startNchan } from '../lib/nchan.mjs';
import { cpuMeter, rssKiB } from '../lib/procstat.mjs';
import { round } from '../lib/stats.mjs';
import { openSubscribers } from '../lib/subscribers.mjs';

const SETTLE_MS = 3000;

const SERVERS = {
  herald: async () => {
    const hub = await startHub({ cpu: 0 });
    return { ...hub, pids: () => [hub.pid], kind: 'herald' };
  },
  floor: async () => ({ ...(await startFloor({ cpu: 0 })), kind: 'floor' }),
  nchan: async () => ({ ...(await startNchan({ cpu: 0 })), kind: 'nchan' }),
};

async function measure(name, count, log) {
  const server = await SERVERS[name]();
  let subs;
  try {
    await sleep(1000);
    const rss = () => server.pids().reduce((sum, pid) => sum + rssKiB(pid), 0);
    const before = rss();
    const serverCpu = cpuMeter(server.pids());
    subs = await openSubscribers({ kind: server.kind, target: { host: '127.0.0.1', port: server.port }, count });
    const o = subs.opened;
    // Which side was saturated while opening, the server on CPU 0 or the generator on CPU 1.
    const serverCpuPct = serverCpu.stop();
    // The subscriber processes' own CPU from their first request to their last ready (tokens are minted before).
    const generatorCpuPct = (100 * o.generatorCpuSeconds) / o.seconds;
    await sleep(SETTLE_MS);
    const after = rss();
    const figures = {
      streams: count,
      opened: o.opened,
      failed: o.failed,
      retried: o.retried,
      openSeconds: round(o.seconds, 2),
      opensPerSecond: Math.round(o.opened / o.seconds),
      rssBeforeMiB: round(before / 1024),
      rssAfterMiB: round(after / 1024),
      kibPerStream: round((after - before) / count, 2),
      serverCpuDuringOpen: round(serverCpuPct, 0),
      generatorCpuDuringOpen: round(generatorCpuPct, 0),
      errors: o.errors,
    };
    log(`  ${name.padEnd(6)} ${count} streams: ${figures.opensPerSecond} opens/s (${figures.openSeconds} s, ${o.failed} failed, ${o.retried} retried)  RSS ${figures.rssBeforeMiB} -> ${figures.rssAfterMiB} MiB = ${figures.kibPerStream} KiB/stream; CPU while opening: server ${figures.serverCpuDuringOpen}%, generator ${figures.generatorCpuDuringOpen}%`);
    return figures;
  } finally {
    await subs?.close();
    await server.stop();
  }
}

export async function idle(ctx) {
  const sizes = ctx.quick ? [10_000] : [10_000, 18_000];
  const servers = ['herald', 'floor', ...(ctx.nchan ? ['nchan'] : [])];
  const result = {};
  for (const count of sizes) {
    result[count] = {};
    for (const name of servers) result[count][name] = await measure(name, count, ctx.log);
    await sleep(1000);
  }
  return result;
}
