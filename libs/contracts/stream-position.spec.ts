import fc from 'fast-check';
import { compareEventIds } from './event-id.js';
import { decodeStreamPosition, encodeStreamPosition, isStreamPosition, sourceHash, STREAM_POSITION_PATTERN } from './stream-position.js';

const eventId = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.integer({ min: 0, max: 2 ** 40 }))
  .map(([ms, seq]) => `${ms}-${seq}`);
const topic = fc.stringMatching(/^#[A-Za-z0-9_.:@-]{1,128}$/);

describe('stream positions', () => {
  it('a stream without topics has the user id as its id', () => {
    expect(encodeStreamPosition('1795359170169-3', [], [])).toBe('1795359170169-3');
    expect(decodeStreamPosition('1795359170169-3')).toEqual({ user: '1795359170169-3', topics: new Map() });
    expect(decodeStreamPosition('0')).toEqual({ user: '0', topics: new Map() });
  });

  it('decodes what it encodes, for any positions and topics', () => {
    fc.assert(
      fc.property(eventId, fc.uniqueArray(fc.tuple(topic, eventId), { minLength: 1, maxLength: 40, selector: ([t]) => sourceHash(t) }), (user, topics) => {
        const id = encodeStreamPosition(user, topics.map(([t]) => sourceHash(t)), topics.map(([, p]) => p));
        expect(STREAM_POSITION_PATTERN.test(id)).toBe(true);
        const decoded = decodeStreamPosition(id)!;
        expect(compareEventIds(decoded.user, user)).toBe(0);
        for (const [t, p] of topics) expect(compareEventIds(decoded.topics.get(sourceHash(t))!, p)).toBe(0);
      }),
    );
  });

  it('stays compact: 32 topics with recent events fit in a few hundred characters', () => {
    const now = 1_795_359_170_169;
    const hashes = Array.from({ length: 32 }, (_, i) => sourceHash(`#post:${i}`));
    const positions = hashes.map((_, i) => `${now - i * 1000}-0`);
    const id = encodeStreamPosition(`${now}-0`, hashes, positions);
    expect(id.length).toBeLessThan(32 * 11 + 12);
    expect(id.startsWith(`${now.toString(36)}.0.`)).toBe(true);
  });

  it('keeps the start position of a topic with no events yet', () => {
    const id = encodeStreamPosition('1795359170169-0', [sourceHash('#a')], ['0']);
    expect(compareEventIds(decodeStreamPosition(id)!.topics.get(sourceHash('#a'))!, '0')).toBe(0);
  });

  it.each([
    ['empty', ''],
    ['a topic without a position', 'abc.0.abcdef'],
    ['a position beyond the base', '10.11.abcdef0'],
    ['upper case', 'ABC.0.abcdef0'],
    ['a base past 2^53', 'zzzzzzzzzzz.0.abcdef0'],
    ['a plain id with a leading zero', '01-0'],
    ['an id with spaces', '1 - 0'],
  ])('refuses %s', (_name, id) => {
    expect(isStreamPosition(id)).toBe(false);
    expect(STREAM_POSITION_PATTERN.test(id) && decodeStreamPosition(id) !== null).toBe(false);
  });

  it('hashes a source to six base-36 characters', () => {
    fc.assert(fc.property(topic, (t) => expect(sourceHash(t)).toMatch(/^[0-9a-z]{6}$/)));
  });
});
