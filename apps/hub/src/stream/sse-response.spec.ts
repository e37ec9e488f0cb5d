import { type MessageEvent, SSE_ABORT_CONTROLLER } from '@nestjs/common';
import { RouterResponseController } from '@nestjs/core/router/router-response-controller.js';
import { createServer, type IncomingMessage, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, of, Subject } from 'rxjs';
import { useLeanSseResponses } from './sse-response.js';

type Handler = (request: IncomingMessage & { [SSE_ABORT_CONTROLLER]?: AbortController }, response: ServerResponse) => void;

/** A real HTTP server whose one route hands its response to the @Sse() writer, as Nest's router does (signal first). */
async function serve(handler: Handler): Promise<{ url: string; server: Server }> {
  const server = createServer((request: Parameters<Handler>[0], response) => {
    request[SSE_ABORT_CONTROLLER] = new AbortController();
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

describe('the @Sse() response writer', () => {
  const controller = new RouterResponseController({} as never);
  let server: Server | undefined;
  let url = '';
  beforeAll(() => useLeanSseResponses());
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  function sse(result: unknown, request: IncomingMessage, response: ServerResponse, maxPendingDataLength?: number): Promise<void> {
    return controller.sse(result as Observable<MessageEvent>, response, request, { maxPendingDataLength });
  }

  it('writes the SSE headers with the first frame, the frames as they come, and ends with the Observable', async () => {
    const frames = new Subject<MessageEvent>();
    ({ server, url } = await serve((request, response) => {
      response.setHeader('x-request-id', 'r1');
      void sse(frames, request, response);
    }));
    const answer = fetch(url);
    await sleep(50);
    frames.next({ id: '1', type: 'ready', retry: 3000, data: '{}' });
    frames.next({ comment: 'ping' } as MessageEvent);
    frames.complete();
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('cache-control')).toContain('no-cache');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    expect(response.headers.get('x-request-id')).toBe('r1');
    // Delimited by the connection's end: no chunk framing around each frame.
    expect(response.headers.get('connection')).toBe('close');
    expect(response.headers.get('transfer-encoding')).toBeNull();
    expect(await response.text()).toBe('event: ready\nid: 1\nretry: 3000\ndata: {}\n\n: ping\n\n');
  });

  it("adds the headers an adapter kept apart from the response (Fastify's reply), the SSE ones winning", async () => {
    ({ server, url } = await serve((request, response) => {
      void controller.sse(of({ id: '1', data: 'x' }), response, request, {
        additionalHeaders: () => ({ 'x-kept-apart': 'yes', 'content-type': 'text/plain' }),
      });
    }));
    const response = await fetch(url);
    expect(response.headers.get('x-kept-apart')).toBe('yes');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(await response.text()).toBe('id: 1\ndata: x\n\n');
  });

  it("resolves once the head is out, not at the stream's end: the router's frames are let go, and Fastify sees the answer under way", async () => {
    const frames = new Subject<MessageEvent>();
    let resolved = false;
    ({ server, url } = await serve((request, response) => void sse(frames, request, response).then(() => (resolved = true))));
    const client = new AbortController();
    const answer = fetch(url, { signal: client.signal });
    await sleep(50);
    expect(resolved).toBe(false);
    frames.next({ id: '1', data: 'x' });
    await waitUntil(() => resolved);
    expect((await answer).headers.get('content-type')).toBe('text/event-stream');
    expect(frames.observed).toBe(true);
    client.abort();
  });

  it('lets a handler that fails before its Observable exists answer through the exception filters', async () => {
    let signal: AbortSignal | undefined;
    ({ server, url } = await serve((request, response) => {
      sse(Promise.reject(new Error('refused')), request, response).catch((err: Error) => {
        signal = request[SSE_ABORT_CONTROLLER]!.signal;
        response.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: err.message }));
      });
    }));
    const response = await fetch(url);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ message: 'refused' });
    expect(signal?.aborted).toBe(true);
  });

  it('answers a handler that returns something else than an Observable with an error', async () => {
    let failure: unknown;
    ({ server, url } = await serve((request, response) => {
      sse(Promise.resolve('text'), request, response).catch((err: unknown) => {
        failure = err;
        response.writeHead(500).end();
      });
    }));
    expect((await fetch(url)).status).toBe(500);
    expect(String(failure)).toContain('must return an Observable');
  });

  it('unsubscribes the producer and aborts the signal when the client leaves', async () => {
    let unsubscribed = false;
    let signal: AbortSignal | undefined;
    const producer = new Observable<MessageEvent>((subscriber) => {
      subscriber.next({ id: '1', data: 'x' });
      return () => (unsubscribed = true);
    });
    ({ server, url } = await serve((request, response) => {
      signal = request[SSE_ABORT_CONTROLLER]?.signal;
      void sse(producer, request, response);
    }));
    const client = new AbortController();
    const response = await fetch(url, { signal: client.signal });
    await response.body!.getReader().read();
    client.abort();
    await waitUntil(() => unsubscribed);
    expect(signal?.aborted).toBe(true);
  });

  it('subscribes and unsubscribes at once the Observable of a client that left while the handler was setting up', async () => {
    let subscribed = false;
    let tornDown = false;
    let signal: AbortSignal | undefined;
    let setUp: (producer: Observable<MessageEvent>) => void = () => undefined;
    ({ server, url } = await serve((request, response) => {
      signal = request[SSE_ABORT_CONTROLLER]?.signal;
      void sse(new Promise((resolve) => (setUp = resolve)), request, response);
    }));
    const client = new AbortController();
    fetch(url, { signal: client.signal }).catch(() => undefined);
    await waitUntil(() => signal !== undefined);
    client.abort();
    await waitUntil(() => signal!.aborted);
    // Its teardown releases what the handler took (Herald: the stream's place in the registry).
    setUp(
      new Observable((subscriber) => {
        subscribed = true;
        subscriber.next({ id: '1', data: 'never written' });
        return () => (tornDown = true);
      }),
    );
    await waitUntil(() => tornDown);
    expect(subscribed).toBe(true);
  });

  it('answers HEAD with the headers alone, without subscribing', async () => {
    let subscribed = false;
    ({ server, url } = await serve((request, response) => void sse(new Observable(() => void (subscribed = true)), request, response)));
    const response = await fetch(url, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(subscribed).toBe(false);
  });

  it('drops a client that does not read once more than maxPendingDataLength waits for it', async () => {
    let unsubscribed = false;
    const pad = 'x'.repeat(64 * 1024);
    const producer = new Observable<MessageEvent>((subscriber) => {
      const timer = setInterval(() => subscriber.next({ id: '1', data: pad }), 1);
      return () => {
        clearInterval(timer);
        unsubscribed = true;
      };
    });
    ({ server, url } = await serve((request, response) => void sse(producer, request, response, 256 * 1024)));
    const { port } = new URL(url);
    // A client that sends its request and never reads: the kernel's buffers fill, then the response's.
    const stalled = httpRequest({ port: Number(port), host: '127.0.0.1', path: '/' });
    stalled.on('response', (response) => response.pause());
    stalled.on('error', () => undefined);
    stalled.end();
    await waitUntil(() => unsubscribed, 10_000);
    stalled.destroy();
  });

  it('sends the headers with the first frame, so a producer that ends without one answers an empty stream', async () => {
    const frames = new Subject<MessageEvent>();
    ({ server, url } = await serve((request, response) => void sse(frames, request, response)));
    const answer = fetch(url);
    await sleep(30);
    frames.complete();
    const response = await answer;
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(await response.text()).toBe('');
  });

  it('keeps a client that reads a burst larger than maxPendingDataLength, as a replay is', async () => {
    const pad = 'x'.repeat(64 * 1024);
    const burst = Array.from({ length: 64 }, (_, i) => ({ id: String(i), data: pad }));
    ({ server, url } = await serve((request, response) => void sse(of(...burst), request, response, 256 * 1024)));
    const text = await (await fetch(url)).text();
    expect(text.split('\n\n').length - 1).toBe(64);
  });

  it("writes a turn's frames in one socket write, the head with the first, and every frame before the end", async () => {
    const frames = new Subject<MessageEvent>();
    const writes: string[] = [];
    ({ server, url } = await serve((request, response) => {
      const socket = response.socket!;
      const write = socket.write.bind(socket) as (chunk: string | Uint8Array) => boolean;
      socket.write = ((chunk: string | Uint8Array) => {
        writes.push(String(chunk));
        return write(chunk);
      }) as typeof socket.write;
      void sse(frames, request, response);
    }));
    const answer = fetch(url);
    await sleep(50);
    frames.next({ id: '1', data: 'a' });
    frames.next({ id: '2', data: 'b' });
    await waitUntil(() => writes.length === 1);
    frames.next({ id: '3', data: 'c' });
    frames.next({ id: '4', data: 'd' });
    frames.complete();
    expect(await (await answer).text()).toBe('id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\nid: 4\ndata: d\n\n');
    expect(writes).toHaveLength(2);
    expect(writes[0]).toMatch(/^HTTP\/1\.1 200[^]*\r\n\r\nid: 1\ndata: a\n\nid: 2\ndata: b\n\n$/);
    expect(writes[1]).toBe('id: 3\ndata: c\n\nid: 4\ndata: d\n\n');
  });

  it('ends a stream whose write throws, alone: the streams written after it in the same turn get their frames', async () => {
    const frames = new Subject<MessageEvent>();
    ({ server, url } = await serve((request, response) => {
      const socket = response.socket!;
      if (request.url === '/bad') {
        socket.write = (() => {
          throw new Error('the write failed');
        }) as typeof socket.write;
      }
      void sse(frames, request, response);
    }));
    const bad = fetch(`${url}bad`).then((response) => response.text());
    await sleep(30);
    const good = fetch(url).then((response) => response.text());
    await sleep(30);
    frames.next({ id: '1', data: 'x' });
    await expect(bad).rejects.toThrow();
    frames.next({ id: '2', data: 'y' });
    frames.complete();
    expect(await good).toBe('id: 1\ndata: x\n\nid: 2\ndata: y\n\n');
  });

  it('serves an Observable that emits and completes at once', async () => {
    ({ server, url } = await serve((request, response) => void sse(of({ id: '1', data: 'x' }), request, response)));
    expect(await (await fetch(url)).text()).toBe('id: 1\ndata: x\n\n');
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(5);
  }
}
