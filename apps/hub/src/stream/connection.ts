import type { MessageEvent } from '@nestjs/common';
import type { Subscriber } from 'rxjs';
import { compareEventIds, START_ID } from '#herald/contracts/event-id';
import type { StreamMessage } from '../events/stream-message.js';
import type { Replay } from '../replay/replay.js';

/** How long a client waits before reconnecting, sent with `ready`. */
export const RETRY_MS = 3000;
const PING: MessageEvent = Object.freeze({ comment: 'ping' });
const RESET_DATA = JSON.stringify({ reason: 'replay-window-exceeded' });
const EXPIRED_DATA = JSON.stringify({ reason: 'token-expired' });

/**
 * One open stream. Kept small on purpose, as an instance holds many of them:
 * the user, the token's expiry, the last id sent, and the Nest subscriber the
 * frames go to.
 */
export class Connection {
  /** The id of the last frame sent: what the client will send as Last-Event-ID. */
  lastId = START_ID;
  closed = false;
  /** Live events that arrived while the replay was being read; null once live. */
  private waiting: StreamMessage[] | null = [];
  private subscriber: Subscriber<MessageEvent> | null = null;

  constructor(
    readonly userId: string,
    /** When the token that opened the stream expires, in ms since the epoch. */
    readonly expiresAt: number,
  ) {}

  /** Whether the replay is sent and live events go straight out. */
  get live(): boolean {
    return this.waiting === null;
  }

  attach(subscriber: Subscriber<MessageEvent>): void {
    this.subscriber = subscriber;
  }

  /** A live event for the user. Waits while the replay is read, and is dropped if the stream sent it already. */
  deliver(message: StreamMessage): void {
    if (this.waiting) this.waiting.push(message);
    else this.send(message);
  }

  /**
   * Sends `ready`, then the replay (or `reset`), then what arrived live in the
   * meantime, and goes live. Ids at or below the last one sent are skipped, so
   * an event both replayed and received live goes out once.
   */
  start(replay: Replay, afterId: string | null, readyData: string): void {
    const subscriber = this.subscriber;
    if (this.closed || !subscriber) return;
    this.lastId = afterId ?? replay.head;
    subscriber.next({ id: this.lastId, type: 'ready', retry: RETRY_MS, data: readyData });
    if (replay.events === null) {
      this.lastId = replay.head;
      subscriber.next({ id: replay.head, type: 'reset', data: RESET_DATA });
    } else {
      for (const message of replay.events) this.send(message);
    }
    const waiting = this.waiting!;
    this.waiting = null;
    for (const message of waiting) this.send(message);
  }

  ping(): void {
    if (!this.waiting) this.subscriber?.next(PING);
  }

  /** Tells the client its token expired, and ends the stream. */
  expire(): void {
    this.subscriber?.next({ id: this.lastId, type: 'expired', data: EXPIRED_DATA });
    this.end();
  }

  /** Ends the stream; the client reconnects (elsewhere, when draining) and replays. */
  end(): void {
    this.subscriber?.complete();
  }

  private send(message: StreamMessage): void {
    if (this.closed || compareEventIds(message.id, this.lastId) <= 0) return;
    this.lastId = message.id;
    this.subscriber!.next(message);
  }
}
