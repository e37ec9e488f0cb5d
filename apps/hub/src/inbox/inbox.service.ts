import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { isRowId } from '../database/row-id.js';
import { Transactions } from '../database/transactions.js';
import { FieldError, UnavailableError } from '../errors/errors.js';
import { INBOX_READ_EVENT } from '../events/event-types.js';
import { PreparedEvent } from '../events/stream-message.js';
import { Transport } from '../transport/transport.js';
import { InboxItem } from './inbox-item.entity.js';
import { Notification } from './notification.entity.js';

export interface InboxEntry {
  id: string;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
  readAt: string | null;
}

export interface InboxPage {
  items: InboxEntry[];
  unreadCount: number;
  nextCursor: string | null;
}

/** Sent to the user's own streams when items are marked read, so every tab can update its badge. */

/**
 * A user's notifications, newest first. Cursors name the last item of a page,
 * and items are ordered by their id, which only grows: a page is the same
 * whatever arrives in the meantime.
 */
@Injectable()
export class InboxService {
  private readonly logger = new Logger(InboxService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
    private readonly transport: Transport,
  ) {}

  async list(userId: string, limit: number, before: string | null): Promise<InboxPage> {
    // The page of the user's items is taken first, then joined: joining first
    // lets PostgreSQL merge-join through everyone's notifications.
    const page = this.dataSource
      .createQueryBuilder(InboxItem, 'i')
      .select('i.notification_id', 'notification_id')
      .addSelect('i.read_at', 'read_at')
      .where('i.user_id = :userId', { userId })
      .orderBy('i.notification_id', 'DESC')
      .limit(limit + 1);
    if (before !== null) page.andWhere('i.notification_id < :before', { before: decodeCursor(before) });
    // The unread count in the same statement as the page, so both see the
    // same moment: counted apart, an item committed in between would be on
    // the page but not in the count, and a page that loads the inbox after
    // its live event has come would show that count for good. The count is a
    // one-row table the page is joined to, so an empty page still has it.
    const unread = this.dataSource
      .createQueryBuilder(InboxItem, 'u')
      .select('COUNT(*)', 'unread_count')
      .where('u.user_id = :userId AND u.read_at IS NULL', { userId });
    const query = this.dataSource
      .createQueryBuilder()
      .select('c.unread_count', 'unread_count')
      .addSelect('n.id', 'id')
      .addSelect('n.type', 'type')
      .addSelect('n.data', 'data')
      .addSelect('n.created_at', 'created_at')
      .addSelect('p.read_at', 'read_at')
      .from(`(${unread.getQuery()})`, 'c')
      .leftJoin(`(${page.getQuery()})`, 'p', '1 = 1')
      .leftJoin(Notification, 'n', 'n.id = p.notification_id')
      .setParameters({ ...unread.getParameters(), ...page.getParameters() })
      .orderBy('p.notification_id', 'DESC');
    const result = await query.getRawMany<{
      unread_count: string | number;
      id: string | number | null;
      type: string;
      data: string;
      created_at: string;
      read_at: string | null;
    }>();
    const unreadCount = Number(result[0].unread_count);
    const rows = result.filter((row) => row.id !== null);
    const items = rows.slice(0, limit).map((row) => ({
      id: String(row.id),
      type: row.type,
      data: JSON.parse(row.data) as Record<string, unknown>,
      createdAt: row.created_at,
      readAt: row.read_at,
    }));
    const nextCursor = rows.length > limit ? encodeCursor(items[items.length - 1].id) : null;
    return { items, unreadCount, nextCursor };
  }

  /** @throws 404 when the item is not in this user's inbox. Marking it again keeps the first readAt. */
  async markRead(userId: string, notificationId: string): Promise<void> {
    const item = isRowId(notificationId)
      ? await this.dataSource.getRepository(InboxItem).findOneBy({ userId, notificationId })
      : null;
    if (!item) throw new NotFoundException(`notification ${notificationId} is not in your inbox`);
    if (item.readAt === null) {
      await this.transactions.run((manager) =>
        manager.update(InboxItem, { userId, notificationId, readAt: IsNull() }, { readAt: new Date().toISOString() }),
      );
    }
    await this.announce(userId, { notificationId });
  }

  async markAllRead(userId: string): Promise<void> {
    await this.transactions.run((manager) =>
      manager.update(InboxItem, { userId, readAt: IsNull() }, { readAt: new Date().toISOString() }),
    );
    await this.announce(userId, { all: true });
  }

  private unreadCount(userId: string): Promise<number> {
    return this.dataSource.getRepository(InboxItem).countBy({ userId, readAt: IsNull() });
  }

  /**
   * Tells the user's other tabs, best effort: the read state is stored
   * already, so a transport that cannot take the event (Redis is away) must
   * not turn the answer into an error the client would retry. The tabs read
   * the count on their next inbox load.
   */
  private async announce(userId: string, what: Record<string, unknown>): Promise<void> {
    const data = { ...what, unreadCount: await this.unreadCount(userId) };
    try {
      await this.transport.publish(PreparedEvent.from({ type: INBOX_READ_EVENT, data }, new Date()), [userId]);
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      this.logger.warn(`inbox.read not sent to ${userId}'s streams: ${err.message}`);
    }
  }
}

function encodeCursor(id: string): string {
  return Buffer.from(`n:${id}`).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const match = /^n:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new FieldError('before', 'is not a cursor from this API (use nextCursor)');
  return match[1];
}
