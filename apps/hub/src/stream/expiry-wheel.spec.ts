import { ExpiryWheel } from './expiry-wheel.js';

const T0 = 1_700_000_000_000;

describe('ExpiryWheel', () => {
  it('hands out each item at the first call at or after its expiry', () => {
    const wheel = new ExpiryWheel(T0);
    const a = { dueAt: T0 + 1500 };
    const b = { dueAt: T0 + 1700 };
    const c = { dueAt: T0 + 3200 };
    [a, b, c].forEach((item) => wheel.add(item));
    expect(wheel.takeDue(T0 + 1499)).toEqual([]);
    expect(wheel.takeDue(T0 + 1500)).toEqual([a]);
    expect(wheel.takeDue(T0 + 2500)).toEqual([b]);
    expect(wheel.takeDue(T0 + 3100)).toEqual([]);
    expect(wheel.takeDue(T0 + 4100)).toEqual([c]);
    expect(wheel.size).toBe(0);
  });

  it('forgets deleted items and their empty buckets', () => {
    const wheel = new ExpiryWheel(T0);
    const a = { dueAt: T0 + 1500 };
    wheel.add(a);
    wheel.delete(a);
    expect(wheel.size).toBe(0);
    expect(wheel.takeDue(T0 + 10_000)).toEqual([]);
  });

  it('catches up after a long pause without walking every second', () => {
    const wheel = new ExpiryWheel(T0);
    const items = [{ dueAt: T0 + 5000 }, { dueAt: T0 + 86_400_000 }];
    items.forEach((i) => wheel.add(i));
    expect(wheel.takeDue(T0 + 365 * 86_400_000)).toEqual(items);
  });
});
