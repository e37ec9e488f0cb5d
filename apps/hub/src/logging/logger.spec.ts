import { ConsoleLogger } from '@nestjs/common';
import { pino } from 'pino';
import { PINO_LEVELS, PinoNestLogger, serializeRequest, serializeResponse, toNest } from './logger.js';

type Line = Record<string, unknown>;

/** A pino logger at `level` writing into an array, as production writes to stdout. */
function capture(level: pino.Level = 'trace') {
  const lines: Line[] = [];
  const logger = pino(
    { level, formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => lines.push(JSON.parse(line) as Line) },
  );
  return { lines, nest: new PinoNestLogger(logger) };
}

describe('PINO_LEVELS', () => {
  it("keeps LOG_LEVEL's names and maps each to pino's", () => {
    expect(PINO_LEVELS).toEqual({ error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' });
  });
});

describe('PinoNestLogger', () => {
  it('writes each Nest level as a JSON line with its message and context', () => {
    const { lines, nest } = capture();
    nest.log('a', 'Ctx');
    nest.warn('b', 'Ctx');
    nest.debug('c', 'Ctx');
    nest.verbose('d', 'Ctx');
    nest.error('e', 'Ctx');
    nest.fatal('f', 'Ctx');
    expect(lines.map(({ level, msg, context }) => [level, msg, context])).toEqual([
      ['info', 'a', 'Ctx'],
      ['warn', 'b', 'Ctx'],
      ['debug', 'c', 'Ctx'],
      ['trace', 'd', 'Ctx'],
      ['error', 'e', 'Ctx'],
      ['fatal', 'f', 'Ctx'],
    ]);
  });

  it('drops what is below its level', () => {
    const { lines, nest } = capture('warn');
    nest.log('info');
    nest.debug('debug');
    nest.warn('kept');
    expect(lines.map((line) => line.msg)).toEqual(['kept']);
  });

  it("reads an error's stack and structured details apart from the context", () => {
    const { lines, nest } = capture();
    const stack = new Error('boom').stack!;
    nest.error('it failed', { reqId: 'r-1' }, stack, 'Filter');
    nest.error('no stack', undefined, 'Filter');
    expect(lines[0]).toEqual(expect.objectContaining({ msg: 'it failed', reqId: 'r-1', stack, context: 'Filter' }));
    expect(lines[1]).toEqual(expect.objectContaining({ msg: 'no stack', context: 'Filter' }));
    expect(lines[1]).not.toHaveProperty('stack');
  });

  it('logs an Error given as the message (as Nest does for uncaught ones) with its stack', () => {
    const { lines, nest } = capture();
    nest.error(new Error('uncaught'), 'ExceptionHandler');
    expect(lines[0]).toEqual(
      expect.objectContaining({
        msg: 'uncaught',
        context: 'ExceptionHandler',
        err: expect.objectContaining({ message: 'uncaught', stack: expect.stringContaining('uncaught') }),
      }),
    );
  });

  it('keeps the message text of a plain message without context', () => {
    const { lines, nest } = capture();
    nest.log('only a message');
    expect(lines[0]).toEqual(expect.objectContaining({ msg: 'only a message' }));
    expect(lines[0]).not.toHaveProperty('context');
  });
});

describe('serializers', () => {
  const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ';

  it('redacts credentials in the URL, the secret headers and the referer, and leaves the request untouched', () => {
    const headers = {
      host: 'hub',
      authorization: `Bearer ${token}`,
      'proxy-authorization': `Basic ${token}`,
      cookie: `herald_token=${token}`,
      referer: `https://app.example/page?access_token=${token}&tab=2`,
      'last-event-id': '12-0',
    };
    const request = { method: 'GET', url: `/v1/stream?ticket=${token}&lastEventId=5`, headers: { ...headers }, remoteAddress: '::1' };
    const serialized = serializeRequest(request);
    expect(JSON.stringify(serialized)).not.toContain(token);
    expect(serialized).toEqual({
      method: 'GET',
      url: '/v1/stream?ticket=[redacted]&lastEventId=5',
      headers: {
        host: 'hub',
        authorization: '[redacted]',
        'proxy-authorization': '[redacted]',
        cookie: '[redacted]',
        referer: 'https://app.example/page?access_token=[redacted]&tab=2',
        'last-event-id': '12-0',
      },
      remoteAddress: '::1',
      remotePort: undefined,
    });
    // The auth guard reads the same header object after the request line's start.
    expect(request.headers).toEqual(headers);
  });

  it('redacts Set-Cookie in the response', () => {
    const headers = { 'set-cookie': [`herald_token=${token}`], 'x-request-id': 'r' };
    expect(serializeResponse({ statusCode: 200, headers })).toEqual({
      statusCode: 200,
      headers: { 'set-cookie': '[redacted]', 'x-request-id': 'r' },
    });
    expect(headers['set-cookie']).toEqual([`herald_token=${token}`]);
  });
});

describe('toNest', () => {
  class Recording extends ConsoleLogger {
    readonly calls: [string, unknown, unknown][] = [];
    override log(message: unknown, context?: unknown) {
      this.calls.push(['log', message, context]);
    }
    override debug(message: unknown, context?: unknown) {
      this.calls.push(['debug', message, context]);
    }
    override error(message: unknown, context?: unknown) {
      this.calls.push(['error', message, context]);
    }
  }

  it("hands request lines to a Nest logger as text at the matching level, with the request id", () => {
    const target = new Recording();
    const stream = toNest(target);
    stream.write('{"level":"info","reqId":"r-1","context":"HTTP","msg":"GET / 200 1ms"}\n');
    stream.write('{"level":"debug","reqId":"r-2","msg":"GET /health/live 200 0ms"}\n');
    stream.write('{"level":"error","reqId":"r-3","context":"HTTP","msg":"GET /x 500 2ms"}\n');
    expect(target.calls).toEqual([
      ['log', 'GET / 200 1ms [r-1]', 'HTTP'],
      ['debug', 'GET /health/live 200 0ms [r-2]', 'HTTP'],
      ['error', 'GET /x 500 2ms [r-3]', 'HTTP'],
    ]);
  });
});
