import { randomBytes } from 'node:crypto';
import type { Principal } from './principal.js';

/**
 * Single-use stream tickets: they keep long-lived tokens out of URLs. The app
 * binds an implementation (in memory, or shared through Redis across instances).
 */
export abstract class StreamTickets {
  static readonly TTL_SECONDS = 30;

  /** 192 random bits, URL-safe: a ticket travels in a query string. */
  protected newTicket(): string {
    return randomBytes(24).toString('base64url');
  }

  abstract issue(principal: Principal): Promise<string>;
  /** The principal the ticket was issued to, once; null when unknown, used or expired. */
  abstract redeem(ticket: string): Promise<Principal | null>;
}
