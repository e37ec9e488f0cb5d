// A Herald hub as a child process, pinned to one CPU, with the rate limits out
// of the way (the bench measures delivery, not the limiter).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './ports.mjs';
import { spawnPinned, stop } from './processes.mjs';
import { SECRET } from './tokens.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(ROOT, 'dist/apps/hub/src/main.js');

/** Node flags for every hub, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where a scenario's time goes. */
const NODE_FLAGS = (process.env.BENCH_HUB_NODE_FLAGS ?? '').split(' ').filter(Boolean);

export const BENCH_ENV = {
  NODE_ENV: 'production',
  JWT_SECRET: SECRET,
  LOG_LEVEL: 'warn', // one log line per request would be measured too
  RATE_LIMIT_STREAM_OPENS_PER_USER: '0',
  RATE_LIMIT_STREAM_OPENS_PER_ADDRESS: '0',
  RATE_LIMIT_TICKETS: '0',
  STREAMS_PER_USER_MAX: '100',
  STREAMS_MAX: '1000000',
  STREAM_MAX_AGE_MS: '0', // no stream ends by age during a measurement
  SHUTDOWN_GRACE_MS: '1000',
};

/** Whether the hub at `url` answers its readiness probe with 200. */
export async function isReady(url) {
  try {
    const response = await fetch(`${url}/health/ready`);
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** Starts a hub on a free port; `env` on top of the bench defaults (a fresh SQLite file unless DATABASE_URL). */
export async function startHub({ cpu = 0, env = {} } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-hub-'));
  const child = spawnPinned(cpu, process.execPath, [...NODE_FLAGS, MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...BENCH_ENV, SQLITE_PATH: path.join(dir, 'herald.sqlite'), PORT: String(port), ...env },
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => isReady(url), `hub on ${port}`, 20_000, () =>
    child.exitCode !== null ? `exited (${child.exitCode}): ${output}` : null,
  );
  return {
    url,
    port,
    pid: child.pid,
    child,
    output: () => output,
    kill: () => stop(child, 'SIGKILL'),
    async stop() {
      await stop(child, 'SIGTERM', 3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
