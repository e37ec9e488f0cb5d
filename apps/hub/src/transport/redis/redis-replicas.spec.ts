import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { ReplicasBehindError, ReplicaWait } from './redis-replicas.js';

/** A node's connection as ReplicaWait uses it: WAIT, and 'close' events. */
class FakeNode extends EventEmitter {
  readonly waits: [replicas: number, timeoutMs: number][] = [];
  confirming = 1;
  wait(replicas: number, timeoutMs: number): Promise<number> {
    this.waits.push([replicas, timeoutMs]);
    return Promise.resolve(this.confirming);
  }
}

const asRedis = (node: FakeNode) => node as unknown as Redis;

describe('ReplicaWait', () => {
  it('confirms the appends of one turn with one WAIT per node', async () => {
    const replicas = new ReplicaWait(1, 500);
    const [a, b] = [new FakeNode(), new FakeNode()];
    const marks = [a, a, a, b].map((node) => [node, replicas.mark(asRedis(node))] as const);
    await Promise.all(marks.map(([node, mark]) => replicas.confirm(asRedis(node), mark)));
    expect([a.waits, b.waits]).toEqual([[[1, 500]], [[1, 500]]]);
    // A later turn sends another: the one before cannot cover what was written since.
    await replicas.confirm(asRedis(a), replicas.mark(asRedis(a)));
    expect(a.waits).toHaveLength(2);
  });

  it('refuses when fewer replicas confirm than asked, saying how many did', async () => {
    const replicas = new ReplicaWait(2, 300);
    const node = new FakeNode();
    node.confirming = 1;
    await expect(replicas.confirm(asRedis(node), replicas.mark(asRedis(node)))).rejects.toThrow(
      new ReplicasBehindError('1 of 2 replica(s) confirmed it within 300 ms (REDIS_WAIT_REPLICAS)'),
    );
  });

  it('refuses when the connection was replaced since the append: a new one would confirm only its own writes', async () => {
    const replicas = new ReplicaWait(1, 500);
    const node = new FakeNode();
    const mark = replicas.mark(asRedis(node));
    node.emit('close');
    await expect(replicas.confirm(asRedis(node), mark)).rejects.toThrow(/replaced/);
    await expect(replicas.confirm(asRedis(node), replicas.mark(asRedis(node)))).resolves.toBeUndefined();
  });
});
