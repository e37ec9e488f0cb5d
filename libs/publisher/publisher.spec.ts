import { Redis } from 'ioredis';
import { spawn, ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeraldIngressPublisher, PublishRejected } from './publisher.js';

// A real redis-server of its own, so the entries it writes can be read back exactly.
describe('HeraldIngressPublisher', () => {
  let server: ChildProcess;
  let redis: Redis;

  beforeAll(async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    redis = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50 });
    for (let i = 0; i < 100 && redis.status !== 'ready'; i++) {
      await redis.connect().catch(() => sleep(50));
    }
  });

  afterAll(async () => {
    redis.disconnect();
    server.kill('SIGKILL');
  });

  it('adds the normalised envelope to the ingress stream', async () => {
    const id = await new HeraldIngressPublisher(redis).publish({ type: 'comment.created', recipients: ['alice', 'alice'] });
    const [[entryId, fields]] = await redis.xrange('herald:ingress', id, id);
    expect(entryId).toBe(id);
    expect(fields[0]).toBe('envelope');
    expect(JSON.parse(fields[1])).toEqual({ type: 'comment.created', recipients: ['alice'], topics: [], data: {}, persist: true });
  });

  it('uses the hub prefix it is given', async () => {
    const id = await new HeraldIngressPublisher(redis, { prefix: 'other:' }).publish({ type: 'x', recipients: ['bob'] });
    expect(await redis.xrange('other:ingress', id, id)).toHaveLength(1);
  });

  it.each([
    ['type', { type: 'Bad Type', recipients: ['alice'] }],
    ['recipients', { type: 'x', recipients: [] }],
    ['body', { type: 'x', recipients: ['alice'], data: { blob: 'x'.repeat(70_000) } }],
  ])('refuses a request with a bad %s and writes nothing', async (field, input) => {
    const before = await redis.xlen('herald:ingress');
    const attempt = new HeraldIngressPublisher(redis).publish(input);
    await expect(attempt).rejects.toBeInstanceOf(PublishRejected);
    await expect(attempt).rejects.toMatchObject({ field });
    expect(await redis.xlen('herald:ingress')).toBe(before);
  });
});
