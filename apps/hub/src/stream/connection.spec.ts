import type { MessageEvent } from '@nestjs/common';
import { Subscriber } from 'rxjs';
import { decodeStreamPosition, sourceHash } from '#herald/contracts/stream-position';
import { PreparedEvent } from '../events/stream-message.js';
import type { Replay } from '../transport/replay.js';
import { Connection } from './connection.js';

const event = PreparedEvent.from({ type: 't', data: {} }, new Date(0));
const message = (id: string, source?: string) => event.toMessage(id, source);
const POST = '#post:1';
const user = (replay: Replay, afterId: string | null = null) => ({ source: 'alice', afterId, replay });

/** A connection with a subscriber that records what it is sent and whether it was ended. */
function connection() {
  const sent: MessageEvent[] = [];
  let ended = false;
  const c = new Connection('h-1', 'alice', Number.MAX_SAFE_INTEGER);
  c.attach(
    new Subscriber<MessageEvent>({
      next: (m) => {
        sent.push(m);
      },
      error: () => undefined,
      complete: () => {
        ended = true;
      },
    }),
  );
  return { c, sent, ids: () => sent.map((m) => m.id ?? m.comment), ended: () => ended };
}

/** Where a composite id puts the user and the post topic. */
function positions(id: string | undefined): [string | undefined, string | undefined] {
  const decoded = decodeStreamPosition(String(id))!;
  return [decoded.user, decoded.topics.get(sourceHash(POST))];
}

describe('Connection', () => {
  it('sends ready, the replay, then what arrived meanwhile, each id once and in order', () => {
    const { c, ids } = connection();
    c.deliver('alice', message('5-0'));
    c.deliver('alice', message('7-0'));
    c.start([user({ head: '6-0', events: [message('5-0'), message('6-0')] }, '4-0')], '{}');
    c.deliver('alice', message('7-0'));
    c.deliver('alice', message('8-0'));
    expect(ids()).toEqual(['4-0', '5-0', '6-0', '7-0', '8-0']);
  });

  it('holds live events while suspended and sends the catch-up before them', () => {
    const { c, ids } = connection();
    c.start([user({ head: '1-0', events: [] })], '{}');
    c.suspend();
    c.deliver('alice', message('3-0'));
    // The first tick after `ready` finds the stream not quiet; the second pings.
    c.ping();
    c.ping();
    c.resume('alice', { head: '3-0', events: [message('2-0'), message('3-0')] });
    expect(ids()).toEqual(['1-0', 'ping', '2-0', '3-0']);
  });

  it('pings on a heartbeat tick only a stream that sent nothing since the tick before', () => {
    const { c, ids } = connection();
    c.ping();
    c.start([user({ head: '1-0', events: [] })], '{}');
    c.ping();
    c.deliver('alice', message('2-0'));
    c.ping();
    c.ping();
    c.ping();
    c.ping();
    // Not before `ready`; not on the ticks after a frame; then every second tick.
    expect(ids()).toEqual(['1-0', '2-0', 'ping', 'ping']);
  });

  it('sends reset when the catch-up cannot cover the gap', () => {
    const { c, sent } = connection();
    c.start([user({ head: '1-0', events: [] })], '{}');
    c.suspend();
    c.deliver('alice', message('9-1'));
    c.resume('alice', { head: '9-0', events: null });
    expect(sent.slice(1).map((m) => [m.type, m.id])).toEqual([
      ['reset', '9-0'],
      ['t', '9-1'],
    ]);
  });

  it('ends instead of starting when the transport lost live events before it started', () => {
    const { c, sent, ended } = connection();
    c.suspend();
    expect(ended()).toBe(true);
    c.start([user({ head: '1-0', events: [] })], '{}');
    c.resume('alice', { head: '1-0', events: [] });
    expect(sent).toEqual([]);
  });

  describe('with a topic', () => {
    const started = () => {
      const stream = connection();
      stream.c.start([user({ head: '5-0', events: [] }), { source: POST, afterId: '2-0', replay: { head: '3-0', events: [message('3-0', POST)] } }], '{}');
      return stream;
    };

    it('carries both positions in every id, and each source skips what it sent', () => {
      const { c, sent } = started();
      c.deliver(POST, message('3-0', POST));
      c.deliver('alice', message('6-0'));
      c.deliver(POST, message('4-0', POST));
      expect(sent.map((m) => [m.type, positions(m.id)])).toEqual([
        ['ready', ['5-0', '2-0']],
        ['t', ['5-0', '3-0']],
        ['t', ['6-0', '3-0']],
        ['t', ['6-0', '4-0']],
      ]);
      expect(JSON.parse(String(sent[3].data))).toMatchObject({ id: '4-0', topic: 'post:1' });
    });

    it("waits for every source's catch-up before sending what was held", () => {
      const { c, sent } = started();
      c.suspend();
      c.deliver(POST, message('5-0', POST));
      c.resume('alice', { head: '5-0', events: [] });
      expect(sent).toHaveLength(2);
      c.resume(POST, { head: '4-0', events: null });
      expect(sent.slice(2).map((m) => [m.type, m.data && JSON.parse(String(m.data)).topic, positions(m.id)])).toEqual([
        ['reset', 'post:1', ['5-0', '4-0']],
        ['t', 'post:1', ['5-0', '5-0']],
      ]);
    });

    it('adds a topic at its head and says so, holding live events until then', () => {
      const { c, sent } = connection();
      c.start([user({ head: '5-0', events: [] })], '{}');
      expect(sent[0].id).toBe('5-0');
      c.follow([POST]);
      c.deliver('alice', message('6-0'));
      c.deliver(POST, message('8-0', POST));
      c.followed(POST, '7-0');
      expect(sent.slice(1).map((m) => [m.type, positions(m.id)])).toEqual([
        ['topics', ['5-0', '7-0']],
        ['t', ['6-0', '7-0']],
        ['t', ['6-0', '8-0']],
      ]);
      c.unfollow(POST);
      c.deliver(POST, message('9-0', POST));
      c.announceTopics();
      expect(sent.slice(4).map((m) => [m.type, m.id, m.data])).toEqual([['topics', '6-0', '{"topics":[]}']]);
    });

    it('ends when the transport loses live events while a topic is being added', () => {
      const { c, ended } = started();
      c.follow(['#team:7']);
      c.suspend();
      expect(ended()).toBe(true);
    });
  });
});
