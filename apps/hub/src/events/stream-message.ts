import type { PublishRequest } from '#herald/contracts/envelope';

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
 * The frame of an event: the envelope is its id and the serialised rest
 * (`tail`). Ids are digits and one dash: no escaping. The envelope's own
 * createdAt is the last one in the tail, after any inside `data`.
 */
export function streamMessage(id: string, type: string, tail: string): StreamMessage {
  const at = tail.lastIndexOf(CREATED_AT) + CREATED_AT.length;
  const createdAt = Date.parse(tail.slice(at, tail.indexOf('"', at)));
  return { id, type, data: `{"id":"${id}",${tail}`, createdAt };
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

  toMessage(id: string): StreamMessage {
    return streamMessage(id, this.type, this.tail);
  }
}
