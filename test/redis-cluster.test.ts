// Redis Cluster mode (issue 3: "Support Redis Cluster with sharded pub/sub"): a real
// 3-node cluster started by the test, two hub processes with REDIS_CLUSTER=on and the
// three nodes as seeds. Users spread over the cluster's slots; each user's log and
// channel live in the user's slot (hash tag `{user}`), fan-out is sharded pub/sub
// (SSUBSCRIBE/SPUBLISH), and delivery, replay, tickets and the ingress work as on a
// single Redis.
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import { publish } from './support/http.js';
import { tail, waitUntil } from './support/hub-output.js';
import { HubProcess, RedisServer, startHubProcess } from './support/processes.js';
import { startCluster, TestCluster } from './support/redis-ha.js';
import { Recorder } from './support/recorder.js';
import { expectIncreasing } from './support/sequences.js';
import { envelopeOf, openRaw } from './support/sse.js';
import { TEST_SECRET, userToken } from './support/tokens.js';

// ---------------------------------------------------------------- helpers

async function publishOk(hub: HubProcess, body: { type: string; recipients: string[]; data?: object }): Promise<void> {
  const response = await publish(hub, body);
  if (response.status !== 202) {
    throw new Error(`publish on ${hub.port} answered ${response.status}: ${await response.text()}\n${tail(hub)}`);
  }
  expect(await response.json()).toEqual({ accepted: new Set(body.recipients).size });
}

// ---------------------------------------------------------------- tests

describe('Redis Cluster (3 masters, sharded pub/sub): two hubs with REDIS_CLUSTER=on', () => {
  let testCluster: TestCluster | undefined;
  const nodes: RedisServer[] = [];
  /** A direct connection to each node, to see where keys and shard channels live. */
  const direct: Redis[] = [];
  let cluster: Cluster;
  let a: HubProcess;
  let b: HubProcess;
  let hubs: HubProcess[];
  const open: Recorder[] = [];

  /** Opens a stream (Bearer token, optional Last-Event-ID), keeping every frame, comments too, and waits for `ready`. */
  async function subscribe(hub: HubProcess, user: string, lastEventId?: string): Promise<Recorder> {
    const recorder = await Recorder.open(hub, user, { comments: true, lastEventId, readyTimeoutMs: 5000, detail: () => tail(hub) });
    open.push(recorder);
    return recorder;
  }

  /** The node (index) that serves a key's slot, from CLUSTER SLOTS. */
  async function ownerOf(key: string): Promise<number> {
    const slot = Number(await direct[0].call('CLUSTER', 'KEYSLOT', key));
    const ranges = (await direct[0].call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return nodes.findIndex((n) => n.port === Number(range[2][1]));
  }

  beforeAll(async () => {
    // Whole once every node says so: a hub asks any of them for the slot map.
    testCluster = await startCluster();
    nodes.push(...testCluster.nodes);
    const ports = nodes.map((n) => n.port);
    for (const port of ports) direct.push(new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
    cluster = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
    const env = {
      REDIS_URL: testCluster.url,
      REDIS_CLUSTER: 'on',
      HEARTBEAT_MS: '60000',
      INGRESS_CLAIM_IDLE_MS: '1000',
    };
    [a, b] = await Promise.all([startHubProcess(env), startHubProcess(env)]);
    hubs = [a, b];
    try {
      await Promise.all([a.ready(), b.ready()]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- hub A:\n${tail(a, 60)}\n--- hub B:\n${tail(b, 60)}`);
    }
  }, 60_000);

  afterAll(async () => {
    for (const t of open) t.stream.close();
    await Promise.all([a?.kill(), b?.kill()]);
    cluster?.disconnect();
    for (const r of direct) r.disconnect();
    await testCluster?.stop();
  });

  it('is ready on both instances (the cluster answers)', async () => {
    for (const hub of hubs) {
      const response = await fetch(`${hub.url}/health/ready`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual(expect.objectContaining({ status: 'ok' }));
    }
  });

  it('delivers, across instances, each of 30 users exactly their events in order, users spread over all three nodes', async () => {
    const users = Array.from({ length: 30 }, (_, i) => `user${i}`);
    const taps = new Map<string, Recorder>();
    await Promise.all(users.map(async (u) => taps.set(u, await subscribe(a, u))));
    // The users' slots are spread over all three masters.
    const owners = await Promise.all(users.map((u) => ownerOf(`herald:log:{${u}}`)));
    expect(new Set(owners).size).toBe(3);

    // Each user gets a private event per round, plus events addressed to several
    // users at once (recipients in different slots), all published on B.
    const expected = new Map<string, string[]>(users.map((u) => [u, []]));
    const ROUNDS = 4;
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(
        users.map(async (u) => {
          await publishOk(b, { type: 'own.event', recipients: [u], data: { tag: `${u}#${round}` } });
        }),
      );
      for (const u of users) expected.get(u)!.push(`${u}#${round}`);
      const group = users.filter((_, i) => i % 3 === round % 3);
      await publishOk(b, { type: 'group.event', recipients: group, data: { tag: `group#${round}` } });
      for (const u of group) expected.get(u)!.push(`group#${round}`);
    }
    const count = (u: string) => expected.get(u)!.length;
    await waitUntil(
      () => users.every((u) => taps.get(u)!.published().length >= count(u)),
      'every user to get all their events',
      10_000,
      hubs,
    );
    await sleep(300); // a stray or duplicated event would show now
    for (const u of users) {
      const events = taps.get(u)!.published();
      // Exactly their events: none missing, none extra, none from another user.
      expect(events.map((f) => envelopeOf(f).data.tag).sort()).toEqual([...expected.get(u)!].sort());
      // In the order they were published, per round (a private event is awaited before the group one).
      const own = events.filter((f) => f.event === 'own.event').map((f) => envelopeOf(f).data.tag);
      expect(own).toEqual(Array.from({ length: ROUNDS }, (_, r) => `${u}#${r}`));
      expectIncreasing(events.map((f) => f.id!));
      for (const f of events) expect(envelopeOf(f).id).toBe(f.id);
    }
    for (const t of taps.values()) t.stream.close();
  }, 40_000);

  it('keeps each user\'s log and channel in the user\'s slot, and subscribes with sharded pub/sub on the owning node', async () => {
    const alice = await subscribe(a, 'alice');
    await publishOk(b, { type: 'slot.check', recipients: ['alice'], data: {} });
    await waitUntil(() => alice.published('slot.check').length === 1, 'alice\'s event', 5000, hubs);

    // The log exists on the cluster, holds the event, and lives on the node of its slot.
    expect(await cluster.exists('herald:log:{alice}')).toBe(1);
    const entries = await cluster.xrange('herald:log:{alice}', '-', '+');
    expect(entries.map(([id]) => id)).toContain(alice.published('slot.check')[0].id);
    const owner = await ownerOf('herald:log:{alice}');
    expect(await direct[owner].exists('herald:log:{alice}')).toBe(1);
    // Any other node redirects to the owner.
    for (let i = 0; i < 3; i++) {
      if (i === owner) continue;
      await expect(direct[i].exists('herald:log:{alice}')).rejects.toThrow(`:${nodes[owner].port}`);
    }
    // The replay log expires when idle.
    expect(await cluster.pttl('herald:log:{alice}')).toBeGreaterThan(0);

    // The channel shares the slot, and A (which holds alice's stream) is subscribed
    // to it as a shard channel on the owning node, not with cluster-wide SUBSCRIBE.
    const channel = 'herald:u:{alice}';
    expect(await direct[0].call('CLUSTER', 'KEYSLOT', channel)).toBe(await direct[0].call('CLUSTER', 'KEYSLOT', 'herald:log:{alice}'));
    expect(await direct[owner].call('PUBSUB', 'SHARDCHANNELS', 'herald:u:*')).toContain(channel);
    for (const r of direct) expect(await r.call('PUBSUB', 'CHANNELS', 'herald:*')).toEqual([]);

    // Closing the last stream of the user unsubscribes the instance.
    alice.stream.close();
    await waitUntil(
      async () => !((await direct[owner].call('PUBSUB', 'SHARDCHANNELS', 'herald:u:*')) as string[]).includes(channel),
      'the shard channel to be unsubscribed after the stream closed',
      5000,
      hubs,
    );
  });

  it('replays with Last-Event-ID on the other instance: exactly the missed events, then live, while events keep coming', async () => {
    const first = await subscribe(a, 'carol');
    for (let n = 1; n <= 3; n++) await publishOk(b, { type: 'carol.seq', recipients: ['carol'], data: { n } });
    await waitUntil(() => first.published().length === 3, 'carol\'s first 3 events on A', 5000, hubs);
    const lastSeen = first.published()[2].id!;
    first.stream.close();

    // Keep publishing (on A) while carol is away and while she reconnects to B.
    let n = 3;
    let stop = false;
    const publisher = (async () => {
      while (!stop) await publishOk(a, { type: 'carol.seq', recipients: ['carol'], data: { n: ++n } });
    })();
    try {
      await sleep(200);
      const second = await subscribe(b, 'carol', lastSeen);
      const ready = second.frames.find((f) => f.event === 'ready')!;
      expect(ready.id).toBe(lastSeen);
      await sleep(300);
      stop = true;
      await publisher;
      const total = n;
      await waitUntil(() => second.published().length >= total - 3, `carol's events 4..${total} on B`, 5000, hubs);
      await sleep(200);
      expect(second.published().map((f) => envelopeOf(f).data.n)).toEqual(Array.from({ length: total - 3 }, (_, i) => i + 4));
      expect(second.frames.filter((f) => f.event === 'reset')).toEqual([]);
      expectIncreasing([lastSeen, ...second.published().map((f) => f.id!)]);
      expect(total).toBeGreaterThan(10);
    } finally {
      stop = true;
      await publisher.catch(() => undefined);
    }
  }, 20_000);

  it('keeps topics in their own slots, sharded, and replays many of them on the other instance while events keep coming to all', async () => {
    const topics = Array.from({ length: 12 }, (_, i) => `cluster:t${i}`);
    const owners = new Set(await Promise.all(topics.map((t) => ownerOf(`herald:log:{#${t}}`))));
    expect(owners.size).toBe(3);
    const token = jwt.sign({ sub: 'topic-fan', topics: ['cluster:*'] }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 600 });
    const query = `?${topics.map((t) => `topic=${t}`).join('&')}`;
    const first = await Recorder.open(a, 'topic-fan', { query, token, detail: () => tail(a) });
    open.push(first);
    // A follows each topic as a shard channel on the topic's node.
    for (const t of topics.slice(0, 3)) {
      const channel = `herald:u:{#${t}}`;
      expect(await direct[await ownerOf(channel)].call('PUBSUB', 'SHARDCHANNELS', 'herald:u:{#cluster:*')).toContain(channel);
    }

    // Numbered events to every topic, published on B, round and round, while the stream moves from A to B.
    const sent = new Map(topics.map((t) => [t, 0]));
    let stop = false;
    const publisher = (async () => {
      for (let i = 0; !stop; i++) {
        const topic = topics[i % topics.length];
        const n = sent.get(topic)! + 1;
        const response = await publish(b, { type: 'topic.seq', topics: [topic], data: { n } });
        if (response.status !== 202) throw new Error(`publish answered ${response.status}: ${await response.text()}`);
        sent.set(topic, n);
      }
    })();
    const received = (recorders: Recorder[]) => {
      const byTopic = new Map<string, number[]>(topics.map((t) => [t, []]));
      for (const r of recorders) for (const f of r.published('topic.seq')) byTopic.get(envelopeOf(f).topic!)!.push(envelopeOf(f).data.n as number);
      return byTopic;
    };
    try {
      await waitUntil(() => first.published('topic.seq').length >= 30, '30 topic events on A', 10_000, hubs);
      first.stream.close();
      await first.done;
      const second = await Recorder.open(b, 'topic-fan', { query, token, lastEventId: first.frames.at(-1)!.id, detail: () => tail(b) });
      open.push(second);
      await sleep(300);
      stop = true;
      await publisher;
      const total = [...sent.values()].reduce((x, y) => x + y, 0);
      await waitUntil(() => first.published().length + second.published().length >= total, `all ${total} topic events`, 10_000, hubs);
      await sleep(200);
      for (const [topic, ns] of received([first, second])) {
        expect([topic, ns]).toEqual([topic, Array.from({ length: sent.get(topic)! }, (_, i) => i + 1)]);
      }
      expect(second.frames.filter((f) => f.event === 'reset')).toEqual([]);
    } finally {
      stop = true;
      await publisher.catch(() => undefined);
    }
  }, 40_000);

  it('redeems a stream ticket issued on one instance once, on the other', async () => {
    const issued = await fetch(`${a.url}/v1/stream-tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${userToken('dora')}` },
    });
    expect(issued.status).toBe(201);
    const { ticket } = (await issued.json()) as { ticket: string };
    const stream = await openRaw(`${b.url}/v1/stream?ticket=${encodeURIComponent(ticket)}`);
    expect(stream.response.status).toBe(200);
    const t = new Recorder(stream, 'dora', { comments: true });
    open.push(t);
    await waitUntil(() => t.frames.some((f) => f.event === 'ready'), 'ready on the ticket stream', 5000, hubs);
    expect(JSON.parse(t.frames.find((f) => f.event === 'ready')!.data!).userId).toBe('dora');
    const again = await openRaw(`${a.url}/v1/stream?ticket=${encodeURIComponent(ticket)}`);
    expect(again.response.status).toBe(401);
  });

  it('delivers an ingress entry (XADD herald:ingress through a cluster client) to recipients in different slots, once', async () => {
    const [erin, frank] = [await subscribe(a, 'erin'), await subscribe(b, 'frank')];
    const envelope = { type: 'from.ingress', recipients: ['erin', 'frank', 'nobody-online'], data: { k: 'v' } };
    const entryId = await cluster.xadd('herald:ingress', '*', 'envelope', JSON.stringify(envelope));
    expect(entryId).toBeTruthy();
    await waitUntil(() => erin.published('from.ingress').length === 1, 'the ingress entry on erin\'s stream (A)', 5000, hubs);
    await waitUntil(() => frank.published('from.ingress').length === 1, 'the ingress entry on frank\'s stream (B)', 5000, hubs);
    expect(envelopeOf(erin.published('from.ingress')[0]).data).toEqual({ k: 'v' });
    // Stored for the recipient who was not online, too, and acknowledged.
    expect(await cluster.xlen('herald:log:{nobody-online}')).toBe(1);
    await waitUntil(
      async () => ((await cluster.xpending('herald:ingress', 'herald')) as [number])[0] === 0,
      'the entry to be acknowledged',
      5000,
      hubs,
    );
    await sleep(1500); // past INGRESS_CLAIM_IDLE_MS: a wrongful re-claim would deliver it again
    expect(erin.published('from.ingress')).toHaveLength(1);
    expect(frank.published('from.ingress')).toHaveLength(1);
  }, 20_000);

  it('resubscribes the open streams of users in different slots when the nodes drop the subscription connections, losing nothing published meanwhile', async () => {
    const users = ['hana', 'ivan', 'jon', 'kim', 'lea', 'max'];
    const taps = await Promise.all(users.map((u) => subscribe(a, u)));
    // Users on several nodes, so the subscriptions (and their renewal) span slots.
    const owners = await Promise.all(users.map((u) => ownerOf(`herald:log:{${u}}`)));
    expect(new Set(owners).size).toBeGreaterThan(1);

    // Publish to every user continuously (on B) while the nodes drop A's subscriptions.
    const accepted = new Map<string, number[]>(users.map((u) => [u, []]));
    let stop = false;
    const publisher = (async () => {
      for (let seq = 0; !stop; seq++) {
        await Promise.all(
          users.map(async (u) => {
            const response = await publish(b, { type: 'around.drop', recipients: [u], data: { seq } });
            if (response.status === 202) accepted.get(u)!.push(seq);
          }),
        );
      }
    })();
    let killed = 0;
    try {
      for (let round = 0; round < 3; round++) {
        await sleep(300);
        for (const r of direct) killed += Number(await r.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
      }
      await sleep(300);
    } finally {
      stop = true;
      await publisher;
    }
    expect(killed).toBeGreaterThanOrEqual(new Set(owners).size);

    // Every accepted event reaches its user's open stream, in order, once.
    const seqs = (i: number) => taps[i].published('around.drop').map((f) => envelopeOf(f).data.seq as number);
    try {
      await waitUntil(
        () => users.every((u, i) => seqs(i).length >= accepted.get(u)!.length),
        'every accepted event on its user\'s open stream',
        5000,
        hubs,
      );
    } catch (err) {
      const report = users
        .map((u, i) => `${u}: accepted ${accepted.get(u)!.length}, missing ${accepted.get(u)!.filter((s) => !seqs(i).includes(s)).join(',')}`)
        .join('\n');
      throw new Error(`${(err as Error).message}\n${report}`);
    }
    for (const [i, u] of users.entries()) {
      expect(seqs(i)).toEqual(accepted.get(u));
      expect(taps[i].ended).toBe(false);
      expect(taps[i].frames.filter((f) => f.event === 'ready')).toHaveLength(1);
    }

    // And live delivery goes on.
    for (const [i, u] of users.entries()) {
      await publishOk(b, { type: 'after.drop', recipients: [u], data: {} });
      await waitUntil(() => taps[i].published('after.drop').length === 1, `${u}'s next live event`, 3000, hubs);
    }
  }, 30_000);

  it('dead-letters invalid ingress entries with their reason and keeps consuming', async () => {
    const gina = await subscribe(b, 'gina');
    const ids = [
      await cluster.xadd('herald:ingress', '*', 'envelope', '{not json'),
      await cluster.xadd('herald:ingress', '*', 'envelope', JSON.stringify({ type: 'ok', recipients: ['gina'], extra: 1 })),
      await cluster.xadd('herald:ingress', '*', 'other', 'field'),
    ];
    await cluster.xadd('herald:ingress', '*', 'envelope', JSON.stringify({ type: 'after.dead', recipients: ['gina'], data: {} }));
    await waitUntil(() => gina.published('after.dead').length === 1, 'a valid entry after three invalid ones', 5000, hubs);
    await waitUntil(async () => (await cluster.xlen('herald:ingress:dead')) === 3, '3 dead letters', 5000, hubs);
    // Both hubs consume the ingress, so the letters may be written in any order: matched by entry id.
    const reasonOf = new Map(
      (await cluster.xrange('herald:ingress:dead', '-', '+')).map(([, fields]) => {
        const record: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) record[fields[i]] = fields[i + 1];
        return [record.entry, record.reason];
      }),
    );
    expect(ids.map((id) => reasonOf.get(id!))).toEqual([expect.stringMatching(/json/i), expect.stringMatching(/extra/), expect.stringMatching(/envelope/)]);
    expect(gina.published()).toHaveLength(1);
  });
});
