// Clocks, waiting, ports and a run log shared by every part of the chaos run.
import net from 'node:net';

/** Wall-clock milliseconds with sub-millisecond precision (one clock for the whole run). */
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Resolves once `check()` holds; rejects after `timeoutMs` naming `what`, or at once when `failed()` gives a reason. */
export async function waitFor(check, what, timeoutMs, { failed = () => null, every = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = failed();
    if (reason) throw new Error(`${what}: ${reason}`);
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(every);
  }
}

export { canConnect } from '../../bench/lib/ports.mjs';

function listens(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const taken = new Set();

/**
 * A free port below 32768, out of the kernel's ephemeral range, so that a
 * process restarted on it (a hub, Redis, PostgreSQL) finds it free again:
 * no outgoing connection can have been given it meanwhile.
 */
export async function lowPort() {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    if ((await listens(port)) && (await listens(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port below 32768');
}

/** Seconds since the run's clock started, for log lines: `t+12.3s`. */
export class RunClock {
  constructor() {
    this.start = now();
  }

  seconds(at = now()) {
    return (at - this.start) / 1000;
  }

  stamp(at = now()) {
    const s = this.seconds(at);
    return `t${s < 0 ? '-' : '+'}${Math.abs(s).toFixed(1)}s`;
  }
}

/** Percentile of a sorted array (nearest rank). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
