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
}

/** The frame of an event: the envelope is its id and the serialised rest (`tail`). Ids are digits and one dash: no escaping. */
export function streamMessage(id: string, type: string, tail: string): StreamMessage {
  return { id, type, data: `{"id":"${id}",${tail}` };
}

/**
 * An accepted event before it has ids. The envelope, less its id, is
 * serialised here once, however many recipients and streams receive it.
 */
export class PreparedEvent {
  private constructor(
    readonly type: string,
    readonly persist: boolean,
    /** `"type":…,"data":…,"createdAt":…}`: the envelope JSON after its id. */
    readonly tail: string,
  ) {}

  static from(request: PublishRequest, createdAt: Date): PreparedEvent {
    const json = JSON.stringify({ type: request.type, data: request.data, createdAt: createdAt.toISOString() });
    return new PreparedEvent(request.type, request.persist, json.slice(1));
  }

  toMessage(id: string): StreamMessage {
    return streamMessage(id, this.type, this.tail);
  }
}
