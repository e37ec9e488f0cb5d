/** The most items one commit takes: keeps a transaction, and the wait of its first item, short. */
const MAX_GROUP = 200;

interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
}

/**
 * Commits items in groups: items that arrive while `parallel` commits are
 * under way wait, then go together in the next one. A commit, and on a disk
 * its flush, is paid per group rather than per item; alone, an item goes at
 * once. When a group fails, each of its items is committed again on its own,
 * so that one bad item (a duplicate key) fails alone.
 */
export class GroupCommit<T, R> {
  private readonly queue: Waiting<T, R>[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly commitGroup: (items: T[]) => Promise<R[]>,
    private readonly commitOne: (item: T) => Promise<R>,
    private readonly parallel: number,
  ) {}

  /** Resolves once the item's group has committed. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.next();
    });
  }

  /**
   * Starts the next commit once the current turn of the event loop is over,
   * so that every item taken in during it joins. A synchronous driver
   * (better-sqlite3) blocks the loop while it flushes to disk: requests pile
   * up meanwhile and are all read in the next turn.
   */
  private next(): void {
    if (this.scheduled || this.running >= this.parallel || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.start();
    });
  }

  private start(): void {
    if (this.running >= this.parallel || this.queue.length === 0) return;
    const group = this.queue.splice(0, MAX_GROUP);
    this.running++;
    void this.commit(group).finally(() => {
      this.running--;
      this.next();
    });
  }

  private async commit(group: Waiting<T, R>[]): Promise<void> {
    if (group.length === 1) return this.commitAlone(group[0]);
    let results: R[];
    try {
      results = await this.commitGroup(group.map((waiting) => waiting.item));
    } catch {
      await Promise.all(group.map((waiting) => this.commitAlone(waiting)));
      return;
    }
    group.forEach((waiting, i) => waiting.resolve(results[i]));
  }

  private async commitAlone(waiting: Waiting<T, R>): Promise<void> {
    try {
      waiting.resolve(await this.commitOne(waiting.item));
    } catch (err) {
      waiting.reject(err);
    }
  }
}
