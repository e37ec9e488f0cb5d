import type { PublishRequest } from '#herald/contracts/envelope';
import { memoryTransport, metrics, publishedFrom } from '../../../../test/support/services.js';
import type { OutboxRelay } from '../outbox/outbox.relay.js';
import type { IngressReceipt } from '../transport/transport.js';
import { loadConfig } from '../config/config.js';
import { Intake } from './intake.service.js';
import type { PersistedEvent, PersistedEventStore } from './persisted-event.store.js';

/** The intake with the memory transport, and a store and relay that record what they are asked. */
function newIntake(options: { stored?: boolean; storeFails?: boolean } = {}) {
  const { transport, delivered } = memoryTransport();
  const persisted: PersistedEvent[] = [];
  const store = {
    persist: async (event: PersistedEvent) => {
      if (options.storeFails) throw new Error('database is down');
      persisted.push(event);
      return options.stored ?? true;
    },
    add: async () => undefined,
  } as unknown as PersistedEventStore;
  let kicks = 0;
  const relay = { committed: () => kicks++ } as unknown as OutboxRelay;
  const hubMetrics = metrics(transport);
  const intake = new Intake(store, transport, relay, hubMetrics, loadConfig({}));
  return { intake, delivered, persisted, kicks: () => kicks, metrics: hubMetrics };
}

function receipt(entryId = '1-0'): IngressReceipt & { acked: number } {
  const r = { entryId, consumer: 'host-1-abc', acked: 0, ack: async () => void r.acked++ };
  return r;
}

const event = (persist: boolean): PublishRequest => ({ type: 'comment.created', recipients: ['alice', 'bob'], topics: [], data: { postId: '42' }, persist });

describe('Intake', () => {
  it('stores a persisted event with its inbox and outbox, then has the relay deliver it; the transport sees nothing yet', async () => {
    const { intake, delivered, persisted, kicks } = newIntake();
    await intake.accept(event(true), 'http');
    expect(persisted).toEqual([expect.objectContaining({ type: 'comment.created', recipients: ['alice', 'bob'], sourceKey: undefined })]);
    expect(kicks()).toBe(1);
    expect(delivered).toEqual([]);
  });

  it('hands a live event to the transport, which delivers it to every recipient; nothing is stored', async () => {
    const { intake, delivered, persisted, kicks } = newIntake();
    await intake.accept(event(false), 'http');
    expect(persisted).toEqual([]);
    expect(kicks()).toBe(0);
    expect(delivered.map((d) => d.userId)).toEqual(['alice', 'bob']);
    expect(JSON.parse(delivered[0].message.data)).toMatchObject({ type: 'comment.created', data: { postId: '42' } });
  });

  it('stores an ingress entry under its entry id, and settles the entry only once stored', async () => {
    const { intake, persisted } = newIntake();
    const entry = receipt('7-0');
    await intake.accept(event(true), 'ingress', { receipt: entry });
    expect(persisted[0].sourceKey).toBe('ingress:7-0');
    expect(entry.acked).toBe(1);
  });

  it('settles a live ingress entry through the transport', async () => {
    const { intake, delivered } = newIntake();
    const entry = receipt();
    await intake.accept(event(false), 'ingress', { receipt: entry });
    expect(delivered).toHaveLength(2);
    expect(entry.acked).toBe(1);
  });

  it('settles an entry stored before (a retry) without a second delivery', async () => {
    const { intake, kicks } = newIntake({ stored: false });
    const entry = receipt();
    await intake.accept(event(true), 'ingress', { receipt: entry });
    expect(kicks()).toBe(0);
    expect(entry.acked).toBe(1);
  });

  it('leaves the entry unsettled, and counts nothing, when the event could not be stored', async () => {
    const { intake, metrics: hubMetrics } = newIntake({ storeFails: true });
    const entry = receipt();
    await expect(intake.accept(event(true), 'ingress', { receipt: entry })).rejects.toThrow('database is down');
    expect(entry.acked).toBe(0);
    expect(await publishedFrom(hubMetrics, 'ingress')).toBe(0);
  });

  it('counts each accepted event by where it came from', async () => {
    const { intake, metrics: hubMetrics } = newIntake();
    await intake.accept(event(false), 'http');
    await intake.accept(event(true), 'ingress', { receipt: receipt() });
    intake.committed('comments', 1);
    intake.committed('comments', 0);
    expect(await publishedFrom(hubMetrics, 'http')).toBe(1);
    expect(await publishedFrom(hubMetrics, 'ingress')).toBe(1);
    expect(await publishedFrom(hubMetrics, 'comments')).toBe(1);
  });
});
