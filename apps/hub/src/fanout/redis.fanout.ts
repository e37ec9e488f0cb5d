import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { UnavailableError } from '../errors/errors.js';
import type { PreparedEvent } from '../events/stream-message.js';
import { RedisConnections } from '../redis/redis.connections.js';
import { parsePublished, RedisReplayLog } from '../replay/redis-replay-log.js';
import type { Replay } from '../replay/replay.js';
import { DeliverySink, Fanout } from './fanout.js';

/** Channels per (re)subscribe command after a reconnect. */
const RESUBSCRIBE_BATCH = 500;

/**
 * Fan-out between instances through Redis. Each user has a channel, and an
 * instance subscribes to the channels of the users it holds streams for, so
 * its traffic grows with its own users, not with the cluster's. In a Redis
 * Cluster the channels are sharded (SSUBSCRIBE/SPUBLISH) and live in the
 * slot of the user's log.
 */
@Injectable()
export class RedisFanout extends Fanout implements OnModuleInit {
  private readonly logger = new Logger(RedisFanout.name);
  private sink?: DeliverySink;
  /** Users with streams here, and when their channel subscription is confirmed. */
  private readonly watched = new Map<string, Promise<void>>();
  private readonly subscriber: Redis;
  private connectedOnce = false;

  constructor(
    private readonly redis: RedisConnections,
    private readonly log: RedisReplayLog,
  ) {
    super();
    // Redis and Cluster share the (s)subscribe API used here.
    this.subscriber = redis.subscriber as Redis;
  }

  onModuleInit(): void {
    const onMessage = (channel: string, payload: string) =>
      this.sink?.deliver(this.redis.keys.userOfChannel(channel), parsePublished(payload));
    this.subscriber.on(this.redis.cluster ? 'smessage' : 'message', onMessage);
    (this.redis.subscriber as Cluster).on('ready', () => void this.resubscribe());
  }

  async publish(event: PreparedEvent, recipients: readonly string[]): Promise<void> {
    try {
      if (this.redis.cluster) await Promise.all(recipients.map((r) => this.log.append(event, [r])));
      else await this.log.append(event, recipients);
    } catch (err) {
      throw new UnavailableError(`the event store (Redis) is unavailable: ${(err as Error).message}`, 1);
    }
  }

  /**
   * Waits for the user's channel subscription first: an event stored after
   * the read is then certain to arrive live, and one stored before it is in
   * the read. The stream drops the ids it gets twice.
   */
  async replay(userId: string, afterId: string | null): Promise<Replay> {
    await this.watched.get(userId);
    return this.log.read(userId, afterId);
  }

  connect(sink: DeliverySink): void {
    this.sink = sink;
  }

  watch(userId: string): void {
    this.watched.set(userId, this.subscribe([userId]));
  }

  unwatch(userId: string): void {
    this.watched.delete(userId);
    if (this.subscriber.status !== 'ready') return;
    const channel = this.redis.keys.channel(userId);
    const done = this.redis.cluster ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel);
    done.catch(() => undefined);
  }

  isReady(): boolean {
    return this.redis.ready;
  }

  /**
   * Resolves once subscribed. While Redis is away it resolves at once: the
   * read that follows fails, and the 'ready' handler subscribes again.
   */
  private async subscribe(userIds: string[]): Promise<void> {
    if (this.subscriber.status !== 'ready') return;
    const channels = userIds.map((u) => this.redis.keys.channel(u));
    try {
      if (this.redis.cluster) await this.subscriber.ssubscribe(...channels);
      else await this.subscriber.subscribe(...channels);
    } catch (err) {
      this.logger.warn(`subscribing to ${channels.length} channel(s) failed: ${(err as Error).message}`);
    }
  }

  /**
   * After Redis comes back: subscribe again to every watched user's channel,
   * then deliver what each user's streams missed while the subscription was
   * down. Open streams carry on with nothing lost and no reconnect.
   */
  private async resubscribe(): Promise<void> {
    const users = [...this.watched.keys()];
    for (let i = 0; i < users.length; i += RESUBSCRIBE_BATCH) {
      const batch = users.slice(i, i + RESUBSCRIBE_BATCH);
      const subscribed = this.subscribe(batch);
      for (const userId of batch) this.watched.set(userId, subscribed);
      await subscribed;
    }
    if (!this.connectedOnce) {
      this.connectedOnce = true;
      return;
    }
    let caughtUp = 0;
    for (const userId of users) {
      const position = this.sink?.position(userId);
      if (position === undefined || !this.watched.has(userId)) continue;
      try {
        const { events } = await this.log.read(userId, position);
        for (const message of events ?? []) this.sink!.deliver(userId, message);
        caughtUp += events?.length ?? 0;
      } catch (err) {
        this.logger.warn(`catching up ${userId} after reconnecting failed: ${(err as Error).message}`);
      }
    }
    this.logger.log(`resubscribed ${users.length} user(s); delivered ${caughtUp} event(s) missed meanwhile`);
  }
}
