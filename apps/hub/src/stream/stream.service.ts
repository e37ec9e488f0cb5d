import { HttpStatus, Injectable, Logger, MessageEvent, NotFoundException } from '@nestjs/common';
import { Observable } from 'rxjs';
import type { Principal } from '#herald/auth/principal';
import { type DecodedStreamPosition, sourceHash } from '#herald/contracts/stream-position';
import { topicSource } from '#herald/contracts/topic';
import { RetryLaterError, UnavailableError } from '../errors/errors.js';
import { Transport } from '../transport/transport.js';
import { Draining } from '../lifecycle/draining.js';
import { Instance } from '../lifecycle/instance.js';
import { RETRY_MS } from './connection.js';
import { StreamRegistry } from './stream.registry.js';

/** Opens streams (registers them, then replays each source, then goes live), and changes their topics. */
@Injectable()
export class StreamService {
  private readonly logger = new Logger(StreamService.name);

  constructor(
    private readonly registry: StreamRegistry,
    private readonly transport: Transport,
    private readonly draining: Draining,
    private readonly instance: Instance,
  ) {}

  /**
   * @param request.after the client's last stream id (decoded), or null for a fresh subscribe.
   * @param request.topics the topics to follow (checked).
   */
  async open(
    principal: Principal,
    request: { after: DecodedStreamPosition | null; topics: readonly string[] },
  ): Promise<Observable<MessageEvent>> {
    if (this.draining.active) {
      throw new UnavailableError('this instance is shutting down; reconnect to another', RETRY_MS / 1000);
    }
    if (!this.transport.isReady()) {
      throw new UnavailableError('the event store is unavailable; retry shortly', RETRY_MS / 1000);
    }
    const userId = principal.sub;
    const topics = request.topics.map(topicSource);
    const id = this.instance.nextConnectionId();
    const connection = await this.registry.open({ id, userId, topics, expiresAt: principal.exp * 1000 });
    // Bound, not a closure: a closure here would keep this whole call's scope for the stream's life.
    // The writer (sse-response.ts) unsubscribes when the response ends, also from a client that
    // left while this was waiting: the teardown releases the stream's place in every case.
    const remove = this.registry.remove.bind(this.registry, connection);
    const readyData = JSON.stringify({ userId, connectionId: id, topics: request.topics });
    const { after } = request;
    // A topic the client's id has no position for (new to it) starts at its head.
    const positions = [userId, ...topics].map((source) => ({
      source,
      afterId: after === null ? null : source === userId ? after.user : (after.topics.get(sourceHash(source)) ?? null),
    }));
    return new Observable<MessageEvent>((subscriber) => {
      connection.attach(subscriber);
      Promise.all(positions.map(({ source, afterId }) => this.transport.replay(source, afterId).then((replay) => ({ source, afterId, replay })))).then(
        (replays) => connection.start(replays, readyData),
        (err: unknown) => {
          // The headers are out: the client can only be told by the stream ending;
          // it reconnects with the same last id and tries again.
          this.logger.error(`replay for a stream failed: ${String(err)}`);
          subscriber.complete();
        },
      );
      return remove;
    });
  }

  /**
   * Makes one of the user's open streams follow exactly `topics` (checked),
   * on whichever instance holds it: the connection id names the instance.
   * @throws 404 when the user has no such stream, 409 while it is not live
   *   yet, 503 when the topics' positions cannot be read or its instance does not answer.
   */
  async changeTopics(principal: Principal, connectionId: string, topics: readonly string[]): Promise<void> {
    const change = { connectionId, userId: principal.sub, topics: topics.map(topicSource) };
    const owner = Instance.holding(connectionId);
    const answer =
      owner === undefined
        ? null
        : owner === this.instance.id
          ? await this.registry.changeTopics(change)
          : await this.transport.forwardTopicsChange(owner, change);
    if (answer === null) throw new NotFoundException(`no open stream ${connectionId} of this user`);
    if (answer.status === HttpStatus.OK) return;
    if (answer.status === HttpStatus.NOT_FOUND) throw new NotFoundException(answer.message);
    throw new RetryLaterError(answer.status, answer.message ?? 'the change could not be made', answer.status === HttpStatus.CONFLICT ? 1 : RETRY_MS / 1000);
  }
}
