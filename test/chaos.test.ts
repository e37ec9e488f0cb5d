/**
 * The chaos run (chaos/README.md), 30 s of it with a fixed seed: three hub
 * processes behind a round-robin proxy, their own Redis and PostgreSQL, 42
 * EventSource tabs and HTTP, batch, Redis-ingress and comment publishers at a
 * steady rate, while hubs are SIGKILLed and rolled by SIGTERM, Redis and
 * PostgreSQL are stopped and crashed, the network is delayed and cut, and a
 * tab stops reading while large events flood its user. Once everything has
 * recovered, every acknowledged event must have reached every tab of each
 * recipient exactly once (chaos/run.mjs exits 0 only then), and the last line
 * says so with the run's own figures.
 *
 * The same schedule runs again with `CHAOS_SEED=20261205 CHAOS_SECONDS=30
 * npm run chaos`, which also keeps the hubs' logs when it fails.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEED = '20261205';
/** Set-up (initdb, three hubs) ~10 s, 30 s of faults, recovery and settling ~10 s, teardown a few. */
const RUN_LIMIT_MS = 100_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it(
  `30 s of faults (CHAOS_SEED=${SEED}): every acknowledged event reaches every tab once`,
  async () => {
    // Its own process group: should it not stop in time, the group (the run and
    // every process it started) is stopped by the run's PID.
    const child = spawn(process.execPath, [path.join(ROOT, 'chaos/run.mjs')], {
      cwd: ROOT,
      env: { ...process.env, CHAOS_SECONDS: '30', CHAOS_SEED: SEED },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Too long: SIGTERM lets the run stop what it started, by PID; SIGKILL to its group if it does not.
    const timer = setTimeout(() => {
      output += `\n(test: the run took over ${RUN_LIMIT_MS / 1000} s; stopping it)\n`;
      child.kill('SIGTERM');
      setTimeout(() => {
        if (alive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
      }, 10_000).unref();
    }, RUN_LIMIT_MS);
    const code = await exited;
    clearTimeout(timer);

    const last = output.trim().split('\n').at(-1) ?? '';
    const passed = code === 0 && /^published (\d+), delivered \1, lost 0, duplicated 0$/.test(last);
    if (!passed) throw new Error(`chaos run exited with ${code}; its output:\n${output.slice(-12_000)}`);
    const published = Number(/^published (\d+)/.exec(last)![1]);
    expect(published).toBeGreaterThan(300);
    console.log(`chaos run (seed ${SEED}, 30 s): ${last}`);
  },
  RUN_LIMIT_MS + 15_000,
);

/**
 * Defects the chaos run found, each reproduced alone by a script of
 * chaos/repro that exits 0 once it is fixed: a stream dropped for not
 * reading made the next stream of its user miss that event for good; a
 * persisted ingress entry during a PostgreSQL outage ended the hub (an
 * unhandled rejection); streams closed during a Redis outage kept counting
 * against STREAMS_PER_USER_MAX.
 */
it.each(['stall-skips-next-stream', 'ingress-db-down-crash', 'slot-leak-after-redis-outage'])('chaos/repro/%s.mjs no longer reproduces its defect', async (name) => {
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'chaos/repro', `${name}.mjs`)], { cwd: ROOT, timeout: 60_000 });
}, 70_000);
