// Every process the chaos run starts goes through here, so that all of them
// are stopped by PID at the end: also on a failure, on Ctrl-C or SIGTERM.
import { spawn } from 'node:child_process';

const running = new Set();

/** Spawns and remembers the child until it exits. */
export function spawnTracked(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
  return child;
}

export function isRunning(child) {
  return !!child && child.exitCode === null && child.signalCode === null;
}

/** Resolves with {code, signal} once the child has exited. */
export function exited(child) {
  if (!isRunning(child)) return Promise.resolve({ code: child?.exitCode ?? null, signal: child?.signalCode ?? null });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Sends `signal` by PID and waits for the exit; SIGKILL after `graceMs`. */
export async function stopChild(child, signal = 'SIGTERM', graceMs = 10_000) {
  if (!isRunning(child)) return exited(child);
  const done = exited(child);
  try {
    process.kill(child.pid, signal);
  } catch {
    return done;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }, graceMs);
  const result = await done;
  clearTimeout(timer);
  return result;
}

/** SIGKILLs every child still running, by PID; synchronous, for exit handlers. */
export function killAllNow() {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

export function runningCount() {
  return running.size;
}
