// A redis-server of the bench's own on a free port, no persistence, stopped by PID.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePort, waitFor } from './ports.mjs';
import { spawnPinned, stop } from './processes.mjs';

export async function startRedis(cpu) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-redis-'));
  const child = spawnPinned(cpu, 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
  ]);
  child.stdout.resume();
  child.stderr.resume();
  await waitFor(() => canConnect(port), `redis-server on ${port}`, 10_000, () => (child.exitCode !== null ? 'exited' : null));
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      await stop(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
