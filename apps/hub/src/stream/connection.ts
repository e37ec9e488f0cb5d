import type { MessageEvent } from '@nestjs/common';
import type { Subscriber } from 'rxjs';
import { compareEventIds, START_ID } from '#herald/contracts/event-id';
import type { StreamMessage } from '../events/stream-message.js';
import type { Replay } from '../transport/replay.js';
import { topicOfSource } from '#herald/contracts/topic';
import { TopicPositions } from './topic-positions.js';

/** How long a client waits before reconnecting, sent with `ready`. */
export const RETRY_MS = 3000;
const PING: MessageEvent = Object.freeze({ comment: 'ping' });
/** The `reason` in the data of a `reset` and of an `expired` event. */
export const RESET_REASON = 'replay-window-exceeded';
export const EXPIRED_REASON = 'token-expired';
const RESET_DATA = JSON.stringify({ reason: RESET_REASON });
/** The frame that tells a client which topics its stream follows now, after a change. */
export const TOPICS_EVENT = 'topics';
const EXPIRED_DATA = JSON.stringify({ reason: EXPIRED_REASON });

/** A source's replay, with where the client was in it (null: nowhere yet; it starts at the head). */
export interface SourceReplay {
  readonly source: string;
  readonly afterId: string | null;
  readonly replay: Replay;
}

type Held = readonly [source: string, message: StreamMessage];

/**
 * One open stream. Kept small on purpose, as an instance holds many of them:
 * the user, its deadlines, where it is in each source it follows, and the
 * Nest subscriber the frames go to. A stream that follows only its user has that
 * user's event ids as its ids, and sends each message object as is; one
 * that follows topics sends each event under its composite id.
 */
export class Connection {
  /** The last id sent in the user's source: what the client sends back as (part of) Last-Event-ID. */
  lastId = START_ID;
  closed = false;
  /** Positions in the topics followed; null when none. */
  private topics: TopicPositions | null = null;
  /**
   * starting: the replay is being read; suspended: the transport lost live
   * events and will catch up; abandoned: it lost them before this stream
   * started, so the stream ends instead and its client replays.
   */
  private state: 'starting' | 'live' | 'suspended' | 'abandoned' = 'starting';
  /** Live events held back while starting, suspended or adding topics; null otherwise. */
  private held: Held[] | null = [];
  /** While suspended: the sources the transport has not caught up yet. */
  private waiting: Set<string> | null = null;
  /** Topics being added, whose heads are being read. */
  private adding: Set<string> | null = null;
  private subscriber: Subscriber<MessageEvent> | null = null;
  /** Whether a frame went out since the last heartbeat tick: a stream that is not quiet needs no ping. */
  private spoke = false;

  constructor(
    /** The connection id, unique across instances (the `connectionId` of `ready`). */
    readonly id: string,
    readonly userId: string,
    /** When the token that opened the stream expires, on the `performance.now()` clock. */
    readonly expiresAt: number,
    /** When the stream ends: its token's expiry, or earlier when it reaches STREAM_MAX_AGE_MS. */
    readonly dueAt = expiresAt,
  ) {}

  get isSuspended(): boolean {
    return this.state === 'suspended';
  }

  /** Started and delivering live: what a change of topics needs. */
  get isLive(): boolean {
    return this.state === 'live' && !this.closed;
  }

  /** The topic sources followed (positions known), in the order of the id. */
  get topicSources(): readonly string[] {
    return this.topics?.list() ?? [];
  }

  /** Every topic source followed, those being added included. */
  get followedTopics(): string[] {
    return this.adding === null ? [...this.topicSources] : [...this.topicSources, ...this.adding];
  }

  /** The last id sent in the source; undefined when the stream does not follow it (yet). */
  position(source: string): string | undefined {
    return source === this.userId ? this.lastId : this.topics?.get(source);
  }

  attach(subscriber: Subscriber<MessageEvent>): void {
    this.subscriber = subscriber;
  }

  /** A live event of a source. Held while starting, suspended or adding topics; skipped if the stream sent it already. */
  deliver(source: string, message: StreamMessage): void {
    if (this.held) this.held.push([source, message]);
    else this.send(source, message);
  }

  /**
   * Sends `ready`, then each source's replay (or `reset`), then what arrived
   * live in the meantime, and goes live. Ids at or below the last one sent in
   * a source are skipped, so an event both replayed and received live goes
   * out once.
   */
  start(replays: readonly SourceReplay[], readyData: string): void {
    if (this.closed || !this.subscriber) return;
    if (this.state === 'abandoned') return this.end();
    for (const { source, afterId, replay } of replays) this.setPosition(source, afterId ?? replay.head);
    // Written in one turn, the headers, `ready` and the replay leave in one
    // write (see sse-response.ts).
    this.write({ id: this.streamId, type: 'ready', retry: RETRY_MS, data: readyData });
    for (const { source, replay } of replays) this.catchUp(source, replay);
    this.state = 'live';
    this.release();
  }

  /**
   * Holds live events from now on: the transport lost them for a while and
   * will catch up each source from its position. A stream that has not
   * started yet may have read its replay before the loss, and has no
   * position to catch up from, nor has a topic whose head is being read: it
   * ends, and its client reconnects and replays.
   */
  suspend(): void {
    if (this.closed) return;
    if (this.state === 'starting' || this.adding !== null) {
      this.state = 'abandoned';
      this.end();
    } else if (this.state === 'live') {
      this.state = 'suspended';
      this.held ??= [];
      this.waiting = new Set([this.userId, ...this.topicSources]);
    }
  }

  /** What the source missed while suspended (or `reset`); once every source is caught up, what was held, and live again. */
  resume(source: string, replay: Replay): void {
    if (this.closed || !this.waiting?.has(source)) return;
    this.catchUp(source, replay);
    this.waiting.delete(source);
    if (this.waiting.size === 0) {
      this.waiting = null;
      this.state = 'live';
      this.release();
    }
  }

  /** Starts following topics: live events are held until `followed` gave each one's head. */
  follow(sources: readonly string[]): void {
    if (sources.length === 0) return;
    this.held ??= [];
    this.adding ??= new Set();
    for (const source of sources) this.adding.add(source);
  }

  /** A topic being added starts at `head`; once all are, the client hears of its topics and what was held goes out. */
  followed(source: string, head: string): void {
    if (this.closed || !this.adding?.delete(source)) return;
    (this.topics ??= new TopicPositions()).set(source, head);
    if (this.adding.size === 0) this.announceTopics();
  }

  /** Stops following a topic; what is held of it is dropped. */
  unfollow(source: string): void {
    this.adding?.delete(source);
    this.topics?.delete(source);
    if (this.topics?.size === 0) this.topics = null;
  }

  /** Once no topic is being added: tells the client what it follows now, with the id that says where it is in each, then sends what was held. */
  announceTopics(): void {
    if (this.closed || (this.adding?.size ?? 0) > 0) return;
    this.adding = null;
    this.write({ id: this.streamId, type: TOPICS_EVENT, data: this.topicsData() });
    this.release();
  }

  /** `{"topics":[…]}`: what `ready` and `topics` frames tell the client it follows. */
  topicsData(): string {
    return JSON.stringify({ topics: this.topicSources.map((source) => topicOfSource(source)) });
  }

  /**
   * A heartbeat tick (every HEARTBEAT_MS / 2): a ping goes out only if the
   * stream sent nothing since the tick before, so no stream is silent longer
   * than HEARTBEAT_MS and a busy one gets no pings at all. Heartbeats go on
   * while suspended; a stream that has not sent `ready` yet waits.
   */
  ping(): void {
    if (this.spoke) this.spoke = false;
    else if (this.state === 'live' || this.state === 'suspended') this.write(PING);
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
    this.write({ id: this.streamId, type: 'expired', data: EXPIRED_DATA });
    this.end();
  }

  /**
   * Ends the stream; the client reconnects and replays. Its connection
   * closes with it (a stream's body runs until the connection closes,
   * sse-response.ts), so a reconnect on a fresh connection goes wherever a
   * load balancer sends it (another instance, when this one drains or when
   * streams are rebalanced), even a balancer that routes whole connections.
   */
  end(): void {
    this.subscriber?.complete();
  }

  /** The id the client resumes from: the user's position, and each topic's if it follows any. */
  private get streamId(): string {
    return this.topics === null ? this.lastId : this.topics.streamId(this.lastId);
  }

  private setPosition(source: string, id: string): void {
    if (source === this.userId) this.lastId = id;
    else (this.topics ??= new TopicPositions()).set(source, id);
  }

  private catchUp(source: string, replay: Replay): void {
    if (replay.events === null) {
      this.setPosition(source, replay.head);
      const topic = topicOfSource(source);
      const data = topic === undefined ? RESET_DATA : JSON.stringify({ reason: RESET_REASON, topic });
      this.write({ id: this.streamId, type: 'reset', data });
    } else {
      for (const message of replay.events) this.send(source, message);
    }
  }

  /** Sends what was held, unless the stream still waits for a source. */
  private release(): void {
    if (this.state !== 'live' || this.adding !== null || this.held === null) return;
    const held = this.held;
    this.held = null;
    for (const [source, message] of held) this.send(source, message);
  }

  private send(source: string, message: StreamMessage): void {
    if (this.closed) return;
    if (source === this.userId) {
      if (compareEventIds(message.id, this.lastId) <= 0) return;
      this.lastId = message.id;
      // Only its user: the message's own id is the stream's, and the object goes out shared.
      if (this.topics === null) return this.write(message);
    } else {
      const position = this.topics?.get(source);
      if (position === undefined || compareEventIds(message.id, position) <= 0) return;
      this.topics!.set(source, message.id);
    }
    this.write({ id: this.topics!.streamId(this.lastId), type: message.type, data: message.data });
  }

  private write(frame: MessageEvent): void {
    this.spoke = true;
    this.subscriber?.next(frame);
  }
}
