import { sqliteDatabase, testConfig } from '../../../../test/support/services.js';
import { InboxItem } from '../inbox/inbox-item.entity.js';
import { Notification } from '../inbox/notification.entity.js';
import { OutboxEntry } from '../outbox/outbox-entry.entity.js';
import { PersistedEventStore } from './persisted-event.store.js';

describe('PersistedEventStore (SQLite)', () => {
  it('stores events published at once together: each its notification, inbox items and outbox entry', async () => {
    const database = await sqliteDatabase();
    const store = new PersistedEventStore(database.transactions, database.dataSource, testConfig());
    const stored = await Promise.all(
      Array.from({ length: 50 }, (_, n) => store.persist({ type: 'note', data: { n }, recipients: [`u${n}`, 'all'] })),
    );
    expect(stored.every(Boolean)).toBe(true);
    const notifications = await database.dataSource.getRepository(Notification).find();
    const items = await database.dataSource.getRepository(InboxItem).find();
    expect(notifications).toHaveLength(50);
    // Each inbox item points at the notification of its own event.
    for (const item of items.filter((i) => i.userId !== 'all')) {
      const notification = notifications.find((n) => String(n.id) === String(item.notificationId))!;
      expect(item.userId).toBe(`u${JSON.parse(notification.data).n}`);
    }
    expect(items).toHaveLength(100);
    expect(await database.dataSource.getRepository(OutboxEntry).count()).toBe(50);
    await database.close();
  });

  it('an event whose source key is stored already is refused alone; the events published with it are stored', async () => {
    const database = await sqliteDatabase();
    const store = new PersistedEventStore(database.transactions, database.dataSource, testConfig());
    expect(await store.persist({ type: 'note', data: {}, recipients: ['alice'], sourceKey: 'ingress:1-0' })).toBe(true);
    const again = await Promise.all([
      store.persist({ type: 'note', data: { n: 1 }, recipients: ['bob'] }),
      store.persist({ type: 'note', data: {}, recipients: ['alice'], sourceKey: 'ingress:1-0' }),
      store.persist({ type: 'note', data: { n: 2 }, recipients: ['carol'] }),
    ]);
    expect(again).toEqual([true, false, true]);
    expect(await database.dataSource.getRepository(Notification).count()).toBe(3);
    expect(await database.dataSource.getRepository(OutboxEntry).count()).toBe(3);
    await database.close();
  });
});
