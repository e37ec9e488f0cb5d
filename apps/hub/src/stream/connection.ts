import type { MessageEvent } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { Subscriber } from 'rxjs';
import { compareEventIds, START_ID } from '#herald/contracts/event-id';
import type { StreamMessage } from '../events/stream-message.js';
import type { Replay } from '../transport/replay.js';

/** How long a client waits before reconnecting, sent with `ready`. */
export const RETRY_MS = 3000;
const PING: MessageEvent = Object.freeze({ comment: 'ping' });
/** The `reason` in the data of a `reset` and of an `expired` event. */
export const RESET_REASON = 'replay-window-exceeded';
export const EXPIRED_REASON = 'token-expired';
const RESET_DATA = JSON.stringify({ reason: RESET_REASON });
const EXPIRED_DATA = JSON.stringify({ reason: EXPIRED_REASON });

/**
 * One open stream. Kept small on purpose, as an instance holds many of them:
 * the user, its deadlines, the last id sent, the Nest subscriber the frames
 * go to, and the response (to close its connection when the hub ends it).
 */
export class Connection {
  /** The id of the last frame sent: what the client will send as Last-Event-ID. */
  lastId = START_ID;
  closed = false;
  /**
   * starting: the replay is being read; suspended: the transport lost live
   * events and will catch up; abandoned: it lost them before this stream
   * started, so the stream ends instead and its client replays.
   */
  private state: 'starting' | 'live' | 'suspended' | 'abandoned' = 'starting';
  /** Live events held back while starting or suspended; null otherwise. */
  private held: StreamMessage[] | null = [];
  private subscriber: Subscriber<MessageEvent> | null = null;

  constructor(
    readonly userId: string,
    /** When the token that opened the stream expires, on the `performance.now()` clock. */
    readonly expiresAt: number,
    /** When the stream ends: its token's expiry, or earlier when it reaches STREAM_MAX_AGE_MS. */
    readonly dueAt = expiresAt,
    private readonly response?: ServerResponse,
  ) {}

  get isSuspended(): boolean {
    return this.state === 'suspended';
  }

  attach(subscriber: Subscriber<MessageEvent>): void {
    this.subscriber = subscriber;
  }

  /** A live event for the user. Held while starting or suspended, and skipped if the stream sent it already. */
  deliver(message: StreamMessage): void {
    if (this.held) this.held.push(message);
    else this.send(message);
  }

  /**
   * Sends `ready`, then the replay (or `reset`), then what arrived live in the
   * meantime, and goes live. Ids at or below the last one sent are skipped, so
   * an event both replayed and received live goes out once.
   */
  start(replay: Replay, afterId: string | null, readyData: string): void {
    if (this.closed || !this.subscriber) return;
    if (this.state === 'abandoned') return this.end();
    this.lastId = afterId ?? replay.head;
    // Nest writes the headers on the first frame, alone; corked, they leave with
    // `ready` and the replay in one write (one syscall, one packet) instead of two.
    const socket = this.response?.socket;
    socket?.cork();
    try {
      this.subscriber.next({ id: this.lastId, type: 'ready', retry: RETRY_MS, data: readyData });
      this.catchUp(replay);
    } finally {
      socket?.uncork();
    }
  }

  /**
   * Holds live events from now on: the transport lost them for a while and
   * will catch up from `lastId`. A stream that has not started yet may have
   * read its replay before the loss, and has no `lastId` to catch up from:
   * it ends, and its client reconnects and replays.
   */
  suspend(): void {
    if (this.closed) return;
    if (this.state === 'starting') {
      this.state = 'abandoned';
      this.end();
    } else if (this.state === 'live') {
      this.state = 'suspended';
      this.held = [];
    }
  }

  /** Sends what was missed while suspended (or `reset`), then what was held, and goes live again. */
  resume(replay: Replay): void {
    if (this.state === 'suspended' && !this.closed) this.catchUp(replay);
  }

  /** Heartbeats go on while suspended; a stream that has not sent `ready` yet waits. */
  ping(): void {
    if (this.state === 'live' || this.state === 'suspended') this.subscriber?.next(PING);
  }

  /**
   * At `dueAt`: a stream whose token expired says so; one that reached its
   * maximum age just ends, and its client reconnects with the same token.
   * @param now `performance.now()`.
   */
  due(now: number): void {
    if (this.expiresAt <= now) this.expire();
    else this.end();
  }

  /** Tells the client its token expired, and ends the stream. */
  expire(): void {
    this.subscriber?.next({ id: this.lastId, type: 'expired', data: EXPIRED_DATA });
    this.end();
  }

  /**
   * Ends the stream; the client reconnects and replays. Its connection is
   * closed too, once the end is written: a reconnect on a fresh connection
   * goes wherever a load balancer sends it (another instance, when this one
   * drains or when streams are rebalanced), even a balancer that routes
   * whole connections.
   */
  end(): void {
    // Taken now: a finished response no longer holds its socket.
    const socket = this.response?.socket;
    if (socket) this.response!.once('finish', () => socket.end());
    this.subscriber?.complete();
  }

  private catchUp(replay: Replay): void {
    if (replay.events === null) {
      this.lastId = replay.head;
      this.subscriber!.next({ id: replay.head, type: 'reset', data: RESET_DATA });
    } else {
      for (const message of replay.events) this.send(message);
    }
    const held = this.held!;
    this.held = null;
    this.state = 'live';
    for (const message of held) this.send(message);
  }

  private send(message: StreamMessage): void {
    if (this.closed || compareEventIds(message.id, this.lastId) <= 0) return;
    this.lastId = message.id;
    this.subscriber!.next(message);
  }
}
