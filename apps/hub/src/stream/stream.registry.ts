import { HttpStatus, Injectable, OnModuleInit } from '@nestjs/common';
import { HubConfig } from '../config/config.js';
import type { StreamMessage } from '../events/stream-message.js';
import { RetryLaterError, UnavailableError } from '../errors/errors.js';
import { compareEventIds } from '#herald/contracts/event-id';
import { topicOfSource } from '#herald/contracts/topic';
import { DeliverySink, TopicsChange, TopicsChangeAnswer, Transport } from '../transport/transport.js';
import { HubMetrics } from '../metrics/hub-metrics.js';
import type { Replay } from '../transport/replay.js';
import { Connection, RETRY_MS } from './connection.js';
import { ExpiryWheel } from './expiry-wheel.js';
import { StreamCounter } from '../transport/stream-counter.js';

/**
 * Every open stream on this instance, by user and by topic followed: each
 * tab of a user is held, up to the per-user cap. Node runs this on one
 * thread, and each method but `open` and `changeTopics` completes without
 * yielding, so disconnects and deliveries cannot interleave; `open` reserves
 * its place before it waits, `changeTopics` holds the stream's live events.
 */
export interface NewStream {
  /** Its connection id, unique across instances. */
  readonly id: string;
  readonly userId: string;
  /** The topic sources it follows from the start. */
  readonly topics: readonly string[];
  /** When its token expires, in wall-clock ms since the epoch. */
  readonly expiresAt: number;
}

@Injectable()
export class StreamRegistry implements OnModuleInit, DeliverySink {
  /** A user's streams; almost always one or two, so an array beats a Set. */
  private readonly byUser = new Map<string, Connection[]>();
  /** The streams following a topic, by its source. */
  private readonly byTopic = new Map<string, Connection[]>();
  /** Streams by connection id, for changes of topics. */
  private readonly byId = new Map<string, Connection>();
  /** Streams by deadline, on the monotonic clock: a wall-clock step (NTP) must neither skip nor hasten one. */
  private readonly expiries = new ExpiryWheel<Connection>(performance.now());
  /** Streams of a user being admitted (waiting for the cluster-wide count). */
  private readonly admitting = new Map<string, number>();
  private count = 0;

  constructor(
    private readonly transport: Transport,
    private readonly counter: StreamCounter,
    private readonly config: HubConfig,
    private readonly metrics: HubMetrics,
  ) {}

  onModuleInit(): void {
    this.transport.connect(this);
    this.metrics.observeStreams(this);
  }

  /**
   * Admits a stream and registers it before it sends anything, so no live
   * event can slip between its replay and its first live delivery. While the
   * cluster-wide count is asked, the stream is reserved here, so concurrent
   * opens of one user count each other.
   * @throws 429 past STREAMS_PER_USER_MAX, 503 when the instance is full.
   */
  async open(stream: NewStream): Promise<Connection> {
    const { userId } = stream;
    if (this.count >= this.config.streamsMax) {
      throw new UnavailableError('this instance holds as many streams as it may (STREAMS_MAX)', 5);
    }
    this.count++;
    const admitting = (this.admitting.get(userId) ?? 0) + 1;
    this.admitting.set(userId, admitting);
    let admitted: boolean;
    try {
      admitted = await this.counter.acquire(userId, this.streamsOf(userId));
    } catch (err) {
      throw new UnavailableError(`cannot count the user's streams now (${(err as Error).message})`, 3);
    } finally {
      this.count--;
      const left = this.admitting.get(userId)! - 1;
      if (left === 0) this.admitting.delete(userId);
      else this.admitting.set(userId, left);
    }
    if (!admitted) {
      // Retry as EventSource would: a place frees when one of the user's streams closes.
      throw new RetryLaterError(
        HttpStatus.TOO_MANY_REQUESTS,
        `user already has ${this.config.streamsPerUserMax} open streams (STREAMS_PER_USER_MAX)`,
        RETRY_MS / 1000,
      );
    }
    return this.add(stream);
  }

  private add({ id, userId, topics, expiresAt }: NewStream): Connection {
    const now = performance.now();
    const tokenExpiry = now + (expiresAt - Date.now());
    const connection = new Connection(id, userId, tokenExpiry, Math.min(tokenExpiry, now + this.maxAge()));
    this.register(this.byUser, userId, connection);
    for (const topic of topics) this.register(this.byTopic, topic, connection);
    this.byId.set(id, connection);
    this.expiries.add(connection);
    this.count++;
    this.metrics.openStreams.inc();
    return connection;
  }

  /**
   * How long a new stream may stay open: STREAM_MAX_AGE_MS, ± 20 % at random,
   * so that streams opened together (after a restart, a reconnect storm) do
   * not all end together. Ending old streams is what moves load onto
   * instances added since: their clients reconnect through the balancer.
   */
  private maxAge(): number {
    const age = this.config.streamMaxAgeMs;
    return age === 0 ? Infinity : age * (0.8 + 0.4 * Math.random());
  }

  /** The user's streams here, with those being admitted. */
  private streamsOf(userId: string): number {
    return (this.byUser.get(userId)?.length ?? 0) + (this.admitting.get(userId) ?? 0);
  }

  /** Registers a stream under a source; the first one here has the transport watch it. */
  private register(streams: Map<string, Connection[]>, source: string, connection: Connection): void {
    const list = streams.get(source);
    if (list) list.push(connection);
    else {
      streams.set(source, [connection]);
      this.transport.watch(source);
    }
  }

  private deregister(streams: Map<string, Connection[]>, source: string, connection: Connection): void {
    const list = streams.get(source);
    if (!list) return;
    if (list.length === 1 && list[0] === connection) {
      streams.delete(source);
      this.transport.unwatch(source);
    } else {
      const at = list.indexOf(connection);
      if (at !== -1) list.splice(at, 1);
    }
  }

  /** Forgets a stream; safe to call more than once. */
  remove(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    this.count--;
    this.metrics.openStreams.dec();
    this.expiries.delete(connection);
    this.byId.delete(connection.id);
    this.deregister(this.byUser, connection.userId, connection);
    for (const topic of connection.followedTopics) this.deregister(this.byTopic, topic, connection);
    this.counter.release(connection.userId, this.streamsOf(connection.userId));
  }

  /**
   * Makes one of the user's live streams here follow exactly the change's
   * topics: those dropped stop at once; those added start at their head,
   * read after the transport watches them, with the stream's live events
   * held meanwhile. The client then gets a `topics` frame whose id carries
   * every position. A head that cannot be read ends the stream, and its
   * client reconnects with the topics of its URL.
   */
  async changeTopics({ connectionId, userId, topics }: TopicsChange): Promise<TopicsChangeAnswer> {
    const connection = this.byId.get(connectionId);
    // Another user's stream is answered as if it did not exist.
    if (!connection || connection.userId !== userId) {
      return { status: HttpStatus.NOT_FOUND, message: `no open stream ${connectionId} of this user` };
    }
    if (!connection.isLive) {
      return { status: HttpStatus.CONFLICT, message: 'the stream is starting or catching up; retry shortly' };
    }
    try {
      await this.follow(connection, topics);
      return { status: HttpStatus.OK };
    } catch (err) {
      connection.end();
      return {
        status: HttpStatus.SERVICE_UNAVAILABLE,
        message: `cannot read the topics' positions (${(err as Error).message}); the stream was ended to reconnect`,
      };
    }
  }

  private async follow(connection: Connection, topics: readonly string[]): Promise<void> {
    const current = connection.followedTopics;
    const wanted = new Set(topics);
    const added = [...wanted].filter((topic) => !current.includes(topic));
    for (const topic of current) {
      if (wanted.has(topic)) continue;
      this.deregister(this.byTopic, topic, connection);
      connection.unfollow(topic);
    }
    if (added.length === 0) return connection.announceTopics();
    connection.follow(added);
    for (const topic of added) this.register(this.byTopic, topic, connection);
    const replays = await Promise.all(added.map((topic) => this.transport.replay(topic, null)));
    added.forEach((topic, i) => connection.followed(topic, replays[i].head));
  }

  /**
   * Backwards: a delivery may drop its own stream (a client that stopped
   * reading), which takes it out of this list; going forwards, the stream
   * after it would be skipped and miss the event for good.
   */
  deliver(source: string, message: StreamMessage): void {
    const streams = this.streamsFollowing(source);
    if (!streams) return;
    const count = streams.length;
    for (let i = count - 1; i >= 0; i--) streams[i]?.deliver(source, message);
    this.metrics.eventDelivered(count, Date.now() - message.createdAt);
  }

  private streamsFollowing(source: string): Connection[] | undefined {
    return topicOfSource(source) === undefined ? this.byUser.get(source) : this.byTopic.get(source);
  }

  /** Over a copy: suspending a stream that has not started ends it, which takes it out of its list. */
  suspendAll(): void {
    for (const streams of [...this.byUser.values()]) for (const connection of [...streams]) connection.suspend();
  }

  suspendedPositions(source: string): { oldest: string; newest: string } | undefined {
    let range: { oldest: string; newest: string } | undefined;
    for (const connection of this.streamsFollowing(source) ?? []) {
      const position = connection.isSuspended ? connection.position(source) : undefined;
      if (position === undefined) continue;
      if (!range) range = { oldest: position, newest: position };
      else if (compareEventIds(position, range.oldest) < 0) range.oldest = position;
      else if (compareEventIds(position, range.newest) > 0) range.newest = position;
    }
    return range;
  }

  resume(source: string, replay: Replay): void {
    for (const connection of [...(this.streamsFollowing(source) ?? [])]) connection.resume(source, replay);
  }

  endStreams(source: string): void {
    for (const connection of [...(this.streamsFollowing(source) ?? [])]) connection.end();
  }

  /** Over a copy: a ping may drop a stream that stopped reading, which takes it out of its list. */
  pingAll(): void {
    for (const streams of [...this.byUser.values()]) for (const connection of [...streams]) connection.ping();
  }

  /** Ends the streams whose token expired or that reached their maximum age. @param now `performance.now()`. */
  endDue(now: number): void {
    for (const connection of this.expiries.takeDue(now)) connection.due(now);
  }

  /** Ends up to `count` streams (draining on shutdown); their clients reconnect elsewhere and replay. */
  endSome(count: number): void {
    const chosen: Connection[] = [];
    for (const streams of this.byUser.values()) {
      for (const connection of streams) {
        if (chosen.length === count) break;
        chosen.push(connection);
      }
    }
    for (const connection of chosen) connection.end();
  }

  get size(): number {
    return this.count;
  }

  /** Users with at least one stream here. */
  get userCount(): number {
    return this.byUser.size;
  }

  /** Topics followed by at least one stream here. */
  get topicCount(): number {
    return this.byTopic.size;
  }

  /** The `limit` topics with the most streams here, most first: [topic, streams]. */
  busiestTopics(limit: number): [string, number][] {
    const counts: [string, number][] = [];
    for (const [source, streams] of this.byTopic) counts.push([topicOfSource(source)!, streams.length]);
    return counts.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit);
  }

  /** Streams waiting for their token to expire: must match `size` (a leak check). */
  get expiryCount(): number {
    return this.expiries.size;
  }
}
