/** One SSE frame as written on the wire (comments are frames of their own here). */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
  comment?: string;
}

/** The JSON envelope an event frame carries in its data. */
export interface Envelope {
  id: string;
  /** The topic the event came through; absent for an event to the user. */
  topic?: string;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** The parsed `data` of an event frame. */
export const envelopeOf = (frame: SseFrame): Envelope => JSON.parse(frame.data!) as Envelope;

export interface RawStream {
  response: Response;
  /** The next frame, or a rejection after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseFrame>;
  /** Frames until `predicate` matches (inclusive). */
  until(predicate: (frame: SseFrame) => boolean, timeoutMs?: number): Promise<SseFrame[]>;
  /** Whether the server ended the stream (after the buffered frames are read). */
  ended(): boolean;
  close(): void;
}

/**
 * Opens a stream with fetch and parses its bytes into frames, keeping comment
 * lines (heartbeats) visible, which `EventSource` hides. Non-200 responses are
 * returned as they are, with no frames.
 */
export async function openRaw(url: string, init: RequestInit = {}): Promise<RawStream> {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  const frames: SseFrame[] = [];
  const waiters: (() => void)[] = [];
  let done = false;
  const wake = () => waiters.splice(0).forEach((w) => w());

  if (response.ok && response.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      let frame: SseFrame = {};
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buffer.indexOf('\n')) !== -1) {
            const line = buffer.slice(0, nl).replace(/\r$/, '');
            buffer = buffer.slice(nl + 1);
            if (line === '') {
              if (Object.keys(frame).length > 0) frames.push(frame);
              frame = {};
              wake();
              continue;
            }
            const colon = line.indexOf(':');
            const field = colon === -1 ? line : line.slice(0, colon);
            const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === '') frame.comment = value;
            else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
            else if (field === 'retry') frame.retry = Number(value);
            else if (field === 'id' || field === 'event') frame[field] = value;
          }
        }
      } catch {
        // aborted by close(), or the connection broke: both end the stream
      }
      done = true;
      wake();
    })();
  } else {
    done = true;
  }

  const next = (timeoutMs = 5000): Promise<SseFrame> =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        if (frames.length > 0) return resolve(frames.shift()!);
        if (done) return reject(new Error('stream ended'));
        const waiter = () => {
          clearTimeout(timer);
          attempt();
        };
        // A timed-out wait must not linger and take a later frame from the next caller.
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no frame within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      };
      attempt();
    });

  return {
    response,
    next,
    async until(predicate, timeoutMs = 5000) {
      const seen: SseFrame[] = [];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const frame = await next(Math.max(deadline - Date.now(), 1));
        seen.push(frame);
        if (predicate(frame)) return seen;
      }
    },
    ended: () => done && frames.length === 0,
    close: () => controller.abort(),
  };
}

/** `user`'s stream on `hub` (its token in the query), past its `ready`; kept in `streams` for the test to close. */
export async function openPastReady(hub: { url: string; userToken(user: string): string }, streams: RawStream[], user: string): Promise<RawStream> {
  const stream = await openRaw(`${hub.url}/v1/stream?access_token=${hub.userToken(user)}`);
  streams.push(stream);
  expect((await stream.next(3000)).event).toBe('ready');
  return stream;
}
