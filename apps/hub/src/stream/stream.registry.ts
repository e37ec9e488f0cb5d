import { HttpStatus, Injectable, OnModuleInit } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { HubConfig } from '../config/config.js';
import type { StreamMessage } from '../events/stream-message.js';
import { RetryLaterError, UnavailableError } from '../errors/errors.js';
import { compareEventIds } from '#herald/contracts/event-id';
import { DeliverySink, Transport } from '../transport/transport.js';
import { HubMetrics } from '../metrics/hub-metrics.js';
import type { Replay } from '../transport/replay.js';
import { Connection, RETRY_MS } from './connection.js';
import { ExpiryWheel } from './expiry-wheel.js';
import { StreamCounter } from '../transport/stream-counter.js';

/**
 * Every open stream on this instance, by user: each tab of a user is held, up
 * to the per-user cap. Node runs this on one thread, and each method but
 * `open` completes without yielding, so disconnects and deliveries cannot
 * interleave; `open` reserves its place before it waits.
 */
@Injectable()
export class StreamRegistry implements OnModuleInit, DeliverySink {
  /** A user's streams; almost always one or two, so an array beats a Set. */
  private readonly byUser = new Map<string, Connection[]>();
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
  }

  /**
   * Admits a stream and registers it before it sends anything, so no live
   * event can slip between its replay and its first live delivery. While the
   * cluster-wide count is asked, the stream is reserved here, so concurrent
   * opens of one user count each other.
   * @param expiresAt when the token expires, in wall-clock ms since the epoch.
   * @param response the stream's response, closed with the stream when the hub ends it.
   * @throws 429 past STREAMS_PER_USER_MAX, 503 when the instance is full.
   */
  async open(userId: string, expiresAt: number, response?: ServerResponse): Promise<Connection> {
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
    return this.add(userId, expiresAt, response);
  }

  private add(userId: string, expiresAt: number, response?: ServerResponse): Connection {
    const now = performance.now();
    const tokenExpiry = now + (expiresAt - Date.now());
    const connection = new Connection(userId, tokenExpiry, Math.min(tokenExpiry, now + this.maxAge()), response);
    const streams = this.byUser.get(userId);
    if (streams) streams.push(connection);
    else {
      this.byUser.set(userId, [connection]);
      this.transport.watch(userId);
    }
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

  /** Forgets a stream; safe to call more than once. */
  remove(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    this.count--;
    this.metrics.openStreams.dec();
    this.expiries.delete(connection);
    const streams = this.byUser.get(connection.userId)!;
    if (streams.length === 1) {
      this.byUser.delete(connection.userId);
      this.transport.unwatch(connection.userId);
    } else {
      streams.splice(streams.indexOf(connection), 1);
    }
    this.counter.release(connection.userId, this.streamsOf(connection.userId));
  }

  deliver(userId: string, message: StreamMessage): void {
    const streams = this.byUser.get(userId);
    if (!streams) return;
    for (const connection of streams) connection.deliver(message);
    this.metrics.eventDelivered(streams.length, Date.now() - message.createdAt);
  }

  suspendAll(): void {
    for (const streams of this.byUser.values()) for (const connection of streams) connection.suspend();
  }

  suspendedPosition(userId: string): string | undefined {
    let oldest: string | undefined;
    for (const connection of this.byUser.get(userId) ?? []) {
      if (connection.isSuspended && (oldest === undefined || compareEventIds(connection.lastId, oldest) < 0)) {
        oldest = connection.lastId;
      }
    }
    return oldest;
  }

  resume(userId: string, replay: Replay): void {
    for (const connection of this.byUser.get(userId) ?? []) connection.resume(replay);
  }

  endStreams(userId: string): void {
    for (const connection of [...(this.byUser.get(userId) ?? [])]) connection.end();
  }

  pingAll(): void {
    for (const streams of this.byUser.values()) for (const connection of streams) connection.ping();
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

  get userCount(): number {
    return this.byUser.size;
  }

  /** Streams waiting for their token to expire: must match `size` (a leak check). */
  get expiryCount(): number {
    return this.expiries.size;
  }
}
