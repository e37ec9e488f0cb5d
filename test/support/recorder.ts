import { setTimeout as sleep } from 'node:timers/promises';
import type { Json } from './http.js';
import { openRaw, RawStream, SseFrame } from './sse.js';
import { userToken } from './tokens.js';

export interface RecorderOptions {
  /** Keep comment frames (`: ping` heartbeats) in `frames` as well; by default they are left out. */
  comments?: boolean;
  /** Give each envelope of `envelopes()` and `waitFor()` the frame's `id:` as `frameId`. */
  frameIds?: boolean;
}

export interface OpenOptions extends RecorderOptions {
  /** Sent as the Last-Event-ID header. */
  lastEventId?: string;
  /** Appended to `/v1/stream` as it is, e.g. `?lastEventId=0` or `?ticket=…`. */
  query?: string;
  /** The bearer token: the user's own by default; null sends no Authorization header (e.g. with a ticket). */
  token?: string | null;
  /** How long the `ready` frame may take (default 5000 ms). */
  readyTimeoutMs?: number;
  /** Appended to the error when the stream is refused or `ready` does not come (e.g. the hub's output). */
  detail?: () => string;
}

type RecorderClass<R extends Recorder> = new (stream: RawStream, user: string, options?: RecorderOptions) => R;

/**
 * A stream read in the background: every frame is kept, none is lost to a
 * timed-out read (it reads with no timeout: a timed-out `next()` must not
 * decide what a test sees).
 */
export class Recorder {
  /** Every frame, in order; comments only with `comments: true`. */
  readonly frames: SseFrame[] = [];
  /** Settles once the stream has ended (the server ended it, it broke, or `close()`). */
  readonly done: Promise<void>;
  #ended = false;

  constructor(
    readonly stream: RawStream,
    readonly user: string,
    private readonly options: RecorderOptions = {},
  ) {
    this.done = this.read();
  }

  /**
   * Opens `user`'s stream on a hub (`target.url`), records it and waits for
   * its `ready` frame; a refused stream (not 200) fails.
   */
  static async open<R extends Recorder>(
    this: RecorderClass<R>,
    target: { url: string },
    user: string,
    options: OpenOptions = {},
  ): Promise<R> {
    const { lastEventId, query = '', token = userToken(user), readyTimeoutMs = 5000, detail, ...recording } = options;
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const url = `${target.url}/v1/stream${query}`;
    const stream = await openRaw(url, { headers });
    const more = () => (detail ? `\n${detail()}` : '');
    if (stream.response.status !== 200) {
      throw new Error(`stream for ${user} at ${url}: ${stream.response.status} ${await stream.response.text()}${more()}`);
    }
    const recorder = new this(stream, user, recording);
    try {
      await recorder.waitForFrame((f) => f.event === 'ready', readyTimeoutMs);
    } catch (err) {
      await recorder.close();
      if (err instanceof Error) err.message += more();
      throw err;
    }
    return recorder;
  }

  /** Closes every recorder of the list and empties it (for an afterEach or afterAll). */
  static async closeAll(recorders: Recorder[]): Promise<void> {
    await Promise.all(recorders.splice(0).map((r) => r.close()));
  }

  /** Whether the stream has ended (all its frames are in `frames` by then). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The parsed data (the envelope) of every frame of this type, in order. */
  envelopes(type: string): Json[] {
    return this.frames
      .filter((f) => f.event === type)
      .map((f) => (this.options.frameIds ? { ...JSON.parse(f.data!), frameId: f.id } : JSON.parse(f.data!)));
  }

  /** Frames of published events (not ready/reset/expired, not comments), of one type if given. */
  published(type?: string): SseFrame[] {
    return this.frames.filter(
      (f) => f.event !== undefined && !['ready', 'reset', 'expired'].includes(f.event) && (!type || f.event === type),
    );
  }

  /** Waits for `count` frames of this type; resolves to the envelopes of all of them so far. */
  async waitFor(type: string, count: number, timeoutMs = 5000): Promise<Json[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.filter((f) => f.event === type).length < count) {
      if (Date.now() > deadline) {
        throw new Error(
          `${this.user}: ${count} "${type}" frame(s) expected within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`,
        );
      }
      await sleep(10);
    }
    return this.envelopes(type);
  }

  /** Waits for a frame that matches; resolves to the first one. */
  async waitForFrame(predicate: (frame: SseFrame) => boolean, timeoutMs = 5000): Promise<SseFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`${this.user}: no such frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      }
      await sleep(10);
    }
  }

  async close(): Promise<void> {
    this.stream.close();
    await this.done;
  }

  /** Called with each frame kept, right after it is added to `frames`. */
  protected received(_frame: SseFrame): void {}

  private async read(): Promise<void> {
    for (;;) {
      let frame: SseFrame;
      try {
        frame = await this.stream.next(2 ** 31 - 1);
      } catch {
        break; // ended or closed
      }
      if (frame.comment !== undefined && !this.options.comments) continue;
      this.frames.push(frame);
      this.received(frame);
    }
    this.#ended = true;
  }
}

/** The event type of numbered test events ({n} in their data) that `SequenceRecorder` collects. */
export const SEQUENCE_TYPE = 'test.seq';

/** One numbered event as a stream received it. */
export interface Received {
  n: number;
  /** The frame's `id:` line. */
  id: string;
  /** The `id` inside the data envelope; must equal `id`. */
  envelopeId: string;
}

/** A Recorder that also collects the numbered events (`SEQUENCE_TYPE`), so loss, duplicates and order can be checked exactly. */
export class SequenceRecorder extends Recorder {
  readonly events: Received[] = [];

  /** The `ready` frame. */
  get ready(): SseFrame | undefined {
    return this.frames.find((f) => f.event === 'ready');
  }

  /** The id of the last frame that carried one: what the client would send as Last-Event-ID. */
  get lastId(): string | undefined {
    return this.frames.findLast((f) => f.id !== undefined)?.id;
  }

  // Runs only after construction: the first frame comes in after an `await`.
  protected override received(frame: SseFrame): void {
    if (frame.event !== SEQUENCE_TYPE) return;
    const envelope = JSON.parse(frame.data ?? 'null') as { id: string; data: { n: number } };
    this.events.push({ n: envelope.data.n, id: frame.id ?? '', envelopeId: envelope.id });
  }
}
