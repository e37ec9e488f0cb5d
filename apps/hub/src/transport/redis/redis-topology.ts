import { Cluster, ClusterOptions, Command, Redis, RedisOptions } from 'ioredis';
import type { HubConfig, RedisSentinelConfig } from '../../config/config.js';

export type RedisClient = Redis | Cluster;

/**
 * Every difference between a standalone Redis, one reached through Sentinel
 * and a Redis Cluster, in one place. A cluster keeps each user's keys and
 * channel in the slot of the user's hash tag, so one script serves one user,
 * and pub/sub is sharded (SPUBLISH/SSUBSCRIBE) so a message only travels to
 * the shard of its slot. Through Sentinel, Redis is a standalone one whose
 * address the sentinels give, again after every failover.
 */
export interface RedisTopology {
  readonly cluster: boolean;
  /** The command the append script publishes with. */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** The subscriber's event for a message. */
  readonly messageEvent: 'message' | 'smessage';
  /** Subscriber events after which live messages may have been lost. */
  readonly subscriptionLost: readonly string[];
  /** Subscriber events after which subscriptions are back. */
  readonly subscriptionBack: readonly string[];
  /** Whether one script may touch several sources' keys and the ingress stream together. */
  readonly oneSlot: boolean;
  /** A connection to the deployment (its addresses are the topology's own). */
  connect(options: RedisOptions, clusterOptions: ClusterOptions): RedisClient;
  subscribe(subscriber: Redis, channels: string[]): Promise<unknown>;
  unsubscribe(subscriber: Redis, channel: string): Promise<unknown>;
  /** The sources in the groups one script call may serve. */
  scriptGroups(sources: readonly string[]): (readonly string[])[];
  /** The connection of `client` to the master that serves `key` now; undefined when none is known (yet). */
  nodeOf(client: RedisClient, key: string): Redis | undefined;
}

/** One node, plain pub/sub: a standalone Redis, and one reached through Sentinel. */
const oneNode: Omit<RedisTopology, 'connect'> = {
  cluster: false,
  publishCommand: 'PUBLISH',
  messageEvent: 'message',
  subscriptionLost: ['close'],
  subscriptionBack: ['ready'],
  oneSlot: true,
  subscribe: (subscriber, channels) => subscriber.subscribe(...channels),
  unsubscribe: (subscriber, channel) => subscriber.unsubscribe(channel),
  scriptGroups: (sources) => [sources],
  nodeOf: (client) => client as Redis,
};

const standalone = (url: string): RedisTopology => ({ ...oneNode, connect: (options) => new Redis(url, options) });

/**
 * Every connection asks the sentinels for the master each time it connects.
 * A master that dies closes them; one that is demoted alive (a failover the
 * sentinels decided while it was unreachable, a manual one) would keep them,
 * subscriptions included, so each also listens for the sentinels'
 * +switch-master and reconnects then (ioredis' failoverDetector).
 */
const sentinel = ({ sentinels, master, sentinelPassword, username, password }: RedisSentinelConfig): RedisTopology => ({
  ...oneNode,
  connect: (options) =>
    new Redis({
      ...options,
      sentinels: sentinels.map(({ host, port }) => ({ host, port })),
      name: master,
      sentinelPassword,
      username,
      password,
      failoverDetector: true,
    }),
});

const cluster = (urls: string[]): RedisTopology => ({
  cluster: true,
  publishCommand: 'SPUBLISH',
  messageEvent: 'smessage',
  // ioredis replaces a lost shard subscriber and resubscribes by itself, then says 'subscribersReady'.
  subscriptionLost: ['close', '-node', '-subscriber'],
  subscriptionBack: ['ready', 'subscribersReady'],
  oneSlot: false,
  connect: (options, clusterOptions) => new Cluster(urls, { redisOptions: options, enableOfflineQueue: false, ...clusterOptions }),
  // Each channel is subscribed on the shard of its slot.
  subscribe: (subscriber, channels) => Promise.all(channels.map((c) => subscriber.ssubscribe(c))),
  unsubscribe: (subscriber, channel) => subscriber.sunsubscribe(channel),
  scriptGroups: (sources) => sources.map((s) => [s]),
  nodeOf: (client, key) => {
    const cluster = client as Cluster;
    const owner = cluster.slots[keySlot(key)]?.[0];
    const node = cluster.nodes('master').find(({ options }) => `${options.host}:${options.port}` === owner);
    // The slot's master is gone (a failover): only a command sent there
    // would have ioredis learn the new one, and none is sent without it.
    if (!node) cluster.refreshSlotsCache();
    return node;
  },
});

/**
 * The cluster slot of a key (of its hash tag, `{…}`, if it has one), as
 * ioredis routes a command on it: its own calculation, not a second copy.
 */
export function keySlot(key: string): number {
  return new Command('exists', [key]).getSlot();
}

export function redisTopology(config: HubConfig): RedisTopology {
  if (config.redisSentinel) return sentinel(config.redisSentinel);
  const urls = config.redisUrl!.split(',').map((u) => u.trim());
  return config.redisCluster ? cluster(urls) : standalone(urls[0]);
}
