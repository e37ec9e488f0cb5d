// Every process the bench starts goes through here, so that all of them are
// stopped by PID at the end, also on a failure or Ctrl-C.
import { spawn } from 'node:child_process';

const running = new Set();

/** Spawns `command` pinned to `cpu` with taskset; the child is remembered until it exits. */
export function spawnPinned(cpu, command, args, options = {}) {
  const child = spawn('taskset', ['-c', String(cpu), command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  track(child);
  return child;
}

/** Remembers a child process until it exits. */
export function track(child) {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal` to the child by PID and waits for it to exit (SIGKILL after `graceMs`). */
export async function stop(child, signal = 'SIGTERM', graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await done;
  clearTimeout(timer);
}

/** Kills every child still running, by PID (synchronous: usable in an exit handler). */
export function killAll() {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
