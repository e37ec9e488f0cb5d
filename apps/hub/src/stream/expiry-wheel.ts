/**
 * When each stream is due to end (its token expires, or it reaches its
 * maximum age), bucketed by second, so that one shared tick finds the due
 * ones without a timer per stream or a scan of every stream.
 */
export class ExpiryWheel<T extends { readonly dueAt: number }> {
  private readonly buckets = new Map<number, Set<T>>();
  private swept: number;

  constructor(now: number) {
    this.swept = Math.floor(now / 1000);
  }

  /** `item` must be due after the last `takeDue()` call (a token is checked unexpired before its stream opens). */
  add(item: T): void {
    const second = Math.floor(item.dueAt / 1000);
    let bucket = this.buckets.get(second);
    if (!bucket) this.buckets.set(second, (bucket = new Set()));
    bucket.add(item);
  }

  delete(item: T): void {
    const second = Math.floor(item.dueAt / 1000);
    const bucket = this.buckets.get(second);
    if (bucket?.delete(item) && bucket.size === 0) this.buckets.delete(second);
  }

  /** Removes and returns every item due at or before `now`. */
  takeDue(now: number): T[] {
    const due: T[] = [];
    const current = Math.floor(now / 1000);
    const take = (second: number) => {
      const bucket = this.buckets.get(second);
      if (!bucket) return;
      this.buckets.delete(second);
      due.push(...bucket);
    };
    // After a long pause (a suspended process, a clock jump) walking every
    // second would cost more than looking at the buckets that exist.
    if (current - this.swept > this.buckets.size) {
      for (const second of [...this.buckets.keys()]) if (second < current) take(second);
    } else {
      for (let second = this.swept; second < current; second++) take(second);
    }
    this.swept = Math.max(this.swept, current);
    // The second under way: only what is due already, so no stream outlives
    // its deadline by more than a tick.
    const bucket = this.buckets.get(current);
    if (bucket) {
      for (const item of bucket) {
        if (item.dueAt <= now) {
          bucket.delete(item);
          due.push(item);
        }
      }
      if (bucket.size === 0) this.buckets.delete(current);
    }
    return due;
  }

  get size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.size;
    return n;
  }
}
