import type { IngressReceipt } from './transport.js';

/** One delivery of an ingress entry to this instance. */
export interface IngressEntry {
  readonly receipt: IngressReceipt;
  /** The entry's `envelope` field; undefined when it has none. */
  readonly envelope: string | undefined;
  /** How often the entry has been handed out, this time included (claims after a failure or a crash count). */
  readonly deliveries: number;
}

/**
 * Thrown by a handler when an entry could not be taken for a reason that is
 * not the entry's (the database or Redis is away): the entry is retried in
 * place until it succeeds, before any later one, so order is kept and an
 * outage, however long, dead-letters nothing.
 */
export class EntryDeferred extends Error {
  constructor(readonly reason: unknown) {
    super(`deferred: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}

/**
 * Where other services' events wait to be taken in: `XADD herald:ingress *
 * envelope '<json>'` with Redis. Each entry is handed to one instance at a
 * time, again after a failure or when its instance died, until its receipt
 * is settled or it is dead-lettered.
 */
export abstract class IngressSource {
  /**
   * Starts handing entries to `handle`. A handler that throws EntryDeferred
   * gets the entry again in place; one that throws anything else leaves it to
   * be handed out again later, counted as a failed delivery.
   */
  abstract start(handle: (entry: IngressEntry) => Promise<void>): void;

  /** Stops reading, once the entries in hand are handled. */
  abstract stop(): Promise<void>;

  /** Sets the entry aside with the reason, for an operator to read; it is not handed out again. */
  abstract deadLetter(entry: IngressEntry, reason: string): Promise<void>;
}
