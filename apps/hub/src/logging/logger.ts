import { ConsoleLogger, LoggerService, LogLevel as NestLogLevel } from '@nestjs/common';
import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { pino, Level, DestinationStream, Logger as PinoLogger } from 'pino';
import { redactUrl } from '#herald/auth/credentials';
import { LOG_LEVELS, LogLevel } from '../config/config.js';

/** LOG_LEVEL keeps Nest's names; each is one of pino's levels. */
export const PINO_LEVELS = {
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
} as const satisfies Record<LogLevel, Level>;

const NEST_METHODS: Record<string, 'fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose'> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'log',
  debug: 'debug',
  trace: 'verbose',
};

export interface HubLogging {
  /** Nest's logger: the framework's lines and those of every `new Logger(context)` in the code. */
  nest: LoggerService;
  /** One line per request when its response ends (a stream: when it closes), with its request id: a listener of the server's `request` event. */
  requests: RequestListener;
}

export interface LoggingOptions {
  /** Where every line goes, as text (tests capture them; see test/support/hub.ts). */
  logger?: LoggerService;
  /** Where the JSON lines go in production instead of stdout (tests capture them). */
  destination?: DestinationStream;
}

/**
 * Production: JSON lines (pino) on stdout, Nest's own lines included. Elsewhere,
 * Nest's readable console logger, or the logger a test passes, and the request
 * lines as text through it.
 */
export function createLogging(config: { logLevel: LogLevel; production: boolean }, options: LoggingOptions = {}): HubLogging {
  const level = PINO_LEVELS[config.logLevel];
  if (!options.logger && config.production) {
    // Asynchronous: lines logged while a write is under way go out together in
    // the next one, a write per batch rather than per request under load. pino
    // flushes what is left synchronously when the process exits, crash included.
    const base = pino(jsonOptions(level), options.destination ?? pino.destination({ dest: 1, sync: false }));
    return { nest: new PinoNestLogger(base), requests: requestLogger(base) };
  }
  const nest = options.logger ?? new ConsoleLogger({ logLevels: nestLevels(config.logLevel) });
  return { nest, requests: requestLogger(pino({ ...jsonOptions(level), base: undefined }, toNest(nest))) };
}

function nestLevels(level: LogLevel): NestLogLevel[] {
  return ['fatal', ...LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1)];
}

function jsonOptions(level: Level): pino.LoggerOptions {
  return {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    // Labels ("info"), not numbers, so any log collector reads the level.
    formatters: { level: (label) => ({ level: label }) },
  };
}

/** Probes and scrapes come every few seconds from machines, not users. */
const QUIET_PATHS = /^\/(health\/|metrics(\?|$))/;

/**
 * A request id on every request, and one line when its response ends (a
 * stream: when it closes), every credential redacted. Not pino-http: it makes
 * a child logger per request, with the whole request serialized into its
 * bindings, before it knows whether the line will be written. That cost a
 * quarter of the CPU of a publish with LOG_LEVEL=warn (~70 us of ~250 us), and
 * ~0.8 KB held for the life of every stream. Here the request is read only
 * when its line is written, and a request keeps one listener.
 */
export function requestLogger(base: PinoLogger): RequestListener {
  return (req, res) => {
    const reqId = assignRequestId(req, res);
    (req as { id?: string }).id = reqId;
    const startedAt = Date.now();
    // 'close' comes last in every case: after 'finish', or when the client left first.
    res.once('close', () => logRequest(base, req, res, reqId, Date.now() - startedAt));
  };
}

function logRequest(base: PinoLogger, req: IncomingMessage, res: ServerResponse, reqId: string, responseTime: number): void {
  const url = req.url ?? '';
  const level = QUIET_PATHS.test(url) ? 'debug' : res.statusCode >= 500 ? 'error' : 'info';
  if (!base.isLevelEnabled(level)) return;
  const { method = '', headers, socket } = req;
  const request = serializeRequest({ method, url, headers, remoteAddress: socket?.remoteAddress, remotePort: socket?.remotePort });
  base[level](
    {
      context: 'HTTP',
      reqId,
      req: request,
      res: serializeResponse({ statusCode: res.statusCode, headers: res.getHeaders() }),
      responseTime,
    },
    requestLine(request, res, responseTime),
  );
}

/** @param request as serialized: its URL already redacted. */
function requestLine({ method, url }: SerializedRequest, res: ServerResponse, responseTime: number): string {
  const line = `${method} ${url} ${res.statusCode} ${responseTime}ms`;
  return res.writableEnded ? line : `${line} (closed by the client)`;
}

/** What a proxy or client may send as X-Request-Id: kept when it is this tame, replaced otherwise. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

export const REQUEST_ID_HEADER = 'X-Request-Id';

function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/**
 * The id of the request (the X-Request-Id it was answered with), of Node's
 * request or of Fastify's (whose id is this one, see app.ts); undefined before
 * the request logger ran.
 */
export function requestIdOf(request: object): string | undefined {
  const id = (request as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

const REDACTED = '[redacted]';
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];

interface SerializedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  remoteAddress?: string;
  remotePort?: number;
}

/** pino's request, less what carries credentials: the query (it is in the URL, redacted) and the secret headers. */
export function serializeRequest(req: SerializedRequest): SerializedRequest {
  const headers = { ...req.headers };
  for (const name of SECRET_HEADERS) if (headers[name] !== undefined) headers[name] = REDACTED;
  if (typeof headers.referer === 'string') headers.referer = redactUrl(headers.referer);
  return { method: req.method, url: redactUrl(req.url), headers, remoteAddress: req.remoteAddress, remotePort: req.remotePort };
}

export function serializeResponse(res: { statusCode: number; headers: Record<string, unknown> }) {
  const headers = { ...res.headers };
  if (headers['set-cookie'] !== undefined) headers['set-cookie'] = REDACTED;
  return { statusCode: res.statusCode, headers };
}

/**
 * Nest's LoggerService over pino, so the framework's lines and every
 * `new Logger(context)` come out as JSON lines too, with their context.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: PinoLogger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** As Nest's loggers read their arguments: `(message, ...details, context?)`, and for errors `(message, stack?, context?)`. */
  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const rest = [...params];
    const fields: Record<string, unknown> = {};
    if (rest.length > 0 && typeof rest.at(-1) === 'string' && !isStack(rest.at(-1))) fields.context = rest.pop();
    if ((level === 'error' || level === 'fatal') && rest.length > 0 && (isStack(rest.at(-1)) || rest.at(-1) === undefined)) {
      const stack = rest.pop();
      if (stack !== undefined) fields.stack = stack;
    }
    for (const param of rest) {
      if (isPlainObject(param)) Object.assign(fields, param);
      else if (param !== undefined) ((fields.details ??= []) as unknown[]).push(param);
    }
    if (message instanceof Error) this.pino[level]({ ...fields, err: message }, message.message);
    else if (isPlainObject(message)) this.pino[level]({ ...fields, ...message });
    else this.pino[level](fields, typeof message === 'string' ? message : String(message));
  }
}

function isStack(value: unknown): boolean {
  return typeof value === 'string' && /\n[ \t]+at .+:\d+:\d+/.test(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * A pino destination that hands each line to a Nest logger as text, for the
 * readable console of development and the loggers tests capture: the message,
 * then the request id.
 */
export function toNest(logger: LoggerService): DestinationStream {
  return {
    write(line: string) {
      const record = JSON.parse(line) as { level: string; msg?: string; reqId?: string; context?: string };
      const method = NEST_METHODS[record.level] ?? 'log';
      const text = record.reqId ? `${record.msg ?? ''} [${record.reqId}]` : (record.msg ?? '');
      logger[method]?.(text, record.context ?? 'HTTP');
    },
  };
}
