import { GroupCommit } from './group-commit.js';

/** A GroupCommit over a log of the groups it committed; items named 'bad' fail their group. */
function recording(parallel = 1) {
  const groups: string[][] = [];
  const alone: string[] = [];
  const commit = new GroupCommit<string, string>(
    async (items) => {
      if (items.includes('bad')) throw new Error('constraint');
      groups.push(items);
      return items.map((item) => `${item}!`);
    },
    async (item) => {
      if (item === 'bad') throw new Error('constraint');
      alone.push(item);
      return `${item}!`;
    },
    parallel,
  );
  return { commit, groups, alone };
}

describe('GroupCommit', () => {
  it('commits the items taken in during one turn of the event loop together, each with its own result', async () => {
    const { commit, groups, alone } = recording();
    const results = await Promise.all(['a', 'b', 'c'].map((item) => commit.add(item)));
    expect(results).toEqual(['a!', 'b!', 'c!']);
    expect(groups).toEqual([['a', 'b', 'c']]);
    expect(alone).toEqual([]);
  });

  it('gathers what arrives during a commit into the next one', async () => {
    const { commit, groups, alone } = recording();
    const first = commit.add('a');
    await new Promise((resolve) => setImmediate(resolve));
    const later = ['b', 'c'].map((item) => commit.add(item));
    await Promise.all([first, ...later]);
    expect(alone).toEqual(['a']);
    expect(groups).toEqual([['b', 'c']]);
  });

  it('commits the rest of a failed group one by one, so only the bad item fails', async () => {
    const { commit, alone } = recording();
    const settled = await Promise.allSettled(['a', 'bad', 'c'].map((item) => commit.add(item)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toEqual(new Error('constraint'));
    expect(alone).toEqual(['a', 'c']);
  });

  it('runs no more than `parallel` commits at once', async () => {
    let running = 0;
    let most = 0;
    const commit = new GroupCommit<number, number>(
      async (items) => {
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return items;
      },
      async (item) => item,
      2,
    );
    for (let round = 0; round < 5; round++) {
      await Promise.all([commit.add(round), new Promise((resolve) => setImmediate(resolve)).then(() => commit.add(round + 100))]);
    }
    expect(most).toBeLessThanOrEqual(2);
  });

  it('commits the items of one addAll together and in order, never split, however many they are', async () => {
    const { commit, groups } = recording();
    const batch = Array.from({ length: 250 }, (_, i) => `e${i}`);
    const [before, results, after] = await Promise.all([commit.add('a'), commit.addAll(batch), commit.add('z')]);
    expect(results).toEqual(batch.map((item) => `${item}!`));
    expect([before, after]).toEqual(['a!', 'z!']);
    expect(groups.find((group) => group.includes('e0'))).toEqual(batch);
  });

  it('fails the whole of an addAll when one of its items fails, and only it', async () => {
    const { commit, alone } = recording();
    const settled = await Promise.allSettled([commit.add('a'), commit.addAll(['b', 'bad', 'c']), commit.add('d')]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(alone).toEqual(['a', 'd']);
  });
});
