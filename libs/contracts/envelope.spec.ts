import {
  MAX_BATCH_EVENTS,
  MAX_DATA_DEPTH,
  MAX_ENVELOPE_BYTES,
  MAX_EVENT_TOPICS,
  MAX_RECIPIENTS,
  validatePublishBatch,
  validatePublishRequest,
} from './envelope.js';

/** An object `depth` levels deep: {a: {a: … {}}}. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

describe('validatePublishRequest', () => {
  const good = { type: 'comment.created', recipients: ['alice', 'bob'], data: { postId: '42' } };

  it('accepts a valid request, defaulting persist and de-duplicating recipients', () => {
    expect(validatePublishRequest({ ...good, recipients: ['alice', 'bob', 'alice'] })).toEqual({
      ok: true,
      value: { type: 'comment.created', recipients: ['alice', 'bob'], topics: [], data: { postId: '42' }, persist: true },
    });
  });

  it(`accepts data nested ${MAX_DATA_DEPTH} levels deep, arrays counting as levels`, () => {
    expect(validatePublishRequest({ ...good, data: nested(MAX_DATA_DEPTH) }).ok).toBe(true);
    expect(validatePublishRequest({ ...good, data: { list: [nested(MAX_DATA_DEPTH - 2)] } }).ok).toBe(true);
  });

  it('accepts topics alone or with recipients, de-duplicated', () => {
    expect(validatePublishRequest({ type: 'comment.added', topics: ['post:1', 'post:1'] })).toEqual({
      ok: true,
      value: { type: 'comment.added', recipients: [], topics: ['post:1'], data: {}, persist: true },
    });
    const both = validatePublishRequest({ ...good, topics: ['team:7'] });
    expect(both.ok && [both.value.recipients, both.value.topics]).toEqual([['alice', 'bob'], ['team:7']]);
  });

  it('defaults data to an empty object', () => {
    const result = validatePublishRequest({ type: 'ping', recipients: ['a'] });
    expect(result.ok && result.value.data).toEqual({});
  });

  it.each([
    [null, 'body'],
    [[1], 'body'],
    ['text', 'body'],
    [{ ...good, extra: 1 }, 'extra'],
    [{ ...good, type: undefined }, 'type'],
    [{ ...good, type: '' }, 'type'],
    [{ ...good, type: 'Comment' }, 'type'],
    [{ ...good, type: 'x'.repeat(65) }, 'type'],
    [{ ...good, type: 'ready' }, 'type'],
    [{ ...good, recipients: 'alice' }, 'recipients'],
    [{ ...good, recipients: [] }, 'recipients'],
    [{ ...good, recipients: Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `u${i}`) }, 'recipients'],
    [{ ...good, recipients: ['alice', 'bad user'] }, 'recipients[1]'],
    [{ ...good, recipients: ['alice', 7] }, 'recipients[1]'],
    [{ ...good, recipients: ['x'.repeat(129)] }, 'recipients[0]'],
    [{ ...good, data: [1] }, 'data'],
    [{ ...good, data: null }, 'data'],
    [{ ...good, data: 'x' }, 'data'],
    [{ ...good, persist: 'yes' }, 'persist'],
    [{ ...good, type: 'inbox.read' }, 'type'],
    [{ ...good, '': 1 }, '""'],
    [{ ...good, data: nested(MAX_DATA_DEPTH + 1) }, 'data'],
    [{ ...good, data: { list: [nested(MAX_DATA_DEPTH)] } }, 'data'],
    [{ type: 'a' }, 'recipients'],
    [{ type: 'a', topics: [] }, 'topics'],
    [{ type: 'a', topics: 'post:1' }, 'topics'],
    [{ type: 'a', topics: ['post:1', 'post 2'] }, 'topics[1]'],
    [{ type: 'a', topics: ['post:*'] }, 'topics[0]'],
    [{ type: 'a', topics: Array.from({ length: MAX_EVENT_TOPICS + 1 }, (_, i) => `t${i}`) }, 'topics'],
    [{ ...good, topics: [''] }, 'topics[0]'],
    [{ ...good, type: 'topics' }, 'type'],
  ])('rejects %j naming %s', (body, field) => {
    const result = validatePublishRequest(body);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.field).toBe(field);
  });
});

describe('validatePublishBatch', () => {
  const event = (type: string, persist?: boolean) => ({ type, recipients: ['alice'], ...(persist === undefined ? {} : { persist }) });

  it('accepts the events in order, each normalised as a single publish is', () => {
    expect(validatePublishBatch({ events: [event('a'), { ...event('b', false), recipients: ['bob', 'bob'] }] })).toEqual({
      ok: true,
      value: [
        { type: 'a', recipients: ['alice'], topics: [], data: {}, persist: true },
        { type: 'b', recipients: ['bob'], topics: [], data: {}, persist: false },
      ],
    });
  });

  it('accepts an event of exactly the limit of a single publish', () => {
    const empty = JSON.stringify({ ...event('big'), data: { pad: '' } });
    const exact = { ...event('big'), data: { pad: 'x'.repeat(MAX_ENVELOPE_BYTES - empty.length) } };
    expect(validatePublishBatch({ events: [exact] }).ok).toBe(true);
  });

  it.each([
    { body: null, field: 'body' },
    { body: [event('a')], field: 'body' },
    { body: {}, field: 'events' },
    { body: { events: [] }, field: 'events' },
    { body: { events: event('a') }, field: 'events' },
    { body: { events: Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => event('a')) }, field: 'events' },
    { body: { events: [event('a')], persist: false }, field: 'persist' },
    { body: { events: [event('a'), null] }, field: 'events[1]' },
    { body: { events: [event('a'), event('ready')] }, field: 'events[1].type' },
    { body: { events: [event('a'), { ...event('a'), recipients: ['ok', 'bad user'] }] }, field: 'events[1].recipients[1]' },
    { body: { events: [{ ...event('a'), extra: 1 }] }, field: 'events[0].extra' },
    { body: { events: [event('a'), { ...event('big'), data: { pad: 'x'.repeat(MAX_ENVELOPE_BYTES) } }] }, field: 'events[1]' },
  ])('rejects case %#, naming $field', ({ body, field }) => {
    const result = validatePublishBatch(body);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.field).toBe(field);
  });
});
