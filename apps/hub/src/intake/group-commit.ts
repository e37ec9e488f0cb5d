/**
 * The most items one commit takes: keeps a transaction, and the wait of its
 * first item, short. A larger `addAll` commits alone.
 */
const MAX_GROUP = 200;

/** Items that commit together or not at all: one `add`, or one `addAll`. */
interface Unit<T, R> {
  items: T[];
  resolve(results: R[]): void;
  reject(err: unknown): void;
}

/**
 * Commits items in groups: items that arrive while `parallel` commits are
 * under way wait, then go together in the next one. A commit, and on a disk
 * its flush, is paid per group rather than per item; alone, an item goes at
 * once. When a group fails, each unit of it (an item, or the items of one
 * `addAll`) is committed again on its own, so that one bad item (a duplicate
 * key) fails alone.
 */
export class GroupCommit<T, R> {
  private readonly queue: Unit<T, R>[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly commitGroup: (items: T[]) => Promise<R[]>,
    private readonly commitOne: (item: T) => Promise<R>,
    private readonly parallel: number,
  ) {}

  /** Resolves once the item's group has committed. */
  async add(item: T): Promise<R> {
    return (await this.addAll([item]))[0];
  }

  /**
   * Items that must commit in one transaction, in this order (a batch of
   * events): never split between groups, however many they are, so they
   * never commit out of order either.
   */
  addAll(items: T[]): Promise<R[]> {
    return new Promise<R[]>((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
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
    const group = [this.queue.shift()!];
    let size = group[0].items.length;
    while (this.queue.length > 0 && size + this.queue[0].items.length <= MAX_GROUP) {
      size += this.queue[0].items.length;
      group.push(this.queue.shift()!);
    }
    this.running++;
    void this.commit(group).finally(() => {
      this.running--;
      this.next();
    });
  }

  private async commit(group: Unit<T, R>[]): Promise<void> {
    if (group.length === 1) return this.commitUnit(group[0]);
    let results: R[];
    try {
      results = await this.commitGroup(group.flatMap((unit) => unit.items));
    } catch {
      await Promise.all(group.map((unit) => this.commitUnit(unit)));
      return;
    }
    let at = 0;
    for (const unit of group) {
      unit.resolve(results.slice(at, at + unit.items.length));
      at += unit.items.length;
    }
  }

  private async commitUnit(unit: Unit<T, R>): Promise<void> {
    try {
      unit.resolve(unit.items.length === 1 ? [await this.commitOne(unit.items[0])] : await this.commitGroup(unit.items));
    } catch (err) {
      unit.reject(err);
    }
  }
}
