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

/** This instance's streams, as the transport sees them (the stream registry). */
export interface DeliverySink {
  /** A live event for a user with a stream here; a stream skips ids it has sent already. */
  deliver(userId: string, message: StreamMessage): void;
  /** The transport lost live events for a while: hold live delivery on every stream until it catches up. */
  suspendAll(): void;
  /** The oldest last-sent id among the user's suspended streams; undefined when none is suspended. */
  suspendedPosition(userId: string): string | undefined;
  /** What the user's suspended streams missed (or null events: a reset); they go live again. */
  resume(userId: string, replay: Replay): void;
  /** The transport cannot catch the user up: end the user's streams, so the clients reconnect and replay. */
  endStreams(userId: string): void;
}

/**
 * The one interface between the hub and how events travel: in memory for the
 * embedded default, Redis when instances are scaled out. It gives events
 * their ids, keeps them for replay and delivers them live, so that replayed
 * and live events share one ordered id space per user.
 */
export abstract class Transport {
  /**
   * Gives the event an id for each recipient, stores it for replay and delivers
   * it to every open stream of the recipients, on every instance. Resolves once
   * the event is stored: from then on no recipient can miss it.
   */
  abstract publish(event: PreparedEvent, recipients: readonly string[], options?: PublishOptions): Promise<void>;

  /** The user's events after `afterId` (null: none, only the head). */
  abstract replay(userId: string, afterId: string | null): Promise<Replay>;

  /** Sets where live events for this instance's streams go (the stream registry). */
  abstract connect(sink: DeliverySink): void;

  /** This instance now has a stream of the user (a transport may subscribe to the user's channel). */
  abstract watch(userId: string): void;

  /** This instance no longer has any stream of the user. */
  abstract unwatch(userId: string): void;

  /** Whether events can be published and delivered right now (readiness). */
  abstract isReady(): boolean;
}
