// What the subscribers received, per measurement step: latency samples, how
// many distinct streams got each event, duplicates and order violations.
// Events carry data {s: step, q: sequence number, t: scheduled send time}.

export class Ledger {
  constructor() {
    this.steps = new Map();
  }

  step(s) {
    let entry = this.steps.get(s);
    if (!entry) {
      entry = { latencies: [], distinct: new Map(), dups: 0 };
      this.steps.set(s, entry);
    }
    return entry;
  }

  /** Records event (s, q) stamped `t`, received at `at` by a stream slot whose seen-set is `seen`. */
  record(slot, s, q, t, at) {
    const entry = this.step(s);
    const key = s * 1e9 + q;
    if (slot.seen.has(key)) {
      entry.dups++;
      return;
    }
    slot.seen.add(key);
    entry.latencies.push(at - t);
    entry.distinct.set(q, (entry.distinct.get(q) ?? 0) + 1);
  }

  /** The step's figures, for the parent (and forgets them). */
  take(s) {
    const entry = this.step(s);
    this.steps.delete(s);
    return { latencies: entry.latencies, distinct: [...entry.distinct], dups: entry.dups };
  }
}

/** Compares two event ids `<ms>-<seq>` (or `0`); negative when a < b. */
export function compareIds(a, b) {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}
