/**
 * Redis deployments that fail over, as the tests start them: a Redis Cluster
 * (a replica per master, if asked) and a primary with replicas watched by
 * Sentinel. Every process is a private redis-server on ports below 32768,
 * stopped by PID; a deployment that fails to start stops what it started.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitUntil } from './hub-output.js';
import { lowPort, RedisServer, startRedis } from './processes.js';

/** `count` distinct free ports below 32768. */
async function lowPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await lowPort());
  return [...ports];
}

function redisCli(args: string[]): string {
  const run = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 20_000 });
  if (run.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed (${run.status}): ${run.stdout}${run.stderr}`);
  return run.stdout;
}

/** One command on a node, on a connection of its own; rejects when the node does not answer. */
export async function ask(port: number, ...command: (string | number)[]): Promise<unknown> {
  const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.call(String(command[0]), ...command.slice(1));
  } finally {
    redis.disconnect();
  }
}

/** A field of INFO's text (`role`, `master_link_status`, …). */
async function info(port: number, field: string): Promise<string | undefined> {
  const text = String(await ask(port, 'INFO', 'replication'));
  return text.match(new RegExp(`^${field}:(.*)$`, 'm'))?.[1]?.trim();
}

/**
 * Starts servers on the ports in parallel; if any fails, stops those that
 * started and rethrows. A replica's first sync starts at once, rather than
 * after Redis' default 5 s wait for more replicas to share it; and a master
 * pings its replicas every second, rather than every 10 s: until the first
 * ping moves its offset, a replica of an empty master is left out of
 * CLUSTER SLOTS.
 */
async function startAll(ports: number[], args: (port: number) => string[]): Promise<RedisServer[]> {
  const quick = ['--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '1'];
  const starts = ports.map((port) => startRedis([...quick, ...args(port)], port));
  const settled = await Promise.allSettled(starts);
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((server) => server.stop()));
    throw failed.reason;
  }
  return started;
}

/** Runs `setUp` on what `start` started; if it fails, stops them all and rethrows. */
async function stoppedOnFailure<T>(servers: RedisServer[], setUp: () => Promise<T>): Promise<T> {
  try {
    return await setUp();
  } catch (err) {
    await Promise.all(servers.map((server) => server.stop()));
    throw err;
  }
}

export interface TestCluster {
  /** Every node, masters and replicas as `--cluster create` made them. */
  nodes: RedisServer[];
  /** The hubs' REDIS_URL: every node, comma-separated. */
  url: string;
  /** The node that serves the key's slot now (CLUSTER SLOTS, asked of a live node). */
  masterOf(key: string): Promise<RedisServer>;
  /** A replica of the master, in sync with it. */
  replicaOf(master: RedisServer): Promise<RedisServer>;
  /** Waits until every live node says cluster_state:ok and every master has a replica in sync (when replicas were asked for). */
  whole(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters with `replicas` replicas each.
 * @param nodeTimeoutMs cluster-node-timeout: how long a master may be silent before its replica takes over.
 */
export async function startCluster({ masters = 3, replicas = 0, nodeTimeoutMs = 2000 } = {}): Promise<TestCluster> {
  const count = masters * (1 + replicas);
  const ports = await lowPorts(count * 2);
  const busPort = new Map(ports.slice(0, count).map((port, i) => [port, ports[count + i]]));
  const nodes = await startAll(ports.slice(0, count), (port) => [
    '--cluster-enabled', 'yes',
    '--cluster-config-file', `nodes-${port}.conf`,
    '--cluster-node-timeout', String(nodeTimeoutMs),
    // Its bus port below 32768 too, rather than port + 10000.
    '--cluster-port', String(busPort.get(port)),
  ]);
  const byPort = (port: number) => nodes.find((n) => n.port === port)!;
  const live = async () => (await Promise.all(nodes.map(async (n) => ((await ask(n.port, 'PING').catch(() => null)) ? n : null)))).filter((n) => n !== null);
  const slots = async () => {
    for (const node of await live()) {
      const ranges = (await ask(node.port, 'CLUSTER', 'SLOTS').catch(() => null)) as [number, number, [string, number], ...[string, number][]][] | null;
      if (ranges) return ranges;
    }
    throw new Error('no cluster node answers');
  };
  const cluster: TestCluster = {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    async masterOf(key) {
      const slot = Number(await ask((await live())[0].port, 'CLUSTER', 'KEYSLOT', key));
      const range = (await slots()).find(([from, to]) => slot >= from && slot <= to)!;
      return byPort(Number(range[2][1]));
    },
    async replicaOf(master) {
      const range = (await slots()).find(([, , owner]) => Number(owner[1]) === master.port)!;
      for (const [, port] of range.slice(3) as [string, number][]) {
        if ((await info(Number(port), 'master_link_status').catch(() => undefined)) === 'up') return byPort(Number(port));
      }
      throw new Error(`no replica of ${master.port} in sync`);
    },
    async whole(timeoutMs = 15_000) {
      await waitUntil(
        async () => {
          const up = await live();
          const states = await Promise.all(up.map((n) => ask(n.port, 'CLUSTER', 'INFO') as Promise<string>));
          if (!states.every((s) => s.includes('cluster_state:ok') && s.includes(`cluster_known_nodes:${count}`))) return false;
          const ranges = await slots();
          const links = await Promise.all(
            ranges.flatMap(([, , , ...copies]) => copies.map(([, port]) => info(Number(port), 'master_link_status').catch(() => undefined))),
          );
          return ranges.every(([, , , ...copies]) => copies.length >= Math.min(replicas, up.length - masters)) && links.every((l) => l === 'up');
        },
        `the cluster on ${ports.slice(0, count).join(',')} to be whole`,
        timeoutMs,
      );
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  return stoppedOnFailure(nodes, async () => {
    redisCli(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    await cluster.whole();
    return cluster;
  });
}

export interface TestSentinels {
  /** The primary and its replicas, the primary first (as started; a failover changes which is which). */
  servers: RedisServer[];
  sentinels: RedisServer[];
  /** The master's name, for REDIS_SENTINEL_MASTER. */
  name: string;
  /** The hubs' REDIS_SENTINELS: `host:port` of every sentinel, comma-separated. */
  addresses: string;
  /** The server the sentinels name as master now. */
  master(): Promise<RedisServer>;
  /** Waits until the sentinels name a master that says it is one and has `replicas` replicas in sync. */
  settled(replicas: number, timeoutMs?: number): Promise<RedisServer>;
  stop(): Promise<void>;
}

/**
 * A primary with `replicas` replicas, watched by `sentinels` sentinels
 * (quorum: a majority) that take it for down after `downAfterMs` and fail
 * over to a replica.
 */
export async function startSentinels({ replicas = 1, sentinels = 3, downAfterMs = 1000 } = {}): Promise<TestSentinels> {
  const name = 'herald-test';
  const ports = await lowPorts(1 + replicas + sentinels);
  const [primaryPort] = ports;
  const servers = await startAll(ports.slice(0, 1 + replicas), (port) => (port === primaryPort ? [] : ['--replicaof', '127.0.0.1', String(primaryPort)]));
  const byPort = (port: number) => servers.find((s) => s.port === port)!;
  // A sentinel rewrites its configuration file: each gets one of its own.
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-sentinel-'));
  const config = [
    `sentinel monitor ${name} 127.0.0.1 ${primaryPort} ${Math.floor(sentinels / 2) + 1}`,
    `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
    // Also how long before a failover is tried again after a vote with no winner (twice this).
    `sentinel failover-timeout ${name} 2000`,
    '',
  ].join('\n');
  const watchers = await stoppedOnFailure(servers, () =>
    Promise.all(
      ports.slice(1 + replicas).map((port) => {
        const file = path.join(dir, `sentinel-${port}.conf`);
        writeFileSync(file, config);
        return startRedis(['--sentinel'], port, file);
      }),
    ),
  ).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const group: TestSentinels = {
    servers,
    sentinels: watchers,
    name,
    addresses: watchers.map((w) => `127.0.0.1:${w.port}`).join(','),
    async master() {
      for (const watcher of watchers) {
        const address = (await ask(watcher.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).catch(() => null)) as [string, string] | null;
        if (address) return byPort(Number(address[1]));
      }
      throw new Error('no sentinel answers');
    },
    async settled(count, timeoutMs = 15_000) {
      let master: RedisServer | undefined;
      await waitUntil(
        async () => {
          master = await group.master();
          if ((await info(master.port, 'role')) !== 'master') return false;
          const following = async ({ port }: RedisServer) =>
            (await info(port, 'master_port').catch(() => undefined)) === String(master!.port) &&
            (await info(port, 'master_link_status').catch(() => undefined)) === 'up';
          const links = await Promise.all(servers.filter((s) => s !== master).map(following));
          const known = await Promise.all(watchers.map((w) => ask(w.port, 'SENTINEL', 'REPLICAS', name).catch(() => [])));
          return links.filter(Boolean).length >= count && known.every((r) => (r as unknown[]).length >= count);
        },
        `the sentinels' master to have ${count} replica(s) in sync`,
        timeoutMs,
      );
      return master!;
    },
    async stop() {
      await Promise.all([...servers, ...watchers].map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await group.settled(replicas);
  } catch (err) {
    await group.stop();
    throw err;
  }
  return group;
}
