import { Injectable } from '@nestjs/common';
import type { Principal } from '#herald/auth/principal';
import { StreamTickets } from '#herald/auth/stream-tickets';
import { RedisConnections } from '../redis/redis.connections.js';

interface StoredPrincipal {
  sub: string;
  exp: number;
  scopes: string[];
}

/** Tickets shared by all instances: issued on one, redeemed once (GETDEL) on any. */
@Injectable()
export class RedisStreamTickets extends StreamTickets {
  constructor(private readonly redis: RedisConnections) {
    super();
  }

  async issue(principal: Principal): Promise<string> {
    const ticket = this.newTicket();
    const stored: StoredPrincipal = { sub: principal.sub, exp: principal.exp, scopes: [...principal.scopes] };
    await this.redis.commands.set(this.redis.keys.ticket(ticket), JSON.stringify(stored), 'EX', StreamTickets.TTL_SECONDS);
    return ticket;
  }

  async redeem(ticket: string): Promise<Principal | null> {
    const raw = await this.redis.commands.getdel(this.redis.keys.ticket(ticket));
    if (!raw) return null;
    const { sub, exp, scopes } = JSON.parse(raw) as StoredPrincipal;
    return { sub, exp, scopes: new Set(scopes) };
  }
}
