// The parent's handle on the subscriber processes: forks enough of them (at most
// PER_WORKER streams each, under the 20,000 open files a process may hold),
// gives each a range of user slots and sums up what they report.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, stop, track } from './processes.mjs';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'subscriber-worker.mjs');
export const PER_WORKER = 9000;
/** Source addresses the streams are spread over (each gives ~28,000 ports towards one server port). */
export const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
/** Opens in flight per worker: bounded, so that bursts do not overflow the listen backlog. */
const INFLIGHT = 200;

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
 */
export async function openSubscribers({ kind, target, count, first = 0, channel, workers: wanted }) {
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
  const results = await Promise.all(children.map((c, k) => {
    const from = first + k * per;
    const to = Math.min(first + count, from + per);
    const r = reply(c, 'opened');
    c.send({ cmd: 'open', kind, host: target.host, port: target.port, from, to, addresses: ADDRESSES, inflight: INFLIGHT, channel });
    return r;
  }));
  handle.opened = {
    opened: results.reduce((s, r) => s + r.opened, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    retried: results.reduce((s, r) => s + r.retried, 0),
    errors: Object.assign({}, ...results.map((r) => r.errors)),
    seconds: (Math.max(...results.map((r) => r.lastAt)) - Math.min(...results.map((r) => r.firstAt))) / 1000,
  };
  return handle;
}
