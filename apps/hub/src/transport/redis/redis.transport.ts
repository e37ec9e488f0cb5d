import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { HubConfig } from '../../config/config.js';
import { UnavailableError } from '../../errors/errors.js';
import type { PreparedEvent } from '../../events/stream-message.js';
import type { Replay } from '../replay.js';
import { DeliverySink, PublishOptions, Transport } from '../transport.js';
import { INGRESS_GROUP } from './redis-ingress.source.js';
import { parsePublished, RedisReplayLog } from './redis-replay-log.js';
import { RedisConnections } from './redis.connections.js';

/** How long a dedupe key is remembered: retries come within seconds of a crash. */
const DEDUPE_WINDOW_MS = 10 * 60_000;
/** An ingress entry may be claimed again after this many idle times (a slow consumer); its marker must outlive that. */
const INGRESS_RECLAIMS = 4;
/** Users subscribed, or caught up, at once after a reconnect. */
const RECOVERY_BATCH = 200;

/**
 * Fan-out between instances through Redis. Each user has a channel, and an
 * instance subscribes to the channels of the users it holds streams for, so
 * its traffic grows with its own users, not with the cluster's. In a Redis
 * Cluster the channels are sharded (SSUBSCRIBE/SPUBLISH) and live in the
 * slot of the user's log.
 */
@Injectable()
export class RedisTransport extends Transport implements OnModuleInit {
  private readonly logger = new Logger(RedisTransport.name);
  private sink?: DeliverySink;
  /** Users with streams here, and when their channel subscription is confirmed. */
  private readonly watched = new Map<string, Promise<void>>();
  private readonly subscriber: Redis;

  constructor(
    private readonly redis: RedisConnections,
    private readonly log: RedisReplayLog,
    private readonly config: HubConfig,
  ) {
    super();
    // Redis and Cluster share the (s)subscribe API used here.
    this.subscriber = redis.subscriber as Redis;
  }

  onModuleInit(): void {
    const onMessage = (channel: string, payload: string) =>
      this.sink?.deliver(this.redis.keys.userOfChannel(channel), parsePublished(payload));
    const { topology } = this.redis;
    this.subscriber.on(topology.messageEvent, onMessage);
    // Live events may be lost from the moment a subscription connection drops:
    // hold live delivery at once, and catch up from the log once subscribed again.
    for (const event of topology.subscriptionLost) this.subscriber.on(event, () => this.sink?.suspendAll());
    for (const event of topology.subscriptionBack) this.subscriber.on(event, () => void this.recover());
  }

  /**
   * One script per group of recipients that share a slot. An ingress entry is
   * acknowledged in that same script where one slot holds everything (a
   * standalone Redis); in a cluster each group is marked done under the
   * entry's dedupe key (so that a retry skips it) and the entry is
   * acknowledged last.
   */
  async publish(event: PreparedEvent, recipients: readonly string[], options: PublishOptions = {}): Promise<void> {
    const { dedupeKey, dedupeWindowMs = DEDUPE_WINDOW_MS, receipt } = options;
    try {
      const groups = this.redis.topology.scriptGroups(recipients);
      if (receipt && this.redis.topology.oneSlot) {
        const ack = { group: INGRESS_GROUP, consumer: receipt.consumer, entryId: receipt.entryId };
        await this.log.append(event, recipients, { ack });
        return;
      }
      const dedupe = receipt
        ? { key: `ingress:${receipt.entryId}`, windowMs: Math.max(DEDUPE_WINDOW_MS, INGRESS_RECLAIMS * this.config.ingressClaimIdleMs) }
        : dedupeKey
          ? { key: dedupeKey, windowMs: dedupeWindowMs }
          : undefined;
      await Promise.all(groups.map((group) => this.log.append(event, group, { dedupe })));
      await receipt?.ack();
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
    this.redis.topology.unsubscribe(this.subscriber, this.redis.keys.channel(userId)).catch(() => undefined);
  }

  isReady(): boolean {
    return this.redis.ready;
  }

  /**
   * Resolves once subscribed. While Redis is away it resolves at once: the
   * read that follows fails, and recovery subscribes again.
   */
  private async subscribe(userIds: string[]): Promise<void> {
    if (this.subscriber.status !== 'ready') return;
    const channels = userIds.map((u) => this.redis.keys.channel(u));
    try {
      await this.redis.topology.subscribe(this.subscriber, channels);
    } catch (err) {
      this.logger.warn(`subscribing to ${channels.length} channel(s) failed: ${(err as Error).message}`);
    }
  }

  /**
   * After a subscription connection is back: subscribe again to every
   * watched user's channel (confirmed), then give each user's suspended
   * streams what they missed, from the log. Streams stay open throughout.
   */
  private async recover(): Promise<void> {
    const users = [...this.watched.keys()];
    for (let i = 0; i < users.length; i += RECOVERY_BATCH) {
      const batch = users.slice(i, i + RECOVERY_BATCH);
      const subscribed = this.subscribe(batch);
      for (const userId of batch) this.watched.set(userId, subscribed);
      await subscribed;
    }
    // The subscriber may be back before the command connection the log is
    // read on: catching up now would fail and end streams that can be kept.
    await this.commandsReady();
    let caughtUp = 0;
    for (let i = 0; i < users.length; i += RECOVERY_BATCH) {
      const counts = await Promise.all(users.slice(i, i + RECOVERY_BATCH).map((u) => this.catchUp(u)));
      caughtUp += counts.reduce((a, b) => a + b, 0);
    }
    if (caughtUp > 0 || users.length > 0) {
      this.logger.log(`resubscribed ${users.length} user(s); delivered ${caughtUp} event(s) missed meanwhile`);
    }
  }

  private commandsReady(): Promise<void> {
    const { commands } = this.redis;
    if (commands.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => commands.once('ready', () => resolve()));
  }

  private async catchUp(userId: string): Promise<number> {
    const position = this.sink?.suspendedPosition(userId);
    if (position === undefined) return 0;
    try {
      const replay = await this.log.read(userId, position);
      this.sink!.resume(userId, replay);
      return replay.events?.length ?? 0;
    } catch (err) {
      this.logger.warn(`catching up ${userId} failed (${(err as Error).message}); ending its streams to replay`);
      this.sink!.endStreams(userId);
      return 0;
    }
  }
}
