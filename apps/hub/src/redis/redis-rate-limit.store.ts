import { Injectable } from '@nestjs/common';
import { RateLimitStore, WindowHits } from '../rate-limits/rate-limit.store.js';
import { RedisConnections, SCRIPT_COMMANDS } from './redis.connections.js';

/** The first hit starts the window; one round trip a request. */
const HIT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { hits, ttl }
`;

interface ScriptedClient {
  heraldRateHit(numKeys: 1, key: string, windowMs: number): Promise<[number, number]>;
}

/** Rate-limit counts in Redis, shared by every instance on it. */
@Injectable()
export class RedisRateLimitStore extends RateLimitStore {
  private readonly client: ScriptedClient;

  constructor(private readonly redis: RedisConnections) {
    super();
    redis.commands.defineCommand(SCRIPT_COMMANDS.rateHit, { lua: HIT });
    this.client = redis.commands as unknown as ScriptedClient;
  }

  async hit(key: string, windowMs: number): Promise<WindowHits> {
    const [hits, resetInMs] = await this.client.heraldRateHit(1, this.redis.keys.rateLimit(key), windowMs);
    return { hits, resetInMs };
  }
}
