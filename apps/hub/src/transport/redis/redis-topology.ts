import { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/**
 * Every difference between a standalone Redis and a Redis Cluster, in one
 * place. A cluster keeps each user's keys and channel in the slot of the
 * user's hash tag, so one script serves one user, and pub/sub is sharded
 * (SPUBLISH/SSUBSCRIBE) so a message only travels to the shard of its slot.
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
  connect(urls: string[], options: RedisOptions, clusterOptions: ClusterOptions): RedisClient;
  subscribe(subscriber: Redis, channels: string[]): Promise<unknown>;
  unsubscribe(subscriber: Redis, channel: string): Promise<unknown>;
  /** The sources in the groups one script call may serve. */
  scriptGroups(sources: readonly string[]): (readonly string[])[];
}

const standalone: RedisTopology = {
  cluster: false,
  publishCommand: 'PUBLISH',
  messageEvent: 'message',
  subscriptionLost: ['close'],
  subscriptionBack: ['ready'],
  oneSlot: true,
  connect: (urls, options) => new Redis(urls[0], options),
  subscribe: (subscriber, channels) => subscriber.subscribe(...channels),
  unsubscribe: (subscriber, channel) => subscriber.unsubscribe(channel),
  scriptGroups: (sources) => [sources],
};

const cluster: RedisTopology = {
  cluster: true,
  publishCommand: 'SPUBLISH',
  messageEvent: 'smessage',
  // ioredis replaces a lost shard subscriber and resubscribes by itself, then says 'subscribersReady'.
  subscriptionLost: ['close', '-node', '-subscriber'],
  subscriptionBack: ['ready', 'subscribersReady'],
  oneSlot: false,
  connect: (urls, options, clusterOptions) =>
    new Cluster(urls, { redisOptions: options, enableOfflineQueue: false, ...clusterOptions }),
  // Each channel is subscribed on the shard of its slot.
  subscribe: (subscriber, channels) => Promise.all(channels.map((c) => subscriber.ssubscribe(c))),
  unsubscribe: (subscriber, channel) => subscriber.sunsubscribe(channel),
  scriptGroups: (sources) => sources.map((s) => [s]),
};

export function redisTopology(isCluster: boolean): RedisTopology {
  return isCluster ? cluster : standalone;
}
