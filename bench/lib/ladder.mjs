// One measurement step (a fixed rate for a while) and a ladder of them.
import { sleep } from './clock.mjs';
import { cpuMeter } from './procstat.mjs';
import { round, summarize } from './stats.mjs';

export const P99_LIMIT_MS = 100;
let stepCounter = 0;
export const nextStep = () => ++stepCounter + (process.pid % 1000) * 1000;

/** Waits until the subscribers hold `expected` distinct receptions of `step`, or `timeoutMs` passed. */
export async function drain(subs, step, expected, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await subs.count(step);
    if (got >= expected || Date.now() > deadline) return got;
    await sleep(100);
  }
}

/** Loss and duplicates of a step: every acknowledged q must reach `perEvent(q)` distinct streams. */
export function account(acked, collected, perEvent = () => 1) {
  let lost = 0;
  for (const q of acked) lost += Math.max(0, perEvent(q) - (collected.distinct.get(q) ?? 0));
  return { lost, dup: collected.dups };
}

/** Publishes unicast at `rate` for `durationMs`, waits for delivery and returns the step's figures. */
export async function runRateStep({ subs, pub, rate, durationMs, users, firstUser = 0, hubPids, genPids, drainMs = 5000 }) {
  const step = nextStep();
  const hubCpu = cpuMeter(hubPids);
  const genCpu = cpuMeter(genPids);
  const result = await pub.rate({ step, rate, durationMs, users, firstUser, graceMs: drainMs });
  const hubCpuPct = hubCpu.stop();
  const genCpuPct = genCpu.stop();
  await drain(subs, step, result.acked.length, drainMs);
  const collected = await subs.collect(step);
  const { lost, dup } = account(result.acked, collected);
  const lat = summarize(collected.latencies);
  const total = Math.round((rate * durationMs) / 1000);
  const unacked = total - result.acked.length;
  const pass = lat.p99 !== null && lat.p99 < P99_LIMIT_MS && lost === 0 && unacked === 0;
  const figures = {
    rate, events: total, acked: result.acked.length, unacked,
    p50: round(lat.p50), p99: round(lat.p99), max: round(lat.max),
    lost, dup, outOfOrder: collected.outOfOrder, misrouted: collected.misrouted,
    hubCpu: round(hubCpuPct, 0), generatorCpu: round(genCpuPct, 0),
    statuses: result.statuses, pass,
  };
  return figures;
}

export function formatStep(f) {
  const bad = f.unacked ? ` unacked ${f.unacked} ${JSON.stringify(f.statuses)}` : '';
  return `  ${String(f.rate).padStart(6)}/s  p50 ${f.p50} ms  p99 ${f.p99} ms  max ${f.max} ms  lost ${f.lost}  dup ${f.dup}  hub CPU ${f.hubCpu}%  generator CPU ${f.generatorCpu}%${bad}  ${f.pass ? 'PASS' : 'FAIL'}`;
}

/**
 * Steps up through `rates`; after a step that is clearly overloaded (p99 over a
 * second or answers missing) the higher rates are skipped, which would only
 * pile up a backlog. Returns {steps, best}.
 */
export async function runLadder(rates, runStep, log = console.log) {
  const steps = [];
  let stopped = false;
  for (const rate of rates) {
    if (stopped) {
      steps.push({ rate, skipped: true });
      log(`  ${String(rate).padStart(6)}/s  skipped (a lower rate was overloaded)`);
      continue;
    }
    const f = await runStep(rate);
    steps.push(f);
    log(formatStep(f));
    if (!f.pass && (f.unacked > 0 || f.p99 === null || f.p99 > 1000)) stopped = true;
    await sleep(500);
  }
  const passing = steps.filter((s) => s.pass).map((s) => s.rate);
  return { steps, best: passing.length ? Math.max(...passing) : 0 };
}
