import { keySlot } from './redis-topology.js';

describe('keySlot', () => {
  // What CLUSTER KEYSLOT answers for each (Redis 7.0).
  it.each([
    ['foo', 12182],
    ['somekey', 11058],
    ['{user1000}.following', 3443],
    ['herald:log:{alice}', 749],
    ['herald:log:{#post:42}', 2963],
    ['a{}b', 13694],
    ['x{y', 2740],
    ['é{ü}', 9552],
    ['{}{x}', 3257],
  ])('puts %s in slot %i, as Redis Cluster does', (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });
});
