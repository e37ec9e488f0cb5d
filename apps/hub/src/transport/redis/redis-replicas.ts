import type { Redis } from 'ioredis';

/** The replicas did not confirm an append in time: a failover now might lose it, or not. */
export class ReplicasBehindError extends Error {}

/**
 * Confirms appends with WAIT (REDIS_WAIT_REPLICAS): once `confirm` resolves,
 * that many replicas hold the append, so a failover to any of them keeps it.
 * Redis replicates asynchronously, so without it the master's word is all an
 * acknowledged event has.
 *
 * WAIT counts what its own connection wrote, and blocks that connection while
 * it waits: appends that wait have a connection of their own
 * (RedisConnections), and one WAIT per node and turn of the event loop
 * confirms every append completed on that node's connection before it was
 * sent, however many (one WAIT each would take a replica round trip each, one
 * after another).
 */
export class ReplicaWait {
  /** The WAIT about to be sent on each node's connection. */
  private readonly next = new Map<Redis, Promise<number>>();
  /** How often each node's connection closed: an append and its WAIT must travel on the same one. */
  private readonly closes = new WeakMap<Redis, number>();

  constructor(
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {}

  /** Call before an append is sent on `node`; `confirm` takes what it returns. */
  mark(node: Redis): number {
    if (!this.closes.has(node)) {
      this.closes.set(node, 0);
      node.on('close', () => this.closes.set(node, this.closes.get(node)! + 1));
    }
    return this.closes.get(node)!;
  }

  /**
   * Resolves once the replicas hold everything `node`'s connection wrote, the
   * append included. Call once the append has completed.
   * @throws ReplicasBehindError when too few replicas confirm within the
   *   timeout, or the connection was replaced since `mark` (a new one would
   *   confirm what it wrote itself, not the append).
   */
  async confirm(node: Redis, mark: number): Promise<void> {
    let wait = this.next.get(node);
    if (!wait) {
      wait = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.next.delete(node);
        return node.wait(this.replicas, this.timeoutMs);
      });
      this.next.set(node, wait);
    }
    const confirmed = await wait;
    if (this.closes.get(node) !== mark) throw new ReplicasBehindError('the connection to Redis was replaced before the replicas confirmed it');
    if (confirmed < this.replicas) {
      throw new ReplicasBehindError(`${confirmed} of ${this.replicas} replica(s) confirmed it within ${this.timeoutMs} ms (REDIS_WAIT_REPLICAS)`);
    }
  }
}
