import type { PublishRequest } from '#herald/contracts/envelope';
import { topicOfSource } from '#herald/contracts/topic';

/**
 * One frame of a stream, as Nest's `@Sse()` writes it. Every frame but a
 * comment has an id of ours: Nest numbers id-less frames per connection, which
 * would overwrite the client's last event id with a meaningless one.
 */
export interface StreamMessage {
  readonly id: string;
  readonly type: string;
  /** The envelope JSON, written as is. */
  readonly data: string;
  /** When the event was accepted (ms since the epoch), for the delivery latency metric. */
  readonly createdAt: number;
}

const CREATED_AT = '"createdAt":"';

/**
 * The frame of an event in one source: the envelope is its id, its topic
 * when the source is one, and the serialised rest (`tail`). Ids and topics
 * need no escaping (digits and a dash; a topic's charset). The envelope's
 * own createdAt is the last one in the tail, after any inside `data`.
 */
export function streamMessage(id: string, type: string, tail: string, source?: string, createdAt = createdAtOf(tail)): StreamMessage {
  const topic = source === undefined ? undefined : topicOfSource(source);
  const head = topic === undefined ? `{"id":"${id}",` : `{"id":"${id}","topic":"${topic}",`;
  return { id, type, data: head + tail, createdAt };
}

/** When the event in `tail` was accepted; an event with many ids (a fan-out) reads it once. */
export function createdAtOf(tail: string): number {
  const at = tail.lastIndexOf(CREATED_AT) + CREATED_AT.length;
  return Date.parse(tail.slice(at, tail.indexOf('"', at)));
}

/**
 * An accepted event before it has ids. The envelope, less its id, is
 * serialised here once, however many recipients and streams receive it.
 */
export class PreparedEvent {
  private constructor(
    readonly type: string,
    /** `"type":…,"data":…,"createdAt":…}`: the envelope JSON after its id. */
    readonly tail: string,
  ) {}

  static from(request: Pick<PublishRequest, 'type' | 'data'>, createdAt: Date): PreparedEvent {
    return PreparedEvent.of(request.type, JSON.stringify(request.data), createdAt.toISOString());
  }

  /**
   * From parts already serialised (a stored event). A persisted event also
   * names its inbox item, so a client can mark it read.
   */
  static of(type: string, dataJson: string, createdAt: string, notificationId?: string): PreparedEvent {
    const inbox = notificationId === undefined ? '' : `,"notificationId":"${notificationId}"`;
    return new PreparedEvent(type, `"type":${JSON.stringify(type)},"data":${dataJson},"createdAt":"${createdAt}"${inbox}}`);
  }

  toMessage(id: string, source?: string): StreamMessage {
    return streamMessage(id, this.type, this.tail, source);
  }
}
