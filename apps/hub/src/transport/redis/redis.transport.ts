import { HttpStatus, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { HubConfig } from '../../config/config.js';
import { UnavailableError } from '../../errors/errors.js';
import type { PreparedEvent } from '../../events/stream-message.js';
import type { Replay } from '../replay.js';
import { Instance } from '../../lifecycle/instance.js';
import { DeliverySink, PublishOptions, TopicsChange, TopicsChangeAnswer, Transport } from '../transport.js';
import { INGRESS_GROUP } from './redis-ingress.source.js';
import { parseFanout, parsePublished, RedisReplayLog } from './redis-replay-log.js';
import { RedisConnections } from './redis.connections.js';
import { ReplicasBehindError } from './redis-replicas.js';

/** How long a dedupe key is remembered: retries come within seconds of a crash. */
const DEDUPE_WINDOW_MS = 10 * 60_000;
/** An ingress entry may be claimed again after this many idle times (a slow consumer); its marker must outlive that. */
const INGRESS_RECLAIMS = 4;
/** Sources subscribed, or caught up, at once after a reconnect. */
const RECOVERY_BATCH = 200;
/** How long a change of topics waits for the instance holding the stream. */
const FORWARD_TIMEOUT_MS = 3000;

/** What travels on an instance's control channel: a change of topics, or the answer to one. */
type ControlMessage =
  | { requestId: string; replyTo: string; change: TopicsChange }
  | { requestId: string; answer: TopicsChangeAnswer };

/**
 * Fan-out between instances through Redis. Each source (a user, a topic) has
 * a channel, and an instance subscribes to the channels of the sources its
 * streams follow, so its traffic grows with its own streams, not with the
 * cluster's. In a Redis Cluster the channels are sharded
 * (SSUBSCRIBE/SPUBLISH) and live in the slot of the source's log.
 *
 * On one node, an event to many recipients (REDIS_FANOUT_CHANNEL_MIN)
 * travels instead as one message on a fan-out channel every instance
 * follows, naming each recipient and its id: each instance takes the names
 * it has streams of. Such an event reaches most instances anyway, and one
 * message costs Redis and each instance far less than one per recipient.
 * Both channels come on one connection, so a source's events arrive in the
 * order they were stored, whichever channel each took. The channel is used
 * only while every live instance follows it: one that does not
 * (REDIS_FANOUT_CHANNEL_MIN=0, a version before it) is missing from the
 * followers the instances' beats keep, and the append script sees it.
 */
@Injectable()
export class RedisTransport extends Transport implements OnModuleInit {
  private readonly logger = new Logger(RedisTransport.name);
  private sink?: DeliverySink;
  /** Sources followed by streams here, and when their channel subscription is confirmed. */
  private readonly watched = new Map<string, Promise<void>>();
  private readonly subscriber: Redis;
  /** This instance's control channel. */
  private readonly control: string;
  /** The fan-out channel, when this instance follows it. */
  private readonly fanout?: string;
  /** The channels followed whatever the streams: control and fan-out; and when their subscription is confirmed. */
  private readonly own: string[];
  private ownSubscribed: Promise<void> = Promise.resolve();
  /** Changes forwarded to other instances, by request id, waiting for their answer. */
  private readonly awaiting = new Map<string, (answer: TopicsChangeAnswer) => void>();
  /** The recovery running, and whether subscriptions came back (again) since it began. */
  private recovering: Promise<void> | null = null;
  private recoverAgain = false;

  constructor(
    private readonly redis: RedisConnections,
    private readonly log: RedisReplayLog,
    private readonly config: HubConfig,
    instance: Instance,
  ) {
    super();
    // Redis and Cluster share the (s)subscribe API used here.
    this.subscriber = redis.subscriber as Redis;
    this.control = redis.keys.control(instance.id);
    this.fanout = redis.fanoutChannel;
    this.own = this.fanout ? [this.control, this.fanout] : [this.control];
  }

  onModuleInit(): void {
    const onMessage = (channel: string, payload: string) => {
      if (channel === this.fanout) return this.onFanout(payload);
      if (channel === this.control) return this.onControl(payload);
      const source = this.redis.keys.sourceOfChannel(channel);
      this.sink?.deliver(source, parsePublished(payload, source));
    };
    const { topology } = this.redis;
    this.subscriber.on(topology.messageEvent, onMessage);
    // Live events may be lost from the moment a subscription connection drops:
    // hold live delivery at once, and catch up from the log once subscribed again.
    for (const event of topology.subscriptionLost) this.subscriber.on(event, () => this.sink?.suspendAll());
    for (const event of topology.subscriptionBack) this.subscriber.on(event, () => this.recoverSoon());
    this.ownSubscribed = this.subscribe(this.own);
  }

  /**
   * One script per group of sources that share a slot. An ingress entry is
   * acknowledged in that same script where one slot holds everything (a
   * standalone Redis); in a cluster each group is marked done under the
   * entry's dedupe key (so that a retry skips it) and the entry is
   * acknowledged last.
   */
  async publish(event: PreparedEvent, sources: readonly string[], options: PublishOptions = {}): Promise<void> {
    const { dedupeKey, dedupeWindowMs = DEDUPE_WINDOW_MS, receipt } = options;
    try {
      const groups = this.redis.topology.scriptGroups(sources);
      if (receipt && this.redis.topology.oneSlot) {
        const ack = { group: INGRESS_GROUP, consumer: receipt.consumer, entryId: receipt.entryId };
        await this.log.append(event, sources, { ack });
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
      if (err instanceof ReplicasBehindError) {
        throw new UnavailableError(
          `the event store (Redis) could not confirm the event on its replicas: ${err.message}; it may have been stored, so retry with the same Idempotency-Key`,
          1,
        );
      }
      throw new UnavailableError(`the event store (Redis) is unavailable: ${(err as Error).message}`, 1);
    }
  }

  /**
   * Waits for the source's channel subscription first (and the fan-out
   * channel's, which may carry the source's events): an event stored after
   * the read is then certain to arrive live, and one stored before it is in
   * the read. The stream drops the ids it gets twice.
   */
  async replay(source: string, afterId: string | null): Promise<Replay> {
    await this.ownSubscribed;
    await this.watched.get(source);
    return this.log.read(source, afterId);
  }

  connect(sink: DeliverySink): void {
    this.sink = sink;
  }

  watch(source: string): void {
    this.watched.set(source, this.subscribe([this.redis.keys.channel(source)]));
  }

  unwatch(source: string): void {
    this.watched.delete(source);
    if (this.subscriber.status !== 'ready') return;
    this.redis.topology.unsubscribe(this.subscriber, this.redis.keys.channel(source)).catch(() => undefined);
  }

  isReady(): boolean {
    return this.redis.ready;
  }

  /**
   * Publishes the change on the holding instance's control channel and waits
   * for its answer there, on this instance's own.
   */
  async forwardTopicsChange(instanceId: string, change: TopicsChange): Promise<TopicsChangeAnswer | null> {
    const requestId = randomUUID();
    const answered = new Promise<TopicsChangeAnswer>((resolve) => {
      const timer = setTimeout(() => {
        this.awaiting.delete(requestId);
        resolve({ status: HttpStatus.SERVICE_UNAVAILABLE, message: 'the instance holding the stream did not answer in time' });
      }, FORWARD_TIMEOUT_MS);
      this.awaiting.set(requestId, (answer) => {
        clearTimeout(timer);
        this.awaiting.delete(requestId);
        resolve(answer);
      });
    });
    const message: ControlMessage = { requestId, replyTo: this.control, change };
    let listeners: number;
    try {
      listeners = await this.sendControl(this.redis.keys.control(instanceId), message);
    } catch (err) {
      this.awaiting.get(requestId)?.({ status: HttpStatus.SERVICE_UNAVAILABLE, message: `Redis is unavailable: ${(err as Error).message}` });
      return answered;
    }
    if (listeners > 0) return answered;
    // No such instance (gone, or never was): nothing will answer.
    this.awaiting.get(requestId)?.({ status: HttpStatus.NOT_FOUND });
    return null;
  }

  private sendControl(channel: string, message: ControlMessage): Promise<number> {
    return this.redis.commands.call(this.redis.topology.publishCommand, channel, JSON.stringify(message)) as Promise<number>;
  }

  private onFanout(payload: string): void {
    const sink = this.sink;
    if (!sink) return;
    parseFanout(payload, (source) => this.watched.has(source), (source, message) => sink.deliver(source, message));
  }

  private onControl(payload: string): void {
    let message: ControlMessage;
    try {
      message = JSON.parse(payload) as ControlMessage;
    } catch {
      return this.logger.warn(`ignored a control message that is not JSON: ${payload.slice(0, 100)}`);
    }
    if ('answer' in message) return this.awaiting.get(message.requestId)?.(message.answer);
    const { requestId, replyTo, change } = message;
    void this.sink!.changeTopics(change)
      .then((answer) => this.sendControl(replyTo, { requestId, answer }))
      .catch((err: Error) => this.logger.warn(`answering a change of topics failed: ${err.message}`));
  }

  /**
   * Resolves once subscribed. While Redis is away it resolves at once: the
   * read that follows fails, and recovery subscribes again.
   */
  private async subscribe(channels: string[]): Promise<void> {
    if (this.subscriber.status !== 'ready') return;
    try {
      await this.redis.topology.subscribe(this.subscriber, channels);
    } catch (err) {
      this.logger.warn(`subscribing to ${channels.length} channel(s) failed: ${(err as Error).message}`);
    }
  }

  /**
   * One recovery at a time: in a failover a cluster's subscribers come back
   * many times over within a second, and one more pass after the running one
   * serves them all.
   */
  private recoverSoon(): void {
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    this.recovering = this.recover().finally(() => {
      this.recovering = null;
      if (!this.recoverAgain) return;
      this.recoverAgain = false;
      this.recoverSoon();
    });
  }

  /**
   * After a subscription connection is back: subscribe again to every
   * watched source's channel (confirmed), then give each source's suspended
   * streams what they missed, from the log. Streams stay open throughout.
   */
  private async recover(): Promise<void> {
    const sources = [...this.watched.keys()];
    this.ownSubscribed = this.subscribe(this.own);
    await this.ownSubscribed;
    for (let i = 0; i < sources.length; i += RECOVERY_BATCH) {
      const batch = sources.slice(i, i + RECOVERY_BATCH);
      const subscribed = this.subscribe(batch.map((s) => this.redis.keys.channel(s)));
      for (const source of batch) this.watched.set(source, subscribed);
      await subscribed;
    }
    // The subscriber may be back before the command connection the log is
    // read on: catching up now would fail and end streams that can be kept.
    await this.commandsReady();
    let caughtUp = 0;
    let fenced = 0;
    for (let i = 0; i < sources.length; i += RECOVERY_BATCH) {
      const results = await Promise.all(sources.slice(i, i + RECOVERY_BATCH).map((s) => this.catchUp(s)));
      for (const result of results) {
        caughtUp += result.delivered;
        if (result.fenced) fenced++;
      }
    }
    if (fenced > 0) {
      this.logger.warn(`${fenced} source(s) lost events their streams had (a failover to a replica behind its master); those streams got a reset`);
    }
    if (caughtUp > 0 || sources.length > 0) {
      this.logger.log(`resubscribed ${sources.length} source(s); delivered ${caughtUp} event(s) missed meanwhile`);
    }
  }

  private commandsReady(): Promise<void> {
    const { commands } = this.redis;
    if (commands.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => commands.once('ready', () => resolve()));
  }

  /**
   * Reads what the source's suspended streams missed, from the oldest
   * position on. If the log lost the newest one (a failover that lost
   * acknowledged events), it is fenced first, so that the streams, and any
   * client that reconnects from before the loss, get a reset rather than a
   * silent gap.
   */
  private async catchUp(source: string): Promise<{ delivered: number; fenced: boolean }> {
    const positions = this.sink?.suspendedPositions(source);
    if (positions === undefined) return { delivered: 0, fenced: false };
    try {
      const fenced = await this.log.fence(source, positions.newest);
      const replay = await this.log.read(source, positions.oldest);
      this.sink!.resume(source, replay);
      return { delivered: replay.events?.length ?? 0, fenced };
    } catch (err) {
      this.logger.warn(`catching up ${source} failed (${(err as Error).message}); ending its streams to replay`);
      this.sink!.endStreams(source);
      return { delivered: 0, fenced: false };
    }
  }
}
