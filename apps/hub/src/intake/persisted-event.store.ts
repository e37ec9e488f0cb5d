import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EntityManager, QueryFailedError } from 'typeorm';
import { Transactions } from '../database/transactions.js';
import { OutboxEntry } from '../outbox/outbox-entry.entity.js';
import { InboxItem } from '../inbox/inbox-item.entity.js';
import { Notification } from '../inbox/notification.entity.js';

export interface PersistedEvent {
  type: string;
  data: Record<string, unknown>;
  recipients: readonly string[];
  /** Stores the event once only, however often it is offered (an ingress entry id). */
  sourceKey?: string;
}

/** Rows per INSERT: well below SQLite's 32,766 bound parameters at 2 per row. */
const INSERT_CHUNK = 500;

/**
 * Where a persisted event is stored: one notification, an inbox item per
 * recipient, and an outbox entry for its delivery, in one transaction, so
 * that the data, the inbox and the intent to deliver commit together or not
 * at all. The outbox relay delivers it after the commit.
 */
@Injectable()
export class PersistedEventStore {
  constructor(private readonly transactions: Transactions) {}

  /** Adds the event inside `manager`'s transaction. */
  async add(manager: EntityManager, event: PersistedEvent): Promise<void> {
    const createdAt = new Date().toISOString();
    const data = JSON.stringify(event.data);
    const { identifiers } = await manager.insert(Notification, {
      type: event.type,
      data,
      createdAt,
      sourceKey: event.sourceKey ?? null,
    });
    const notificationId = identifiers[0].id as string | number;
    for (let i = 0; i < event.recipients.length; i += INSERT_CHUNK) {
      const chunk = event.recipients.slice(i, i + INSERT_CHUNK);
      await manager.insert(InboxItem, chunk.map((userId) => ({ userId, notificationId, readAt: null })));
    }
    await manager.insert(OutboxEntry, {
      notificationId,
      dedupeKey: randomUUID(),
      type: event.type,
      data,
      recipients: JSON.stringify(event.recipients),
      createdAt,
    });
  }

  /**
   * Stores the event in a transaction of its own.
   * @returns false when an event with the same source key is stored already.
   */
  async persist(event: PersistedEvent): Promise<boolean> {
    try {
      await this.transactions.run((manager) => this.add(manager, event));
    } catch (err) {
      if (event.sourceKey && isUniqueViolation(err)) return false;
      throw err;
    }
    return true;
  }
}

function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof QueryFailedError)) return false;
  const driverError = err.driverError as { code?: string };
  return driverError.code === '23505' || driverError.code === 'SQLITE_CONSTRAINT_UNIQUE';
}
