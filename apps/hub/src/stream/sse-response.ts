import { Logger, type MessageEvent, SSE_ABORT_CONTROLLER } from '@nestjs/common';
import { RouterResponseController } from '@nestjs/core/router/router-response-controller.js';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isObservable, type Observable, type Observer, type Subscription } from 'rxjs';
import { sseFrame } from './sse-frame.js';

/** Lower case, as Fastify keeps header names, so that one set by the app is replaced, not sent twice. */
const SSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  'content-type': 'text/event-stream',
  'cache-control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  // nginx passes the stream on as it comes instead of in lumps.
  'x-accel-buffering': 'no',
});

interface SseOptions {
  additionalHeaders?: () => OutgoingHttpHeaders | undefined;
  statusCode?: () => number | undefined;
  /** Bytes that may wait in the hub for a client that does not read before it is dropped; 0: no limit. */
  maxPendingDataLength?: number;
}

type SseRequest = IncomingMessage & { [SSE_ABORT_CONTROLLER]?: AbortController };

/** How long data over the limit may wait without the client taking any of it. */
const NOT_READING_MS = 1000;

/** One reason for every stream: `abort()` without one builds a DOMException, stack trace and all, per stream. */
const STREAM_ENDED = new DOMException('the stream ended', 'AbortError');

/**
 * The streams with frames queued in this turn of the event loop. They are
 * written together once the turn's work is done: a stream's frames of one
 * turn (`ready` and a replay; a burst) leave in one write, and an event for
 * thousands of streams reaches their sockets in one run of writes, not
 * interleaved with the work that decides where it goes. This does for all
 * streams at once what Node's response does per write (cork, then uncork on
 * the next tick), at the cost of one tick, not one per stream.
 */
const queued: SseResponse[] = [];

function writeQueued(): void {
  // A stream queued while these are written (none is, today) is written in this same run.
  for (let i = 0; i < queued.length; i++) queued[i].flush();
  queued.length = 0;
}

/**
 * Writes what an `@Sse()` handler's Observable emits to its response, in
 * place of Nest's own writer, which an instance pays for with every open
 * stream: an rxjs chain of four operators, a `Transform` stream piped into
 * the response, a 5 s timer, and the router's async frames suspended until
 * the stream ends, about 10 KB of heap per idle stream and, per frame, a
 * Promise and a pass through the `Transform`. Here a stream is one object
 * and its subscription; a frame is formatted and queued, and a turn's frames
 * are written together (see `queued`).
 * The route's contract is Nest's: errors before the Observable exists go
 * to the exception filters, `@SseSignal()` aborts when the stream ends, and
 * a client that lets more than `maxPendingDataLength` wait, and reads none
 * of it for a second, is dropped.
 */
class SseResponse implements Observer<MessageEvent> {
  static readonly log = new Logger('SseResponse');
  private subscription: Subscription | null = null;
  private closed = false;
  /** Nest's closures that read the status and the headers set before the stream; let go once the head is written. */
  private head: SseOptions | null;
  private readonly maxPending: number;
  /** While more than maxPending waits: the check that the client takes some of it. */
  private backlog: NodeJS.Timeout | null = null;
  /** The connection, once the head has gone out on it: later frames are written to it directly. */
  private socket: Socket | null = null;
  /** Frames waiting for this turn's writes (see `queued`); null when none. */
  private pending: string | null = null;
  /** Called once the head is written or the stream is over: what the route's promise waits for. */
  private settle: (() => void) | null = null;

  constructor(
    private readonly response: ServerResponse,
    private readonly request: SseRequest,
    options: SseOptions,
  ) {
    this.head = options;
    this.maxPending = options.maxPendingDataLength ?? 0;
    response.on('close', () => this.close());
    if (request.socket.destroyed) this.close();
  }

  /** Whether the client left before the handler's Observable came. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Subscribes; resolves once the head is written (with the first frame) or
   * the stream is over. The route's promise waits that long, not for the
   * stream's whole life, which would keep the router's frames: Fastify
   * answers a request itself when its handler resolves before any header
   * is out.
   */
  start(producer: Observable<MessageEvent>): Promise<void> {
    const started = new Promise<void>((resolve) => (this.settle = resolve));
    this.subscribe(producer);
    if (this.response.headersSent || this.closed) this.settled();
    return started;
  }

  private settled(): void {
    this.settle?.();
    this.settle = null;
  }

  private subscribe(producer: Observable<MessageEvent>): void {
    const { socket, method } = this.request;
    // Each frame leaves as it is written, and neither side's idle timer ends a quiet stream.
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    socket.setTimeout(0);
    if (method === 'HEAD') return this.complete();
    this.subscription = producer.subscribe(this);
    if (this.closed) this.subscription.unsubscribe();
  }

  next(message: MessageEvent): void {
    if (this.closed) return;
    const frame = sseFrame(message);
    if (this.pending !== null) {
      this.pending += frame;
      return;
    }
    this.pending = frame;
    if (queued.push(this) === 1) process.nextTick(writeQueued);
  }

  /**
   * Writes the frames queued. The first write goes through the response,
   * which sends the head with it; later ones straight to the socket (the
   * body is the socket's bytes, without chunked framing), skipping the
   * response's per-write cork. A write that throws ends this stream alone:
   * the others of the turn are still written.
   */
  flush(): void {
    const frames = this.pending;
    this.pending = null;
    if (frames === null || this.closed) return;
    try {
      if (this.socket) this.socket.write(frames);
      else {
        if (!this.response.headersSent) this.writeHead();
        this.response.write(frames);
        this.socket = this.response.socket;
      }
    } catch (err) {
      return this.error(err);
    }
    if (this.maxPending && this.backlog === null && this.response.writableLength > this.maxPending) this.watchBacklog();
  }

  /**
   * More than the limit waits in the hub. A replay is written at once and may
   * well be, for a client that reads: it is dropped only if, a second later,
   * still more than the limit waits and it took none of it meanwhile.
   */
  private watchBacklog(): void {
    let waiting = this.response.writableLength;
    this.backlog = setInterval(() => {
      const now = this.response.writableLength;
      if (now <= this.maxPending) return this.unwatchBacklog();
      if (now < waiting) {
        waiting = now;
        return;
      }
      SseResponse.log.warn(`The client is not reading its events: ${now} bytes wait for it, over ${this.maxPending}; dropped`);
      this.response.destroy();
      this.close();
    }, NOT_READING_MS);
    this.backlog.unref();
  }

  private unwatchBacklog(): void {
    if (this.backlog !== null) clearInterval(this.backlog);
    this.backlog = null;
  }

  error(err: unknown): void {
    // The route handler has returned: no exception filter can answer any more.
    SseResponse.log.error(err);
    this.response.destroy();
    this.close();
  }

  complete(): void {
    if (this.closed) return;
    this.flush();
    if (!this.response.headersSent) this.writeHead();
    this.response.end();
    this.close();
  }

  /** The stream is over, however it ended: the handler's signal aborts, the producer is unsubscribed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.settled();
    this.unwatchBacklog();
    this.request[SSE_ABORT_CONTROLLER]?.abort(STREAM_ENDED);
    this.subscription?.unsubscribe();
  }

  /**
   * The body runs until the connection closes, without chunked framing: each
   * frame is then one write of its own bytes, not four (size, CRLF, frame,
   * CRLF). The connection serves no other request after a stream anyway: the
   * hub closes it when it ends one, and so does a client that leaves.
   */
  private writeHead(): void {
    const { additionalHeaders, statusCode } = this.head ?? {};
    this.head = null;
    const { response } = this;
    // Headers an adapter keeps apart from the response (Fastify's reply) join those set on it.
    const extra = additionalHeaders?.();
    for (const name in extra) if (!response.hasHeader(name)) response.setHeader(name, extra[name]!);
    response.useChunkedEncodingByDefault = false;
    response.writeHead(statusCode?.() ?? response.statusCode, SSE_HEADERS);
    this.settled();
  }
}

async function sse(
  this: RouterResponseController,
  result: Observable<MessageEvent> | Promise<Observable<MessageEvent>>,
  response: ServerResponse,
  request: SseRequest,
  options: SseOptions = {},
): Promise<void> {
  request[SSE_ABORT_CONTROLLER] ??= new AbortController();
  if (response.writableEnded) {
    // Answered already (by an interceptor, say): nothing to stream to.
    request[SSE_ABORT_CONTROLLER].abort();
    Promise.resolve(result).catch((err: unknown) => SseResponse.log.error(err));
    return;
  }
  const stream = new SseResponse(response, request, options);
  let producer: unknown;
  try {
    producer = await result;
  } catch (err) {
    stream.close();
    throw err;
  }
  if (!isObservable(producer)) {
    stream.close();
    throw new TypeError('an @Sse() route handler must return an Observable');
  }
  // A client that left while the handler was setting up: its Observable is
  // subscribed and unsubscribed at once, so that its teardown releases what
  // the handler took for it.
  if (stream.isClosed) return void producer.subscribe().unsubscribe();
  return stream.start(producer as Observable<MessageEvent>);
}

/**
 * Makes every `@Sse()` route of this process write through SseResponse.
 * Nest creates its response writer inside its router, where no provider or
 * option reaches, so its method is replaced; stream.test.ts and
 * sse-response.spec.ts hold the contract it keeps.
 */
export function useLeanSseResponses(): void {
  RouterResponseController.prototype.sse = sse as RouterResponseController['sse'];
}
