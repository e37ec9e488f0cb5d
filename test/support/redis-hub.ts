import { Redis } from 'ioredis';
import { loadConfig } from '../../apps/hub/src/config/config.js';
import { RedisReplayLog } from '../../apps/hub/src/transport/redis/redis-replay-log.js';
import { RedisConnections } from '../../apps/hub/src/transport/redis/redis.connections.js';
import { startHub, TestHub } from './hub.js';
import { RedisServer, startRedis } from './processes.js';
import { waitFor } from './wait.js';

/** A hub in this process on a Redis of its own, with a client of that Redis for the test to look at it with. */
export interface RedisHub {
  redis: RedisServer;
  client: Redis;
  hub: TestHub;
  close(): Promise<void>;
}

/** Starts it (`env` on top of REDIS_URL), ready: its Redis answered its readiness probe. */
export async function startRedisHub(env: Record<string, string> = {}): Promise<RedisHub> {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  const hub = await startHub({ REDIS_URL: redis.url, ...env });
  await waitFor('the hub to be ready on its Redis', async () => (await fetch(`${hub.url}/health/ready`)).status === 200);
  return {
    redis,
    client,
    hub,
    async close() {
      await hub.close();
      client.disconnect();
      await redis.stop();
    },
  };
}

/** The hub's Redis connections and replay log on their own, outside any hub, once connected. */
export async function openLog(env: Record<string, string>): Promise<{ connections: RedisConnections; log: RedisReplayLog }> {
  const config = loadConfig(env);
  const connections = new RedisConnections(config);
  const log = new RedisReplayLog(connections, config);
  await waitFor('the connections', () => connections.ready);
  return { connections, log };
}
