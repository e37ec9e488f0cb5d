// The parent's handle on the subscriber processes: forks enough of them (at most
// PER_WORKER streams each, under the 20,000 open files a process may hold),
// gives each a range of user slots and sums up what they report.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, stop, track } from './processes.mjs';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'subscriber-worker.mjs');
export const PER_WORKER = 9000;
/**
 * Opens in flight, over all workers: bounded under the servers' listen backlog
 * (511 for Node's listen()), so that a burst does not overflow it and turn into
 * 1 s SYN retransmits.
 */
const INFLIGHT = Number(process.env.BENCH_INFLIGHT ?? 200);

function reply(child, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code) => reject(new Error(`subscriber worker ${child.pid} exited (${code}) awaiting ${type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * Opens `count` streams (user slots from `first`) against `target` ({host, port}).
 * kind: 'herald' (waits for the ready event), 'floor' (same) or 'nchan' (waits for its ": hi").
 * Herald only: `topic`, a topic every stream follows (`GET /v1/stream?topic=…`), and
 * `tokenTopics`, the patterns of the tokens' `topics` claim (none: the hub must make
 * the topic public, PUBLIC_TOPICS).
 */
export async function openSubscribers({ kind, target, count, first = 0, channel, topic, tokenTopics, workers: wanted }) {
  const n = Math.max(wanted ?? 1, Math.ceil(count / PER_WORKER));
  const children = Array.from({ length: n }, () => track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  const handle = {
    pids: children.map((c) => c.pid),
    opened: null,
    async collect(step) {
      const parts = await Promise.all(children.map((c) => {
        const r = reply(c, 'step');
        c.send({ cmd: 'collect', step });
        return r;
      }));
      const distinct = new Map();
      const latencies = [];
      let dups = 0, outOfOrder = 0, misrouted = 0, resets = 0, dropped = 0;
      for (const part of parts) {
        for (const x of part.latencies) latencies.push(x);
        for (const [q, c] of part.distinct) distinct.set(q, (distinct.get(q) ?? 0) + c);
        dups += part.dups;
        outOfOrder += part.outOfOrder;
        misrouted += part.misrouted;
        resets += part.resets;
        dropped += part.dropped;
      }
      return { latencies, distinct, dups, outOfOrder, misrouted, resets, dropped };
    },
    /** Total distinct receptions of step `step` so far. */
    async count(step) {
      const parts = await Promise.all(children.map((c) => {
        const r = reply(c, 'count');
        c.send({ cmd: 'count', step });
        return r;
      }));
      return parts.reduce((sum, p) => sum + p.total, 0);
    },
    /** From now on a dropped stream reconnects to one of `targets` (by slot parity) after a random back-off. */
    async armFailover(targets, backoffMs) {
      const back = children.map((c) => reply(c, 'allBack'));
      await Promise.all(children.map((c) => {
        const r = reply(c, 'armed');
        c.send({ cmd: 'failover', targets, backoffMs });
        return r;
      }));
      return () => Promise.all(back);
    },
    async close() {
      await Promise.all(children.map(async (c) => {
        if (c.exitCode !== null || !c.connected) return;
        const done = exited(c);
        c.send({ cmd: 'close' });
        await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
        await stop(c, 'SIGKILL');
      }));
    },
  };
  const per = Math.ceil(count / n);
  const inflight = Math.max(1, Math.floor(INFLIGHT / n));
  const results = await Promise.all(children.map((c, k) => {
    const from = first + k * per;
    const to = Math.min(first + count, from + per);
    const r = reply(c, 'opened');
    c.send({ cmd: 'open', kind, host: target.host, port: target.port, from, to, inflight, channel, topic, tokenTopics });
    return r;
  }));
  handle.opened = {
    opened: results.reduce((s, r) => s + r.opened, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    retried: results.reduce((s, r) => s + r.retried, 0),
    errors: results.reduce((sum, r) => {
      for (const [what, n] of Object.entries(r.errors)) sum[what] = (sum[what] ?? 0) + n;
      return sum;
    }, {}),
    seconds: (Math.max(...results.map((r) => r.lastAt)) - Math.min(...results.map((r) => r.firstAt))) / 1000,
    /** CPU the subscriber processes spent while opening (token minting and fork not included), in seconds. */
    generatorCpuSeconds: results.reduce((s, r) => s + r.cpuMs, 0) / 1000,
  };
  return handle;
}
