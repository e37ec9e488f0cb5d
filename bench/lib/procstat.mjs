// Memory and CPU of a process, read from /proc (Linux only).
import { readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Resident set size in KiB (VmRSS), or 0 once the process is gone. */
export function rssKiB(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU time used so far (user + system), in seconds. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Measures the CPU share (percent of one core) of some processes between start() and stop(). */
export function cpuMeter(pids) {
  const list = [pids].flat();
  const total = () => list.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const t0 = performance.now();
  const c0 = total();
  return { stop: () => (100 * (total() - c0)) / ((performance.now() - t0) / 1000) };
}
