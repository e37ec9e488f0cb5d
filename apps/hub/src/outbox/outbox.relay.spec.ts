import { memoryTransport, sqliteDatabase, testConfig } from '../../../../test/support/services.js';
import { PersistedEventStore } from '../intake/persisted-event.store.js';
import type { PreparedEvent } from '../events/stream-message.js';
import type { PublishOptions } from '../transport/transport.js';
import { OutboxEntry } from './outbox-entry.entity.js';
import { OutboxRelay } from './outbox.relay.js';

/** The relay over an in-memory SQLite outbox and the memory transport, with a store to fill the outbox. */
async function newRelay() {
  const database = await sqliteDatabase();
  const { transport, delivered } = memoryTransport();
  const handedOver: PublishOptions[] = [];
  const publish = transport.publish.bind(transport);
  let failures = 0;
  transport.publish = async (event: PreparedEvent, recipients: readonly string[], options: PublishOptions = {}) => {
    if (failures > 0) {
      failures--;
      throw new Error('transport is down');
    }
    handedOver.push(options);
    return publish(event, recipients, options);
  };
  const relay = new OutboxRelay(database.transactions, transport, testConfig());
  const store = new PersistedEventStore(database.transactions, database.dataSource, testConfig());
  const outbox = () => database.dataSource.getRepository(OutboxEntry).count();
  /** One pass, as after a commit, awaited. */
  const pass = async () => {
    relay.kick();
    await relay.idle();
  };
  return { relay, store, delivered, handedOver, outbox, pass, failNext: (n: number) => (failures = n), close: database.close };
}

describe('OutboxRelay', () => {
  it('hands committed events to the transport in order, each under its outbox dedupe key, and empties the outbox', async () => {
    const { store, delivered, handedOver, outbox, pass, close } = await newRelay();
    for (const n of [1, 2, 3]) await store.persist({ type: 'note', data: { n }, recipients: ['alice'] });
    expect(await outbox()).toBe(3);
    await pass();
    expect(delivered.map((d) => JSON.parse(d.message.data).data.n)).toEqual([1, 2, 3]);
    expect(new Set(handedOver.map((o) => o.dedupeKey)).size).toBe(3);
    expect(handedOver.every((o) => /^outbox:[0-9a-f-]{36}$/.test(o.dedupeKey ?? ''))).toBe(true);
    // Persisted events name their inbox item, so a page can mark a live one read.
    expect(JSON.parse(delivered[0].message.data).notificationId).toEqual(expect.any(String));
    expect(await outbox()).toBe(0);
    await close();
  });

  it('keeps what it could not hand over, and delivers it on the next pass', async () => {
    const { store, delivered, outbox, pass, failNext, close } = await newRelay();
    await store.persist({ type: 'note', data: { n: 1 }, recipients: ['alice', 'bob'] });
    failNext(1);
    await pass();
    expect(delivered).toEqual([]);
    expect(await outbox()).toBe(1);
    await pass();
    expect(delivered.map((d) => d.userId)).toEqual(['alice', 'bob']);
    expect(await outbox()).toBe(0);
    await close();
  });
});
