import { Injectable } from '@nestjs/common';
import { sourcesOf } from '#herald/contracts/topic';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, In, QueryFailedError, Repository } from 'typeorm';
import { Notification } from '../inbox/notification.entity.js';
import { HubConfig } from '../config/config.js';
import { Transactions } from '../database/transactions.js';
import { insertRows } from '../database/insert-rows.js';
import { GroupCommit } from './group-commit.js';

export interface PersistedEvent {
  type: string;
  data: Record<string, unknown>;
  recipients: readonly string[];
  /** Topics it also goes to: delivered with it, but no inbox items. */
  topics?: readonly string[];
  /** Stores the event once only, however often it is offered (an ingress entry id). */
  sourceKey?: string;
}

/**
 * Where a persisted event is stored: one notification, an inbox item per
 * recipient, and an outbox entry for its delivery (to its recipients and
 * topics), in one transaction, so that the data, the inbox and the intent to
 * deliver commit together or not at all. The outbox relay delivers it after
 * the commit. An event to topics only has no inbox: just the outbox entry.
 */
@Injectable()
export class PersistedEventStore {
  /**
   * Events published at once share a transaction. SQLite writes one
   * transaction at a time; PostgreSQL keeps half its pool for the rest (inbox
   * reads, the outbox relay, comments).
   */
  private readonly groups: GroupCommit<PersistedEvent, boolean>;
  private readonly notifications: Repository<Notification>;

  constructor(
    private readonly transactions: Transactions,
    dataSource: DataSource,
    config: HubConfig,
  ) {
    this.notifications = dataSource.getRepository(Notification);
    const parallel = dataSource.options.type === 'postgres' ? Math.max(1, Math.floor(config.databasePoolMax / 2)) : 1;
    this.groups = new GroupCommit(
      async (events) => {
        await this.transactions.run((manager) => this.addAll(manager, events));
        return events.map(() => true);
      },
      (event) => this.persistAlone(event),
      parallel,
    );
  }

  /** Adds the event inside `manager`'s transaction. */
  add(manager: EntityManager, event: PersistedEvent): Promise<void> {
    return this.addAll(manager, [event]);
  }

  /**
   * Adds events inside `manager`'s transaction: their notifications first
   * (the rest needs their ids), then every inbox item and every outbox entry
   * in one INSERT each, however many events and recipients.
   */
  private async addAll(manager: EntityManager, events: readonly PersistedEvent[]): Promise<void> {
    const createdAt = new Date().toISOString();
    const data = events.map((event) => JSON.stringify(event.data));
    const inboxed = events.flatMap((event, i) => (event.recipients.length > 0 ? [i] : []));
    const notificationIds = await this.insertNotifications(
      manager,
      inboxed.map((i) => [events[i].type, data[i], createdAt, events[i].sourceKey ?? null]),
    );
    const ids: unknown[] = events.map(() => null);
    inboxed.forEach((i, k) => (ids[i] = notificationIds[k]));
    const inbox: unknown[][] = [];
    const outbox: unknown[][] = [];
    events.forEach((event, i) => {
      for (const userId of event.recipients) inbox.push([userId, ids[i]]);
      outbox.push([ids[i], randomUUID(), event.type, data[i], JSON.stringify(sourcesOf(event)), createdAt]);
    });
    await insertRows(manager, 'inbox_items', ['user_id', 'notification_id'], inbox);
    await insertRows(manager, 'outbox', ['notification_id', 'dedupe_key', 'type', 'data', 'recipients', 'created_at'], outbox);
  }

  /**
   * PostgreSQL: one INSERT, a round trip, for them all; it returns the ids in
   * the order of the rows (TypeORM's own multi-row inserts rely on it too).
   * SQLite promises no order for RETURNING, and runs in this process: one
   * INSERT each costs no round trip.
   */
  private async insertNotifications(manager: EntityManager, rows: unknown[][]): Promise<unknown[]> {
    const columns = ['type', 'data', 'created_at', 'source_key'];
    if (manager.connection.options.type === 'postgres') {
      return (await insertRows(manager, 'notifications', columns, rows, 'id')).map((row) => row.id);
    }
    const ids: unknown[] = [];
    for (const row of rows) ids.push((await insertRows(manager, 'notifications', columns, [row], 'id'))[0].id);
    return ids;
  }

  /**
   * Stores the event, in one transaction with the events published at the
   * same time; resolves once it has committed.
   * @returns false when an event with the same source key is stored already.
   */
  persist(event: PersistedEvent): Promise<boolean> {
    return this.groups.add(event);
  }

  /**
   * Stores the events in one transaction, in this order: a batch commits
   * whole or not at all. Those whose source key is stored already (a batch
   * offered again under the same name) are left out; if one was stored
   * meanwhile by a concurrent offer, the rest is tried once more.
   */
  async persistAll(events: PersistedEvent[]): Promise<void> {
    const addFresh = async () => {
      const fresh = await this.notStored(events);
      if (fresh.length > 0) await this.groups.addAll(fresh);
    };
    try {
      await addFresh();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await addFresh();
    }
  }

  private async notStored(events: PersistedEvent[]): Promise<PersistedEvent[]> {
    const keys = events.map((event) => event.sourceKey).filter((key): key is string => key !== undefined);
    if (keys.length === 0) return events;
    const stored = await this.notifications.find({ where: { sourceKey: In(keys) }, select: { sourceKey: true } });
    const known = new Set(stored.map((row) => row.sourceKey));
    return events.filter((event) => event.sourceKey === undefined || !known.has(event.sourceKey));
  }

  private async persistAlone(event: PersistedEvent): Promise<boolean> {
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
