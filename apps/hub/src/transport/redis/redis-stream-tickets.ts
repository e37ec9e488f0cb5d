import { Injectable } from '@nestjs/common';
import type { Principal } from '#herald/auth/principal';
import { StreamTickets } from '#herald/auth/stream-tickets';
import { UnavailableError } from '../../errors/errors.js';
import { RedisConnections } from './redis.connections.js';

interface StoredPrincipal {
  sub: string;
  exp: number;
  scopes: string[];
  topics?: readonly string[];
}

/** Tickets shared by all instances: issued on one, redeemed once (GETDEL) on any. */
@Injectable()
export class RedisStreamTickets extends StreamTickets {
  constructor(private readonly redis: RedisConnections) {
    super();
  }

  async issue(principal: Principal): Promise<string> {
    const ticket = this.newTicket();
    const stored: StoredPrincipal = { ...principal, scopes: [...principal.scopes] };
    await unavailableWithoutRedis(this.redis.commands.set(this.redis.keys.ticket(ticket), JSON.stringify(stored), 'EX', StreamTickets.TTL_SECONDS));
    return ticket;
  }

  async redeem(ticket: string): Promise<Principal | null> {
    const raw = await unavailableWithoutRedis(this.redis.commands.getdel(this.redis.keys.ticket(ticket)));
    if (!raw) return null;
    const stored = JSON.parse(raw) as StoredPrincipal;
    return { ...stored, scopes: new Set(stored.scopes) };
  }
}

/** While Redis is away tickets can be neither stored nor redeemed: a 503 the client retries, not a 500. */
async function unavailableWithoutRedis<T>(command: Promise<T>): Promise<T> {
  try {
    return await command;
  } catch (err) {
    throw new UnavailableError(`stream tickets are unavailable (${(err as Error).message}); retry shortly`, 3);
  }
}
