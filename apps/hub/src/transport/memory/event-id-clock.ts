/**
 * Issues `<ms>-<seq>` ids that only ever grow, also when the wall clock steps
 * back: the milliseconds never decrease, the sequence breaks ties.
 */
export class EventIdClock {
  private ms: number;
  private seq = 0;

  constructor(startMs: number) {
    this.ms = startMs;
  }

  /** The last id issued, or the start position (`<startMs>-0`) before any. */
  get current(): string {
    return `${this.ms}-${this.seq}`;
  }

  next(now: number): string {
    if (now > this.ms) {
      this.ms = now;
      this.seq = 0;
    } else {
      this.seq++;
    }
    return this.current;
  }
}
