import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { HubConfig } from '../../config/config.js';
import { RedisKeys } from './redis-keys.js';
import { SCRIPTS, ScriptedCommands } from './redis-scripts.js';
import { RedisClient, redisTopology, RedisTopology } from './redis-topology.js';

/** Reconnect quickly, forever: an outage ends when Redis is back, without a restart. */
const retryStrategy = (attempt: number) => Math.min(attempt * 100, 1000);

/**
 * The hub's Redis connections, one per job: commands, subscriptions (a
 * connection in subscriber mode can run nothing else), blocking ingress
 * reads (which would hold up every command queued behind them), and, when
 * appends wait for replicas, appends (their WAIT blocks its connection too).
 */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  readonly keys: RedisKeys;
  readonly topology: RedisTopology;
  readonly commands: RedisClient;
  /** The command connection, with the hub's scripts as methods. */
  readonly scripts: ScriptedCommands;
  /** Where events are appended: the command connection, or one of their own when they wait for replicas. */
  readonly appends: RedisClient;
  /** `appends`, with the hub's scripts as methods. */
  readonly appendScripts: ScriptedCommands;
  readonly subscriber: RedisClient;
  readonly blocking: RedisClient;
  /**
   * The fan-out channel, when this instance follows it (REDIS_FANOUT_CHANNEL_MIN
   * above 0, one node). In a cluster a call of the append script serves one
   * slot, and the channel would be outside it.
   */
  readonly fanoutChannel?: string;

  constructor(config: HubConfig) {
    this.keys = new RedisKeys(config.redisPrefix);
    this.topology = redisTopology(config);
    if (this.topology.oneSlot && config.redisFanoutChannelMin > 0) this.fanoutChannel = this.keys.fanout;
    // Commands fail at once while Redis is away, rather than queueing: a
    // publisher gets a 503 instead of waiting, and nothing is accepted that
    // is not stored. A write refused as READONLY means the node was demoted
    // under a connection (a failover behind a DNS name or a proxy): it
    // reconnects, to whichever node is master now.
    const base: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy,
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
    };
    const make = (name: string, options: RedisOptions, clusterOptions: ClusterOptions = {}): RedisClient => {
      const client = this.topology.connect(
        { ...base, ...options, connectionName: `herald-${name}` },
        { clusterRetryStrategy: retryStrategy, ...clusterOptions },
      );
      this.watch(name, client);
      return client;
    };
    // In a cluster, auto-pipelining groups commands by the slot of their first
    // argument, which for a script is its key count: scripts for different
    // shards would share a pipeline, and ioredis refuses it.
    const scripted = (name: string) => {
      const client = make(name, { enableAutoPipelining: true }, { enableAutoPipelining: true, autoPipeliningIgnoredCommands: Object.keys(SCRIPTS) });
      for (const [script, lua] of Object.entries(SCRIPTS)) client.defineCommand(script, { lua });
      return client;
    };
    this.commands = scripted('commands');
    this.scripts = this.commands as unknown as ScriptedCommands;
    this.appends = config.redisWaitReplicas > 0 ? scripted('appends') : this.commands;
    this.appendScripts = this.appends as unknown as ScriptedCommands;
    this.subscriber = make('subscriber', { autoResubscribe: false }, { shardedSubscribers: true });
    this.blocking = make('ingress', { maxRetriesPerRequest: 0 });
  }

  /** Logs each outage once when it starts and once when it ends, not every reconnect attempt. */
  private watch(name: string, client: RedisClient): void {
    let down = false;
    client.on('error', (err: Error) => {
      if (down) return;
      down = true;
      this.logger.warn(`${name} connection lost: ${err.message}; reconnecting`);
    });
    client.on('ready', () => {
      if (!down) return;
      down = false;
      this.logger.log(`${name} connection is back`);
    });
  }

  get ready(): boolean {
    return [this.commands, this.subscriber, this.appends].every((client) => client.status === 'ready');
  }

  /** Last of all shutdown steps: every module's own destroy hook may still use Redis (releases, unsubscribes). */
  onApplicationShutdown(): void {
    for (const client of new Set([this.blocking, this.subscriber, this.appends, this.commands])) client.disconnect();
  }
}
