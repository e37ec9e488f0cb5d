import { Injectable } from '@nestjs/common';
import { RateLimitStore, WindowHits } from '../rate-limit.store.js';
import { RedisConnections } from './redis.connections.js';

/** Rate-limit counts in Redis, shared by every instance on it. */
@Injectable()
export class RedisRateLimitStore extends RateLimitStore {

  constructor(private readonly redis: RedisConnections) {
    super();
  }

  async hit(key: string, windowMs: number): Promise<WindowHits> {
    const [hits, resetInMs] = await this.redis.scripts.heraldRateHit(1, this.redis.keys.rateLimit(key), windowMs);
    return { hits, resetInMs };
  }
}
