// The floor server (bench/floor-server.mjs) as a child process pinned to one CPU.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canConnect, freePort, waitFor } from './ports.mjs';
import { spawnPinned, stop } from './processes.mjs';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'floor-server.mjs');

export async function startFloor({ cpu = 0 } = {}) {
  const port = await freePort();
  const child = spawnPinned(cpu, process.execPath, [SERVER], { env: { PATH: process.env.PATH, PORT: String(port) } });
  child.stdout.resume();
  child.stderr.resume();
  await waitFor(() => canConnect(port), `floor server on ${port}`, 10_000, () => (child.exitCode !== null ? 'exited' : null));
  return { url: `http://127.0.0.1:${port}`, port, pid: child.pid, pids: () => [child.pid], stop: () => stop(child) };
}
