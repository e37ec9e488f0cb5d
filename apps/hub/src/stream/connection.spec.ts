import type { MessageEvent } from '@nestjs/common';
import { Subscriber } from 'rxjs';
import { PreparedEvent } from '../events/stream-message.js';
import { Connection } from './connection.js';

const event = PreparedEvent.from({ type: 't', data: {} }, new Date(0));
const message = (id: string) => event.toMessage(id);

/** A connection with a subscriber that records what it is sent and whether it was ended. */
function connection() {
  const sent: MessageEvent[] = [];
  let ended = false;
  const c = new Connection('alice', Number.MAX_SAFE_INTEGER);
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

describe('Connection', () => {
  it('sends ready, the replay, then what arrived meanwhile, each id once and in order', () => {
    const { c, ids } = connection();
    c.deliver(message('5-0'));
    c.deliver(message('7-0'));
    c.start({ head: '6-0', events: [message('5-0'), message('6-0')] }, '4-0', '{}');
    c.deliver(message('7-0'));
    c.deliver(message('8-0'));
    expect(ids()).toEqual(['4-0', '5-0', '6-0', '7-0', '8-0']);
  });

  it('holds live events while suspended and sends the catch-up before them', () => {
    const { c, ids } = connection();
    c.start({ head: '1-0', events: [] }, null, '{}');
    c.suspend();
    c.deliver(message('3-0'));
    c.ping();
    c.resume({ head: '3-0', events: [message('2-0'), message('3-0')] });
    expect(ids()).toEqual(['1-0', 'ping', '2-0', '3-0']);
  });

  it('sends reset when the catch-up cannot cover the gap', () => {
    const { c, sent } = connection();
    c.start({ head: '1-0', events: [] }, null, '{}');
    c.suspend();
    c.deliver(message('9-1'));
    c.resume({ head: '9-0', events: null });
    expect(sent.slice(1).map((m) => [m.type, m.id])).toEqual([
      ['reset', '9-0'],
      ['t', '9-1'],
    ]);
  });

  it('ends instead of starting when the transport lost live events before it started', () => {
    const { c, sent, ended } = connection();
    c.suspend();
    expect(ended()).toBe(true);
    c.start({ head: '1-0', events: [] }, null, '{}');
    c.resume({ head: '1-0', events: [] });
    expect(sent).toEqual([]);
  });
});
