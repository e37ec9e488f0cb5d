import { MAX_RECIPIENTS, validatePublishRequest } from './envelope.js';

describe('validatePublishRequest', () => {
  const good = { type: 'comment.created', recipients: ['alice', 'bob'], data: { postId: '42' } };

  it('accepts a valid request, defaulting persist and de-duplicating recipients', () => {
    expect(validatePublishRequest({ ...good, recipients: ['alice', 'bob', 'alice'] })).toEqual({
      ok: true,
      value: { type: 'comment.created', recipients: ['alice', 'bob'], data: { postId: '42' }, persist: true },
    });
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
  ])('rejects %j naming %s', (body, field) => {
    const result = validatePublishRequest(body);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.field).toBe(field);
  });
});
