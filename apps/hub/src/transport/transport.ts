import type { PreparedEvent, StreamMessage } from '../events/stream-message.js';
import type { Replay } from './replay.js';

export interface PublishOptions {
  /**
   * Names this publication so that publishing it again (a retry after a
   * crash, a publisher's retry with the same Idempotency-Key) reaches no one
   * a second time, within `dedupeWindowMs` (the transport's own default when
   * absent).
   */
  dedupeKey?: string;
  dedupeWindowMs?: number;
  /** The ingress entry the event came from: settled with the event stored, and only then. */
  receipt?: IngressReceipt;
}

/**
 * An ingress entry held by this instance's consumer. A transport that can
 * store the event and acknowledge the entry in one step does, and only while
 * the consumer still owns the entry (another instance may have claimed it);
 * otherwise it stores the event under a dedupe key and then calls `ack`.
 */
export interface IngressReceipt {
  readonly entryId: string;
  /** The consumer (of the ingress group) that holds the entry. */
  readonly consumer: string;
  ack(): Promise<void>;
}

/** A change of an open stream's topics, as the instance holding the stream carries it out. */
export interface TopicsChange {
  readonly connectionId: string;
  /** The user who asked: only the stream's own user may change it. */
  readonly userId: string;
  /** Every topic source the stream is to follow (checked by the instance that took the request). */
  readonly topics: readonly string[];
}

/** How a change went: 200, or the status and message of the error to answer. */
export interface TopicsChangeAnswer {
  readonly status: number;
  readonly message?: string;
}

/**
 * This instance's streams, as the transport sees them (the stream registry).
 * Events travel by source: a user (its id) or a topic (`#<topic>`, see
 * `topicSource`); each source has its own log, channel and id space, and a
 * stream follows its user and its topics.
 */
export interface DeliverySink {
  /** A live event of a source followed here; a stream skips ids it has sent already. */
  deliver(source: string, message: StreamMessage): void;
  /** The transport lost live events for a while: hold live delivery on every stream until it catches up. */
  suspendAll(): void;
  /** The oldest and the newest position in the source among the suspended streams following it; undefined when none is suspended. */
  suspendedPositions(source: string): { oldest: string; newest: string } | undefined;
  /** What the source's suspended streams missed (or null events: a reset); once all their sources are back, they go live. */
  resume(source: string, replay: Replay): void;
  /** The transport cannot catch the source up: end the streams following it, so the clients reconnect and replay. */
  endStreams(source: string): void;
  /** A change of topics another instance took for a stream of this one. */
  changeTopics(change: TopicsChange): Promise<TopicsChangeAnswer>;
}

/**
 * The one interface between the hub and how events travel: in memory for the
 * embedded default, Redis when instances are scaled out. It gives events
 * their ids, keeps them for replay and delivers them live, so that replayed
 * and live events share one ordered id space per source (a user or a topic).
 */
export abstract class Transport {
  /**
   * Gives the event an id in each source, stores it for replay and delivers
   * it to every open stream following the sources, on every instance.
   * Resolves once the event is stored: from then on no stream can miss it.
   */
  abstract publish(event: PreparedEvent, sources: readonly string[], options?: PublishOptions): Promise<void>;

  /** The source's events after `afterId` (null: none, only the head). */
  abstract replay(source: string, afterId: string | null): Promise<Replay>;

  /** Sets where live events for this instance's streams go (the stream registry). */
  abstract connect(sink: DeliverySink): void;

  /** This instance now has a stream following the source (a transport may subscribe to its channel). */
  abstract watch(source: string): void;

  /** This instance no longer has any stream following the source. */
  abstract unwatch(source: string): void;

  /**
   * Hands a change of topics to the instance holding the stream; resolves to
   * its answer, or null when no instance with that id is listening.
   */
  abstract forwardTopicsChange(instanceId: string, change: TopicsChange): Promise<TopicsChangeAnswer | null>;

  /** Whether events can be published and delivered right now (readiness). */
  abstract isReady(): boolean;
}
