// Logs in production: JSON lines, one per request with its request id (the
// X-Request-Id of the answer), no token or ticket in clear anywhere, levels by
// LOG_LEVEL. In-process hubs write into an array; the built hub writes to stdout.
import { jest } from '@jest/globals';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHub } from '../apps/hub/src/app.js';
import { loadConfig } from '../apps/hub/src/config/config.js';
import { InboxService } from '../apps/hub/src/inbox/inbox.service.js';
import { HubProcess, startHubProcess } from './support/processes.js';
import { openRaw, RawStream } from './support/sse.js';
import { serviceToken, TEST_SECRET, userToken } from './support/tokens.js';
import { waitFor } from './support/wait.js';

interface Line {
  level: string;
  msg?: string;
  context?: string;
  reqId?: string;
  req?: { method: string; url: string; headers: Record<string, string> };
  res?: { statusCode: number; headers: Record<string, unknown> };
  responseTime?: number;
  [field: string]: unknown;
}

/** Every line of `text` as JSON: a line that is not JSON fails the test here. */
function parseLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Line;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface JsonHub {
  url: string;
  app: NestFastifyApplication;
  /** Everything logged so far, as written. */
  text(): string;
  lines(): Line[];
  /** The lines of one request, by its id. */
  linesOf(requestId: string): Line[];
  /** Waits for the line of `requestId` and returns it. */
  lineOf(requestId: string): Promise<Line>;
  close(): Promise<void>;
}

/**
 * A production hub in this process, its JSON lines captured. One at a time:
 * Nest's `new Logger()` instances write to the logger of the last app created.
 */
async function startJsonHub(env: Record<string, string> = {}): Promise<JsonHub> {
  const config = loadConfig({ NODE_ENV: 'production', PORT: '0', JWT_SECRET: TEST_SECRET, SQLITE_PATH: ':memory:', ...env });
  const written: string[] = [];
  const app = await createHub(config, { logDestination: { write: (line: string) => void written.push(line) } });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const hub: JsonHub = {
    url,
    app,
    text: () => written.join(''),
    lines: () => parseLines(written.join('')),
    linesOf: (requestId) => hub.lines().filter((line) => line.reqId === requestId && line.context === 'HTTP'),
    async lineOf(requestId) {
      await waitFor(`the line of request ${requestId}`, () => hub.linesOf(requestId).length > 0, 5000, () => hub.text());
      return hub.linesOf(requestId)[0];
    },
    close: () => {
      (app.getHttpServer() as Server).closeAllConnections();
      return app.close();
    },
  };
  return hub;
}

/** A request; resolves to its status, request id and body. */
async function request(url: string, init: RequestInit = {}): Promise<{ status: number; id: string; body: string }> {
  const response = await fetch(url, init);
  return { status: response.status, id: response.headers.get('x-request-id') ?? '', body: await response.text() };
}

async function openStream(url: string, init: RequestInit = {}): Promise<RawStream> {
  const stream = await openRaw(url, init);
  expect([url, stream.response.status]).toEqual([url, 200]);
  expect((await stream.next(3000)).event).toBe('ready');
  return stream;
}

describe('one JSON line per request (production, in process)', () => {
  let hub: JsonHub;
  beforeAll(async () => {
    hub = await startJsonHub({ LOG_LEVEL: 'debug' });
  });
  afterAll(() => hub.close());

  it('with method, URL, status, response time and the request id of the X-Request-Id header', async () => {
    const token = userToken('line-reader');
    const requests: [method: string, path: string, init: RequestInit, status: number, level: string][] = [
      ['GET', '/v1/notifications', { headers: { authorization: `Bearer ${token}` } }, 200, 'info'],
      [
        'POST',
        '/v1/events',
        {
          method: 'POST',
          headers: { authorization: `Bearer ${serviceToken()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'note.created', recipients: ['line-reader'], persist: false }),
        },
        202,
        'info',
      ],
      ['GET', '/v1/notifications', {}, 401, 'info'],
      ['GET', '/no/such/path', {}, 404, 'info'],
      ['GET', '/', {}, 200, 'info'],
      ['GET', '/health/live', {}, 200, 'debug'],
      ['GET', '/metrics', {}, 200, 'debug'],
    ];
    const before = hub.lines().filter((line) => line.context === 'HTTP').length;
    const answers: { status: number; id: string; body: string }[] = [];
    for (const [method, path, init, status] of requests) {
      const answer = await request(`${hub.url}${path}`, init);
      expect([method, path, answer.status]).toEqual([method, path, status]);
      answers.push(answer);
    }
    expect(new Set(answers.map((a) => a.id)).size).toBe(requests.length);
    for (const answer of answers) await hub.lineOf(answer.id);
    await sleep(200); // room for a second line, were there one

    const seen = requests.map(([method, path, , status, level], i) => {
      const lines = hub.linesOf(answers[i].id);
      const line = lines[0];
      return {
        count: lines.length,
        level: line.level,
        method: line.req?.method,
        url: line.req?.url,
        status: line.res?.statusCode,
        responseTime: typeof line.responseTime,
        msg: new RegExp(`^${method} ${path.replace('?', '\\?')} ${status} \\d+ms$`).test(line.msg ?? '') || line.msg,
        idHeader: UUID.test(answers[i].id),
        want: [method, path, status, level],
      };
    });
    expect(seen).toEqual(
      requests.map(([method, path, , status, level]) => ({
        count: 1,
        level,
        method,
        url: path,
        status,
        responseTime: 'number',
        msg: true,
        idHeader: true,
        want: [method, path, status, level],
      })),
    );
    // Nothing else was logged as a request.
    expect(hub.lines().filter((line) => line.context === 'HTTP').length - before).toBe(requests.length);
  });

  it('keeps a sane incoming X-Request-Id and replaces one that is too long or has odd characters', async () => {
    const kept = 'trace-1f2e.3:ab_C+/=';
    const refused = ['x'.repeat(129), 'has space', '<script>', 'a,b'];
    const answer = await request(`${hub.url}/no/such/path`, { headers: { 'x-request-id': kept } });
    expect(answer.id).toBe(kept);
    expect((await hub.lineOf(kept)).req?.headers['x-request-id']).toBe(kept);
    for (const given of refused) {
      const replaced = await request(`${hub.url}/no/such/path`, { headers: { 'x-request-id': given } });
      expect([given, UUID.test(replaced.id)]).toEqual([given, true]);
      await hub.lineOf(replaced.id);
      expect(hub.lines().filter((line) => line.reqId === given)).toEqual([]);
    }
  });

  it('never has a token or ticket in clear: query, Authorization header, cookie', async () => {
    const token = userToken('secret-keeper');
    const signature = token.split('.')[2];
    const issued = await fetch(`${hub.url}/v1/stream-tickets`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(issued.status).toBe(201);
    const { ticket } = (await issued.json()) as { ticket: string };

    const streams: [what: string, path: string, init: RequestInit, check: (line: Line) => unknown][] = [
      ['access_token', `/v1/stream?access_token=${token}&lastEventId=0`, {}, (l) => l.req?.url],
      ['ticket', `/v1/stream?ticket=${ticket}`, {}, (l) => l.req?.url],
      ['Authorization', '/v1/stream', { headers: { authorization: `Bearer ${token}` } }, (l) => l.req?.headers.authorization],
      ['Cookie', '/v1/stream', { headers: { cookie: `theme=dark; herald_token=${token}` } }, (l) => l.req?.headers.cookie],
    ];
    const ids: string[] = [];
    for (const [, path, init] of streams) {
      const stream = await openStream(`${hub.url}${path}`, init);
      ids.push(stream.response.headers.get('x-request-id')!);
      stream.close();
    }
    const plain = await request(`${hub.url}/v1/notifications?access_token=${token}`, {
      headers: { authorization: `Bearer ${token}`, cookie: `herald_token=${token}` },
    });
    expect(plain.status).toBe(200);
    ids.push(plain.id);
    const lines = await Promise.all(ids.map((id) => hub.lineOf(id)));

    expect(
      streams.map(([what, , , field], i) => [what, lines[i].res?.statusCode, String(field(lines[i])).includes('[redacted]')]),
    ).toEqual(streams.map(([what]) => [what, 200, true]));
    const last = lines.at(-1)!;
    expect([last.req?.url, last.req?.headers.authorization, last.req?.headers.cookie]).toEqual([
      '/v1/notifications?access_token=[redacted]',
      '[redacted]',
      '[redacted]',
    ]);
    const text = hub.text();
    expect({ token: text.includes(token), signature: text.includes(signature), ticket: text.includes(ticket) }).toEqual({
      token: false,
      signature: false,
      ticket: false,
    });
  });

  it('never has a credential in clear under any spelling, in the log or in a 404', async () => {
    const token = userToken('misspeller');
    const signature = token.split('.')[2];
    const answers = await Promise.all(
      [
        `/v1/stream?access_token[]=${token}`,
        `/v1/stream?access_token%5B0%5D=${token}`,
        `/v1/stream?ACCESS_TOKEN=${token}`,
        `/v1/stream?access_token=${token}&access_token=${token}`,
        `/v1/streams?access_token=${token}&ticket=${token}`,
      ].map((path) => request(`${hub.url}${path}`)),
    );
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 404]);
    expect(JSON.parse(answers[4].body)).toMatchObject({ statusCode: 404, message: 'Cannot GET /v1/streams' });
    await Promise.all(answers.map((a) => hub.lineOf(a.id)));
    for (const text of [hub.text(), ...answers.map((a) => a.body)]) expect(text.includes(signature)).toBe(false);
  });

  it("writes a stream's line once, when the client closes it, and nothing per event", async () => {
    const stream = await openStream(`${hub.url}/v1/stream?access_token=${userToken('long-listener')}`);
    const id = stream.response.headers.get('x-request-id')!;
    const before = hub.lines().length;
    for (let i = 0; i < 5; i++) {
      const published = await fetch(`${hub.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${serviceToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'note.created', recipients: ['long-listener'], persist: false }),
      });
      expect(published.status).toBe(202);
      expect((await stream.next(3000)).event).toBe('note.created');
    }
    await sleep(100);
    const meanwhile = hub.lines().slice(before);
    expect(meanwhile.map((line) => line.msg?.replace(/\d+ms/, 'Nms'))).toEqual(Array(5).fill('POST /v1/events 202 Nms'));
    expect(hub.linesOf(id)).toEqual([]);

    stream.close();
    const line = await hub.lineOf(id);
    await sleep(200);
    expect(hub.linesOf(id)).toHaveLength(1);
    expect([line.level, line.res?.statusCode, line.msg]).toEqual([
      'info',
      200,
      expect.stringMatching(/^GET \/v1\/stream\?access_token=\[redacted\] 200 \d+ms \(closed by the client\)$/),
    ]);
  });
});

describe('5xx (production, in process)', () => {
  let hub: JsonHub;
  beforeAll(async () => {
    hub = await startJsonHub({ STREAMS_MAX: '1' });
  });
  afterAll(() => hub.close());

  it('a 503 is logged at error and its answer names the request id', async () => {
    const open = await openStream(`${hub.url}/v1/stream?access_token=${userToken('first')}`);
    try {
      const refused = await request(`${hub.url}/v1/stream?access_token=${userToken('second')}`);
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toEqual(expect.objectContaining({ statusCode: 503, requestId: refused.id }));
      const line = await hub.lineOf(refused.id);
      expect([line.level, line.res?.statusCode]).toEqual(['error', 503]);
      expect(line).not.toHaveProperty('err');
    } finally {
      open.close();
    }
  });

  it('an unexpected error: a 500 at error, and the cause logged under the same request id', async () => {
    const list = jest.spyOn(hub.app.get(InboxService), 'list').mockRejectedValueOnce(new Error('disk on fire'));
    try {
      const failed = await request(`${hub.url}/v1/notifications`, {
        headers: { authorization: `Bearer ${userToken('unlucky')}`, 'x-request-id': 'support-case-42' },
      });
      expect(failed.status).toBe(500);
      expect(JSON.parse(failed.body)).toEqual({
        statusCode: 500,
        error: 'Internal Server Error',
        message: expect.stringContaining('requestId'),
        requestId: 'support-case-42',
      });
      const line = await hub.lineOf('support-case-42');
      expect([line.level, line.res?.statusCode]).toEqual(['error', 500]);
      // pino-http's stand-in Error for a 5xx ("failed with status code 500") says nothing.
      expect(line).not.toHaveProperty('err');
      const cause = hub.lines().filter((l) => l.context === 'HttpErrorFilter' && l.reqId === 'support-case-42');
      expect(cause).toEqual([
        expect.objectContaining({
          level: 'error',
          msg: expect.stringContaining('disk on fire'),
          stack: expect.stringContaining('disk on fire'),
        }),
      ]);
    } finally {
      list.mockRestore();
    }
  });
});

describe('the built hub in production (child process)', () => {
  let hubs: HubProcess[] = [];
  afterAll(async () => {
    await Promise.all(hubs.map((hub) => hub.kill()));
  });

  const output = (hub: HubProcess) => hub.output.join('');
  const linesOf = (hub: HubProcess, requestId: string) =>
    parseLines(output(hub)).filter((line) => line.reqId === requestId && line.context === 'HTTP');
  const waitForLine = (hub: HubProcess, requestId: string) =>
    waitFor(`the line of ${requestId}`, () => linesOf(hub, requestId).length > 0, 5000, () => output(hub));

  it('writes only JSON lines: Nest and Herald as well as the requests', async () => {
    const hub = await startHubProcess({ NODE_ENV: 'production' });
    hubs.push(hub);
    const token = userToken('process-reader');
    const answer = await request(`${hub.url}/v1/notifications`, { headers: { authorization: `Bearer ${token}` } });
    expect(answer.status).toBe(200);
    const probe = await request(`${hub.url}/health/live`);
    await waitForLine(hub, answer.id);

    const lines = parseLines(output(hub));
    expect(lines.find((line) => line.context === 'Herald' && line.msg?.startsWith('listening on'))).toEqual(
      expect.objectContaining({ level: 'info', pid: hub.pid }),
    );
    expect(lines.some((line) => line.context === 'InstanceLoader')).toBe(true);
    expect(linesOf(hub, answer.id)).toEqual([
      expect.objectContaining({ level: 'info', msg: expect.stringMatching(/^GET \/v1\/notifications 200 \d+ms$/) }),
    ]);
    // Probes are logged at debug: not at the default level.
    expect(lines.filter((line) => line.req?.url?.startsWith('/health'))).toEqual([]);
    expect(probe.status).toBe(200);
    expect(output(hub)).not.toContain(token);
  });

  it('LOG_LEVEL=warn: no line for a successful request nor any info line; warnings and 5xx still', async () => {
    const hub = await startHubProcess({ NODE_ENV: 'production', LOG_LEVEL: 'warn', STREAMS_MAX: '1', HEARTBEAT_MSS: '5000' });
    hubs.push(hub);
    const ok = await request(`${hub.url}/v1/notifications`, { headers: { authorization: `Bearer ${userToken('quiet')}` } });
    expect(ok.status).toBe(200);
    const open = await openStream(`${hub.url}/v1/stream?access_token=${userToken('quiet')}`);
    const refused = await request(`${hub.url}/v1/stream?access_token=${userToken('quieter')}`);
    open.close();
    expect(refused.status).toBe(503);
    // Lines are written in order: once the 503's is out, the 200's would be too.
    await waitForLine(hub, refused.id);

    const lines = parseLines(output(hub));
    expect(linesOf(hub, refused.id)).toEqual([expect.objectContaining({ level: 'error' })]);
    expect(linesOf(hub, ok.id)).toEqual([]);
    expect(lines.filter((line) => line.level === 'info' || line.level === 'debug').map((line) => line.msg)).toEqual([]);
    expect(lines.find((line) => line.msg?.includes('HEARTBEAT_MSS is not a Herald variable'))).toEqual(
      expect.objectContaining({ level: 'warn', context: 'Herald' }),
    );
  });
});
