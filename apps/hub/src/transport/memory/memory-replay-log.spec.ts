import { PreparedEvent } from '../../events/stream-message.js';
import { MemoryReplayLog } from './memory-replay-log.js';

const BOOT = 1_700_000_000_000;
const event = PreparedEvent.from({ type: 't', data: {} }, new Date(BOOT));

function newLog({ max = 5, maxChars = 1_000_000, ttl = 60_000 } = {}) {
  const log = new MemoryReplayLog(max, maxChars, ttl, BOOT);
  const publish = (userId: string, at = BOOT + 1, published = event) => {
    const id = log.nextId(at);
    log.append(userId, published.toMessage(id));
    return id;
  };
  return { log, publish };
}

describe('MemoryReplayLog', () => {
  it('reports the head, and no events, for a subscriber without a last id', () => {
    const { log, publish } = newLog();
    expect(log.read('alice', null)).toEqual({ head: '0', events: [] });
    const id = publish('alice');
    expect(log.read('alice', null)).toEqual({ head: id, events: [] });
  });

  it('returns exactly the events after the id, in order, for that user only', () => {
    const { log, publish } = newLog();
    const ids = [publish('alice'), publish('bob'), publish('alice'), publish('alice')];
    expect(log.read('alice', ids[0]).events!.map((m) => m.id)).toEqual([ids[2], ids[3]]);
    expect(log.read('alice', ids[3]).events).toEqual([]);
    expect(log.read('bob', ids[1]).events).toEqual([]);
  });

  it('replays everything of this boot from 0', () => {
    const { log, publish } = newLog();
    const ids = [publish('alice'), publish('alice')];
    expect(log.read('alice', '0').events!.map((m) => m.id)).toEqual(ids);
  });

  it('keeps at most maxChars characters of events, dropping the oldest, and always the newest', () => {
    const big = PreparedEvent.from({ type: 't', data: { pad: 'x'.repeat(1000) } }, new Date(BOOT));
    const size = big.toMessage(`${BOOT}-0`).data.length;
    const { log, publish } = newLog({ max: 100, maxChars: 2 * size + 10 });
    const ids = Array.from({ length: 5 }, () => publish('alice', BOOT + 1, big));
    expect(log.read('alice', ids[2]).events!.map((m) => m.id)).toEqual([ids[3], ids[4]]);
    expect(log.read('alice', ids[1]).events).toBeNull();
    const { log: tiny, publish: publishTiny } = newLog({ max: 100, maxChars: 10 });
    const only = [publishTiny('bob', BOOT + 1, big), publishTiny('bob', BOOT + 1, big)];
    expect(tiny.read('bob', only[0]).events!.map((m) => m.id)).toEqual([only[1]]);
  });

  it('resets when events after the id were dropped for the count limit', () => {
    const { log, publish } = newLog({ max: 2 });
    const ids = [publish('alice'), publish('alice'), publish('alice'), publish('alice')];
    expect(log.read('alice', ids[0]).events).toBeNull();
    expect(log.read('alice', '0').events).toBeNull();
    expect(log.read('alice', ids[1]).events!.map((m) => m.id)).toEqual([ids[2], ids[3]]);
  });

  it('resets for an id from before this boot, or one it never issued', () => {
    const { log, publish } = newLog();
    const id = publish('alice');
    expect(log.read('alice', `${BOOT - 5000}-3`)).toEqual({ head: id, events: null });
    expect(log.read('alice', `${BOOT + 99_999}-0`).events).toBeNull();
  });

  it('drops events and whole logs past the TTL, and resets those who missed them', () => {
    const { log, publish } = newLog({ ttl: 1000 });
    const old = publish('alice', BOOT + 1);
    publish('bob', BOOT + 1);
    const recent = publish('bob', BOOT + 5000);
    log.sweep(BOOT + 5500);
    expect(log.sourceCount).toBe(1);
    expect(log.read('alice', '0')).toEqual({ head: '0', events: null });
    expect(log.read('bob', old).events).toBeNull();
    expect(log.read('bob', recent).events).toEqual([]);
  });

  it('compacts its storage as it drops events', () => {
    const { log, publish } = newLog({ max: 3 });
    let last = '';
    for (let i = 0; i < 1000; i++) last = publish('alice');
    const events = log.read('alice', '0');
    expect(events.head).toBe(last);
    const inner = (log as unknown as { logs: Map<string, { events: unknown[] }> }).logs.get('alice')!;
    expect(inner.events.length).toBeLessThan(200);
  });
});
