// The run's own redis-server, on a fixed port so that a restart takes its
// place, with an append-only file fsynced on every write (`appendfsync
// always`): a reply is sent only once what it acknowledges is on disk, so a
// restart (SIGTERM, which also fsyncs on the way out, or SIGKILL) loses
// nothing Redis acknowledged: replay logs, dedupe markers, ingress entries,
// tickets. What a restart does cost: connections drop and the hubs
// resubscribe, and blocked reads and in-flight commands fail.
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { exited, isRunning, spawnTracked, stopChild } from './procs.mjs';
import { canConnect, waitFor } from './util.mjs';

export class RedisServer {
  constructor({ dir, port }) {
    this.dir = dir;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.child = null;
    this.starts = 0;
    mkdirSync(dir, { recursive: true });
    this.log = createWriteStream(path.join(dir, 'redis.log'), { flags: 'a' });
  }

  get running() {
    return isRunning(this.child);
  }

  async start() {
    if (this.running) return;
    this.starts++;
    const child = spawnTracked('redis-server', [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--appendonly', 'yes',
      '--appendfsync', 'always',
      '--save', '',
      '--protected-mode', 'no',
    ]);
    child.stdout.pipe(this.log, { end: false });
    child.stderr.pipe(this.log, { end: false });
    this.child = child;
    await waitFor(() => canConnect(this.port), `redis-server on ${this.port}`, 15_000, {
      failed: () => (isRunning(child) ? null : `exited with ${child.exitCode ?? child.signalCode}`),
      every: 50,
    });
  }

  /** A clean stop (SIGTERM: Redis fsyncs its AOF and exits). */
  async stop() {
    await stopChild(this.child, 'SIGTERM', 10_000);
  }

  /** A crash (SIGKILL). */
  async kill() {
    if (!this.running) return;
    const done = exited(this.child);
    process.kill(this.child.pid, 'SIGKILL');
    await done;
  }
}
