// Percentiles of latency samples (milliseconds).

/** Sorts a copy and returns {n, p50, p99, max} (null figures when empty). */
export function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  const at = (q) => (n === 0 ? null : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]);
  return { n, p50: at(0.5), p99: at(0.99), max: n === 0 ? null : sorted[n - 1] };
}

export const median = (values) => summarize(values).p50;

export const round = (x, digits = 1) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));
