import { Injectable } from '@nestjs/common';
import type { Principal } from '#herald/auth/principal';
import { StreamTickets } from '#herald/auth/stream-tickets';

/**
 * Tickets of the embedded default, held in this process. Insertion order is
 * expiry order (one TTL for all), so expired ones are dropped from the front.
 */
@Injectable()
export class MemoryStreamTickets extends StreamTickets {
  private readonly tickets = new Map<string, { principal: Principal; expiresAt: number }>();

  async issue(principal: Principal): Promise<string> {
    const now = Date.now();
    this.dropExpired(now);
    const ticket = this.newTicket();
    this.tickets.set(ticket, { principal, expiresAt: now + StreamTickets.TTL_SECONDS * 1000 });
    return ticket;
  }

  async redeem(ticket: string): Promise<Principal | null> {
    const entry = this.tickets.get(ticket);
    if (!entry) return null;
    this.tickets.delete(ticket);
    return entry.expiresAt > Date.now() ? entry.principal : null;
  }

  private dropExpired(now: number): void {
    for (const [ticket, { expiresAt }] of this.tickets) {
      if (expiresAt > now) return;
      this.tickets.delete(ticket);
    }
  }
}
