import { Injectable, Logger, MessageEvent } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { EMPTY, Observable } from 'rxjs';
import type { Principal } from '#herald/auth/principal';
import { UnavailableError } from '../errors/errors.js';
import { Transport } from '../transport/transport.js';
import { Draining } from '../lifecycle/draining.js';
import { Instance } from '../lifecycle/instance.js';
import { RETRY_MS } from './connection.js';
import { StreamRegistry } from './stream.registry.js';

/** Opens streams: registers them, then replays, then goes live. */
@Injectable()
export class StreamService {
  private readonly logger = new Logger(StreamService.name);
  /** Connection ids are the instance's id and a counter: unique across instances, cheap to make. */
  private opened = 0;

  constructor(
    private readonly registry: StreamRegistry,
    private readonly transport: Transport,
    private readonly draining: Draining,
    private readonly instance: Instance,
  ) {}

  /**
   * @param afterId the client's last event id (validated), or null for a fresh subscribe.
   * @param signal aborted when the response ends, however it ends; releases the stream's slot
   *   even if Nest never subscribes (the client left during setup).
   * @param response closed with the stream when the hub ends it.
   */
  async open(
    principal: Principal,
    afterId: string | null,
    signal: AbortSignal,
    response?: ServerResponse,
  ): Promise<Observable<MessageEvent>> {
    if (this.draining.active) {
      throw new UnavailableError('this instance is shutting down; reconnect to another', RETRY_MS / 1000);
    }
    if (!this.transport.isReady()) {
      throw new UnavailableError('the event store is unavailable; retry shortly', RETRY_MS / 1000);
    }
    const connection = await this.registry.open(principal.sub, principal.exp * 1000, response);
    if (signal.aborted) {
      // The client left while it was being admitted: Nest will not subscribe.
      this.registry.remove(connection);
      return EMPTY;
    }
    signal.addEventListener('abort', () => this.registry.remove(connection), { once: true });
    const readyData = JSON.stringify({
      userId: principal.sub,
      connectionId: `${this.instance.id}-${(++this.opened).toString(36)}`,
    });
    return new Observable<MessageEvent>((subscriber) => {
      connection.attach(subscriber);
      this.transport.replay(principal.sub, afterId).then(
        (replay) => connection.start(replay, afterId, readyData),
        (err: unknown) => {
          // The headers are out: the client can only be told by the stream ending;
          // it reconnects with the same last id and tries again.
          this.logger.error(`replay for a stream failed: ${String(err)}`);
          subscriber.complete();
        },
      );
      return () => this.registry.remove(connection);
    });
  }
}
