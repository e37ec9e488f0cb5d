import { compareEventIds, eventIdMillis, isEventId } from './event-id.js';

describe('event ids', () => {
  it('orders by milliseconds, then by sequence, numerically', () => {
    const sorted = ['0', '5-0', '5-1', '5-9', '5-10', '40-0', '1732288000000-0', '1732288000000-12'];
    for (let i = 0; i < sorted.length; i++) {
      for (let j = 0; j < sorted.length; j++) {
        expect(Math.sign(compareEventIds(sorted[i], sorted[j]))).toBe(Math.sign(i - j));
      }
    }
  });

  it('treats 0 and 0-0 as the same position', () => {
    expect(compareEventIds('0', '0-0')).toBe(0);
  });

  it('recognises well-formed ids only', () => {
    expect(['0', '12', '1732288000000-3'].every(isEventId)).toBe(true);
    expect(['', '-1', '01', '1-', '1-2-3', 'abc', '1.5', '99999999999999999'].some(isEventId)).toBe(false);
  });

  it('reads the millisecond part', () => {
    expect(eventIdMillis('1732288000000-7')).toBe(1732288000000);
    expect(eventIdMillis('0')).toBe(0);
  });
});
