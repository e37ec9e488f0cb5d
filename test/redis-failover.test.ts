// Redis failover (issue 14, "Redis with failover"): a Redis Cluster whose three masters
// each have a replica, and a primary with two replicas watched by three sentinels,
// started here side by side, each with two hubs: W appends with REDIS_WAIT_REPLICAS=1, P
// without. Publishers keep publishing to a few users through both hubs (retrying under an
// Idempotency-Key, as @herald/publisher does), each user has a tab on each hub, and the
// master serving those users is SIGKILLed twice: once as it is, then after its replicas
// were cut off (stopped, their links killed), so that the replica the failover promotes
// lacks what its master acknowledged last. Tabs stay open, or reconnect with their last id as
// EventSource does; one tab is closed across the second failover and comes back after it.
// Then every tab's frames are checked against the log Redis kept, and what was
// acknowledged and lost is counted (the figures in docs/deployment.md#redis-failover).
import { Cluster, Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { publish } from './support/http.js';
import { waitUntil } from './support/hub-output.js';
import { HubProcess, lowPort, RedisServer, startHubProcess } from './support/processes.js';
import { Recorder } from './support/recorder.js';
import { ask, startCluster, startSentinels, TestCluster, TestSentinels } from './support/redis-ha.js';
import { compareIds } from './support/sequences.js';
import type { SseFrame } from './support/sse.js';
import { serviceToken } from './support/tokens.js';

// ---------------------------------------------------------------- helpers

const TYPE = 'failover.seq';
/** Users per deployment, each published to through both hubs and with a tab on each. */
const USERS = 3;
/** A publisher's pause between two events. */
const PACE_MS = 20;
const WAIT_TIMEOUT_MS = 500;
/** How long a failover may take, from the kill until every tab has a new event. */
const FAILOVER_MS = 20_000;

type Series = 'w' | 'p';
/** What a numbered event says: which publisher (through W or P) and its number there. */
type Seq = { series: Series; seq: number };
const label = ({ series, seq }: Seq) => `${series}${seq}`;

/** A Recorder that notes when each frame came. */
class TimedRecorder extends Recorder {
  readonly times: number[] = [];
  protected override received(): void {
    this.times.push(Date.now());
  }
}

/** A frame as a tab got it, with when, and the numbered event it carries (if it does). */
type Got = SseFrame & { at: number; event?: string; numbered?: Seq };

/**
 * A browser tab: its user's stream on one hub, opened again with the last id
 * it got whenever it ends or is refused, as EventSource does.
 */
class Tab {
  private readonly recorders: TimedRecorder[] = [];
  private closed = false;
  private running?: Promise<void>;

  constructor(
    readonly name: string,
    readonly user: string,
    readonly hub: HubProcess,
  ) {}

  open(): void {
    this.closed = false;
    this.running = this.loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.recorders.map((r) => r.close()));
    await this.running;
  }

  /** Every frame with an id or an event, in order, across reconnects. */
  get frames(): Got[] {
    return this.recorders.flatMap((r) =>
      r.frames.map((f, i) => ({
        ...f,
        at: r.times[i],
        numbered: f.event === TYPE ? (JSON.parse(f.data!).data as Seq) : undefined,
      })),
    );
  }

  get opens(): number {
    return this.recorders.length;
  }

  get lastId(): string | undefined {
    return this.frames.findLast((f) => f.id !== undefined)?.id;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let recorder: TimedRecorder;
      try {
        recorder = await TimedRecorder.open(this.hub, this.user, { lastEventId: this.lastId, readyTimeoutMs: 3000 });
      } catch {
        await sleep(200);
        continue;
      }
      this.recorders.push(recorder);
      if (this.closed) await recorder.close();
      await recorder.done;
    }
  }
}

/** Publishes numbered events to one user through one hub, one at a time, each retried under its Idempotency-Key until accepted. */
class Publisher {
  /** Accepted events: when the accepted attempt was sent, by number. */
  readonly accepted = new Map<number, number>();
  readonly statuses = new Map<number, number>();
  /** The last answer that was not 202, for a failure's message. */
  lastRefusal = '';
  /** The messages of the 503s, each with when it last came; and how many came without Retry-After. */
  readonly refusals = new Map<string, number>();
  withoutRetryAfter = 0;
  private stopped = false;
  private running?: Promise<void>;

  constructor(
    readonly hub: HubProcess,
    readonly user: string,
    readonly series: Series,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Events accepted from attempts sent at `since` or later. */
  acceptedSince(since: number): number {
    return [...this.accepted.values()].filter((sentAt) => sentAt >= since).length;
  }

  private async loop(): Promise<void> {
    for (let seq = 1; !this.stopped; seq++) {
      while (!this.stopped) {
        const sentAt = Date.now();
        const status = await publish(
          this.hub,
          { type: TYPE, recipients: [this.user], data: { series: this.series, seq }, persist: false },
          serviceToken(),
          { 'idempotency-key': `${this.user}:${this.series}:${seq}` },
        ).then(
          async (r) => {
            if (r.status === 202) return r.status;
            const body = await r.text();
            this.lastRefusal = `${r.status} ${body}`;
            if (r.status === 503) {
              this.refusals.set((JSON.parse(body) as { message: string }).message, Date.now());
              if (!/^\d+$/.test(r.headers.get('retry-after') ?? '')) this.withoutRetryAfter++;
            }
            return r.status;
          },
          (err: Error) => {
            this.lastRefusal = err.message;
            return -1;
          },
        );
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
        if (status === 202) {
          this.accepted.set(seq, sentAt);
          break;
        }
        await sleep(100);
      }
      await sleep(PACE_MS);
    }
  }
}

/** A Redis that fails over, with two hubs on it. */
interface Deployment {
  name: string;
  users: string[];
  /** With REDIS_WAIT_REPLICAS=1, and without. */
  w: HubProcess;
  p: HubProcess;
  /** The master serving the users now. */
  master(): Promise<RedisServer>;
  /** Its replicas, all of which a failover may promote. */
  replicasOf(master: RedisServer): Promise<RedisServer[]>;
  /** Brings a killed master back, as a replica, and waits until every master has its replicas in sync. */
  restore(killed: RedisServer): Promise<void>;
  /** A client that reads the users' logs wherever they are now. */
  reader(): Redis | Cluster;
}

/** One entry of a user's log, as Redis kept it. */
type LogEntry = { id: string; numbered: Seq };

async function readLog(reader: Redis | Cluster, user: string): Promise<LogEntry[]> {
  const entries = await reader.xrange(`herald:log:{${user}}`, '-', '+');
  return entries.map(([id, fields]) => ({ id, numbered: JSON.parse(`{${fields[fields.indexOf('b') + 1]}`).data as Seq }));
}

/** What one deployment went through, for the checks and the figures. */
interface Outcome {
  deployment: Deployment;
  tabs: Tab[];
  /** The tab closed before the second failover and opened again after it, with its last id. */
  late: Tab;
  publishers: Publisher[];
  logs: Map<string, LogEntry[]>;
  kills: { at: number; liveAfterMs: number; waitAcceptedAfterMs: number }[];
  /** When the second master's replicas were stopped, and when their links were cut: from then on it alone had what it acknowledged. */
  stoppedAt: number;
  cutAt: number;
}

/** Every tab has an event sent after `since` (it is live again); how long after `since` the last one came. */
async function liveAgain(d: Deployment, tabs: Tab[], publishers: Publisher[], since: number): Promise<number> {
  const sentAt = (user: string, n: Seq) => publishers.find((p) => p.user === user && p.series === n.series)!.accepted.get(n.seq);
  // An event accepted after `since` may have been delivered before, from an attempt refused then (W, waiting for a replica).
  const firstAfter = (tab: Tab) => tab.frames.find((f) => f.numbered && f.at > since && (sentAt(tab.user, f.numbered) ?? 0) > since)?.at;
  await waitUntil(() => tabs.every((tab) => firstAfter(tab) !== undefined), `${d.name}: every tab live again`, FAILOVER_MS, [d.w, d.p]);
  return Math.max(...tabs.map((tab) => firstAfter(tab)!)) - since;
}

/** Until every publisher through W has `count` events accepted since `since` (W waits for a replica, so for the failover to end). */
async function waitAccepting(d: Deployment, publishers: Publisher[], series: Series, since: number, count: number): Promise<void> {
  const through = publishers.filter((p) => p.series === series);
  try {
    await waitUntil(
      () => through.every((p) => p.acceptedSince(since) >= count),
      `${d.name}: ${count} events accepted through ${series.toUpperCase()} by every publisher`,
      FAILOVER_MS,
      [d.w, d.p],
    );
  } catch (err) {
    (err as Error).message += `\nlast refusals: ${through.map((p) => p.lastRefusal).join('\n')}`;
    throw err;
  }
}

/** The frames of a tab after its last reset (all of them without one), and that reset's id (else its first ready's). */
function lastSegment(tab: Tab): { from: string; frames: Got[] } {
  const frames = tab.frames;
  const at = frames.findLastIndex((f) => f.event === 'reset');
  return { from: frames[at === -1 ? frames.findIndex((f) => f.event === 'ready') : at].id!, frames: frames.slice(at + 1) };
}

/** The numbered events of the log after `from`, as a tab should have them. */
const logAfter = (log: LogEntry[], from: string) => log.filter((e) => compareIds(e.id, from) > 0).map((e) => `${e.id} ${label(e.numbered)}`);
const delivered = (frames: Got[]) => frames.filter((f) => f.numbered).map((f) => `${f.id} ${label(f.numbered!)}`);

/**
 * Publishing throughout: the users' master killed; live again; it comes back
 * as a replica. Then its successor's replica cut off; events accepted by P
 * only; the successor killed and the lagging replica let go, so that it is
 * promoted; live again; the killed one back.
 */
async function failTwice(d: Deployment, running: { tabs: Tab[]; publishers: Publisher[] }): Promise<Outcome> {
  const tabs = d.users.flatMap((user) => [new Tab(`${user} on W`, user, d.w), new Tab(`${user} on P`, user, d.p)]);
  const late = new Tab(`${d.users[0]} on P, closed across the second failover`, d.users[0], d.p);
  const publishers = d.users.flatMap((user) => [new Publisher(d.w, user, 'w'), new Publisher(d.p, user, 'p')]);
  running.tabs.push(...tabs, late);
  running.publishers.push(...publishers);
  const kills: Outcome['kills'] = [];
  for (const tab of [...tabs, late]) tab.open();
  await waitUntil(() => [...tabs, late].every((t) => t.lastId !== undefined), `${d.name}: every tab open`, 10_000, [d.w, d.p]);
  const started = Date.now();
  for (const publisher of publishers) publisher.start();
  try {
    await waitAccepting(d, publishers, 'w', started, 5);
    await waitAccepting(d, publishers, 'p', started, 5);

    // As it is: the replica is as close behind as replication keeps it.
    const first = await d.master();
    const killedAt = Date.now();
    await first.kill();
    const liveAfterMs = await liveAgain(d, tabs, publishers, killedAt);
    await d.restore(first);
    await waitAccepting(d, publishers, 'w', killedAt, 3);
    kills.push({ at: killedAt, liveAfterMs, waitAcceptedAfterMs: firstAccepted(publishers, 'w', killedAt) - killedAt });

    // Replicas left behind: stopped, their links cut, so that what their
    // master acknowledges from then on is on the master alone (what it wrote
    // to a stopped replica's socket before would still reach it).
    await late.close();
    const second = await d.master();
    const replicas = await d.replicasOf(second);
    const stoppedAt = Date.now();
    for (const replica of replicas) process.kill(replica.pid, 'SIGSTOP');
    const resume = () => replicas.forEach((replica) => process.kill(replica.pid, 'SIGCONT'));
    let cutAt: number;
    try {
      await ask(second.port, 'CLIENT', 'KILL', 'TYPE', 'replica');
      cutAt = Date.now();
      await waitAccepting(d, publishers, 'p', cutAt, 3);
      // W's appends wait, in vain, and are refused.
      await waitUntil(
        () => publishers.some((p) => [...p.refusals].some(([m, at]) => at > cutAt && m.includes(`0 of 1 replica(s) confirmed it within ${WAIT_TIMEOUT_MS} ms`))),
        `${d.name}: W refusing what no replica confirms`,
        FAILOVER_MS,
        [d.w, d.p],
      );
      const killedAgainAt = Date.now();
      await second.kill();
      resume();
      const liveAgainAfterMs = await liveAgain(d, tabs, publishers, killedAgainAt);
      await d.restore(second);
      await waitAccepting(d, publishers, 'w', killedAgainAt, 3);
      kills.push({ at: killedAgainAt, liveAfterMs: liveAgainAfterMs, waitAcceptedAfterMs: firstAccepted(publishers, 'w', killedAgainAt) - killedAgainAt });
    } finally {
      resume();
    }
    late.open();
    await waitUntil(() => late.opens === 2 && late.frames.at(-1)?.event !== 'ready', `${d.name}: the late tab back`, 10_000, [d.w, d.p]);
    await Promise.all(publishers.map((p) => p.stop()));

    // Settled once every tab has what the log kept after its last reset.
    const logs = new Map<string, LogEntry[]>();
    const reader = d.reader();
    try {
      await waitUntil(
        async () => {
          for (const user of d.users) logs.set(user, await readLog(reader, user));
          return [...tabs, late].every((tab) => {
            const { from, frames } = lastSegment(tab);
            return delivered(frames).length >= logAfter(logs.get(tab.user)!, from).length;
          });
        },
        `${d.name}: every tab to have what the log kept`,
        10_000,
        [d.w, d.p],
      );
    } finally {
      reader.disconnect();
    }
    return { deployment: d, tabs, late, publishers, logs, kills, stoppedAt, cutAt };
  } finally {
    await Promise.all(publishers.map((p) => p.stop()));
  }
}

/** When the first event accepted through `series` after `since` was sent. */
function firstAccepted(publishers: Publisher[], series: Series, since: number): number {
  return Math.min(...publishers.filter((p) => p.series === series).flatMap((p) => [...p.accepted.values()].filter((t) => t > since)));
}

/** Events accepted that the log does not have: lost in a failover. */
function lost(o: Outcome, series: Series): { user: string; seq: number; sentAt: number }[] {
  return o.publishers
    .filter((p) => p.series === series)
    .flatMap((p) => {
      const kept = new Set(o.logs.get(p.user)!.filter((e) => e.numbered.series === series).map((e) => e.numbered.seq));
      return [...p.accepted].filter(([seq]) => !kept.has(seq)).map(([seq, sentAt]) => ({ user: p.user, seq, sentAt }));
    });
}

// ---------------------------------------------------------------- tests

describe('Redis failover: the master serving the users killed twice while they get events', () => {
  let cluster: TestCluster | undefined;
  let sentinels: TestSentinels | undefined;
  const hubs: HubProcess[] = [];
  const deployments: Deployment[] = [];
  const outcomes: Outcome[] = [];
  const running = { tabs: [] as Tab[], publishers: [] as Publisher[] };

  async function hubPair(env: Record<string, string>): Promise<[HubProcess, HubProcess]> {
    const start = async (extra: Record<string, string>) => {
      const hub = await startHubProcess({ ...env, ...extra, PORT: String(await lowPort()) });
      hubs.push(hub);
      return hub;
    };
    const [w, p] = await Promise.all([start({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS) }), start({})]);
    await Promise.all([w.ready(), p.ready()]);
    return [w, p];
  }

  async function onCluster(): Promise<Deployment> {
    cluster = await startCluster({ replicas: 1, nodeTimeoutMs: 1000 });
    const c = cluster;
    // Users whose logs share one master, so that one kill hits them all.
    const candidates = Array.from({ length: 40 }, (_, i) => `cluster-user-${i}`);
    const owners = await Promise.all(candidates.map(async (u) => (await c.masterOf(`herald:log:{${u}}`)).port));
    const users = candidates.filter((_, i) => owners[i] === owners[0]).slice(0, USERS);
    const [w, p] = await hubPair({ REDIS_URL: c.url, REDIS_CLUSTER: 'on' });
    const seeds = c.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
    return {
      name: 'Redis Cluster',
      users,
      w,
      p,
      master: () => c.masterOf(`herald:log:{${users[0]}}`),
      replicasOf: async (master) => [await c.replicaOf(master)],
      restore: async (killed) => {
        await killed.start();
        await c.whole();
      },
      reader: () => new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: 1 } }),
    };
  }

  async function onSentinels(): Promise<Deployment> {
    // Two replicas: after a failover one is left, so appends that wait for one go on.
    sentinels = await startSentinels({ replicas: 2, sentinels: 3, downAfterMs: 1000 });
    const s = sentinels;
    const [w, p] = await hubPair({ REDIS_SENTINELS: s.addresses, REDIS_SENTINEL_MASTER: s.name });
    const addresses = s.sentinels.map((n) => ({ host: '127.0.0.1', port: n.port }));
    return {
      name: 'Sentinel',
      users: Array.from({ length: USERS }, (_, i) => `sentinel-user-${i}`),
      w,
      p,
      master: () => s.master(),
      replicasOf: async (master) => s.servers.filter((server) => server !== master),
      // Sentinel would make it a replica of the new master too, but only once
      // it has said it is a master for 8 s (SENTINEL_PUBLISH_PERIOD * 4).
      restore: async (killed) => {
        await killed.start();
        await ask(killed.port, 'REPLICAOF', '127.0.0.1', (await s.master()).port);
        await s.settled(2);
      },
      reader: () => new Redis({ sentinels: addresses, name: s.name, maxRetriesPerRequest: 1 }),
    };
  }

  beforeAll(async () => {
    const settled = await Promise.allSettled([onCluster(), onSentinels()]);
    for (const s of settled) if (s.status === 'fulfilled') deployments.push(s.value);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...running.publishers.map((p) => p.stop()), ...running.tabs.map((t) => t.close())]);
    await Promise.all(hubs.map((h) => h.kill()));
    await Promise.all([cluster?.stop(), sentinels?.stop()]);
  });

  it('follows each failover: every tab live again on its hub, publishing through W again once a replica is back', async () => {
    // Both to the end, so that one failing leaves nothing of the other running.
    const settled = await Promise.allSettled(deployments.map((d) => failTwice(d, running)));
    for (const s of settled) if (s.status === 'fulfilled') outcomes.push(s.value);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    for (const o of outcomes) {
      const figures = o.kills.map(
        (k, i) => `kill ${i + 1}: tabs live again after ${k.liveAfterMs} ms, W accepting again after ${k.waitAcceptedAfterMs} ms`,
      );
      console.log(`${o.deployment.name}: ${figures.join('; ')}; tab reconnects: ${o.tabs.map((t) => t.opens - 1).join(',')}`);
      expect(o.kills).toHaveLength(2);
      // Only 202 or 503: an event is accepted, or refused with a reason to retry.
      for (const publisher of o.publishers) expect([...publisher.statuses.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);
    }
  }, 120_000);

  it('loses no event accepted through W (REDIS_WAIT_REPLICAS=1), stores none twice however often retried; counts those P lost', () => {
    for (const o of outcomes) {
      expect([o.deployment.name, lost(o, 'w')]).toEqual([o.deployment.name, []]);
      for (const [user, log] of o.logs) {
        const labels = log.map((e) => label(e.numbered));
        expect([user, labels.filter((l, i) => labels.indexOf(l) !== i)]).toEqual([user, []]);
      }
      // W refused while it had no replica to confirm with: a 503 to retry, saying why.
      const byW = o.publishers.filter((p) => p.series === 'w');
      expect([...new Set(byW.flatMap((p) => [...p.refusals.keys()]))]).toEqual(
        expect.arrayContaining([expect.stringMatching(/could not confirm the event on its replicas: 0 of 1 replica\(s\) .*retry with the same Idempotency-Key/)]),
      );
      expect(o.publishers.map((p) => p.withoutRetryAfter)).toEqual(o.publishers.map(() => 0));
      const byP = lost(o, 'p');
      const inFirst = byP.filter((l) => l.sentAt < o.stoppedAt);
      const onNoTab = (gone: typeof byP) =>
        gone.filter((l) => !o.tabs.some((t) => t.user === l.user && t.frames.some((f) => f.numbered?.series === 'p' && f.numbered.seq === l.seq))).length;
      const accepted = o.publishers.reduce((sum, p) => sum + p.accepted.size, 0);
      const cutOff = o.publishers.filter((p) => p.series === 'p').reduce((sum, p) => sum + p.acceptedSince(o.cutAt) - p.acceptedSince(o.kills[1].at), 0);
      console.log(
        `${o.deployment.name}: ${accepted} events accepted; through P, lost ${inFirst.length} in the first failover ` +
          `(${onNoTab(inFirst)} on no tab) and ${byP.length - inFirst.length} in the second (${onNoTab(byP) - onNoTab(inFirst)} on no tab; ` +
          `accepted while the replicas were cut off: ${cutOff})`,
      );
      // What the master alone acknowledged in the second is gone with it.
      expect(byP.length - inFirst.length).toBeGreaterThanOrEqual(3 * USERS);
    }
  });

  it('gives every tab what the log kept after its last reset, once and in order, with ids increasing throughout', () => {
    for (const o of outcomes) {
      for (const tab of [...o.tabs, o.late]) {
        const { from, frames } = lastSegment(tab);
        expect([tab.name, delivered(frames)]).toEqual([tab.name, logAfter(o.logs.get(tab.user)!, from)]);
        const ids = tab.frames.filter((f) => f.event !== 'ready').map((f) => f.id!);
        expect([tab.name, ids.filter((id, i) => i > 0 && compareIds(id, ids[i - 1]) <= 0)]).toEqual([tab.name, []]);
      }
    }
  });

  it('gives a reset, never a silent gap, to every tab that had an event the failover lost, and to the tab that was away', () => {
    for (const o of outcomes) {
      for (const tab of o.tabs) {
        const kept = new Set(o.logs.get(tab.user)!.map((e) => e.id));
        const gone = tab.frames.filter((f) => f.numbered && !kept.has(f.id!));
        // An event that is not in the log any more came before a reset.
        const lastReset = tab.frames.findLastIndex((f) => f.event === 'reset');
        expect([tab.name, gone.filter((f) => tab.frames.indexOf(f) > lastReset).map((f) => f.id)]).toEqual([tab.name, []]);
        if (gone.length > 0) expect(lastReset).toBeGreaterThan(-1);
      }
      // Away while its user's events were lost: it cannot have them, and is told so.
      const back = o.late.frames.slice(o.late.frames.findLastIndex((f) => f.event === 'ready'));
      expect(back.map((f) => f.event).slice(0, 2)).toEqual(['ready', 'reset']);
    }
  });
});
