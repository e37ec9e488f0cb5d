import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger, NotFoundException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { redactUrl } from '#herald/auth/credentials';
import { requestIdOf } from '../logging/logger.js';
import { isDatabaseUnavailable } from '../database/database-unavailable.js';
import { RetryLaterError, UnavailableError } from './errors.js';

/** What the router says of a path no route has: `Cannot GET /v1/nowhere?…`. */
const ROUTER_NOT_FOUND = /^Cannot [A-Z]+ \//;

/** The message of every 500: the cause stays in the log, under the request id. */
export const UNEXPECTED_ERROR = 'unexpected error; quote the requestId when reporting it';

export const DATABASE_UNAVAILABLE = 'the database is unavailable; retry shortly';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  [detail: string]: unknown;
}

/** Every error answer has one shape: `{statusCode, error, message, …details}`. */
export function errorBody(status: number, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message, ...details };
}

/**
 * 4xx pass through with their message; a database outage is a 503 with
 * Retry-After; a 5xx names its request id (the
 * X-Request-Id of the answer, in the request line too), and an unexpected
 * error logs its cause under that id and returns nothing else of it. Once a
 * stream has started nothing can be answered any more, so it is just ended.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  catch(thrown: unknown, host: ArgumentsHost): void {
    // A database outage is not this request's fault: the same request works once it is back.
    const exception = isDatabaseUnavailable(thrown) ? new UnavailableError(DATABASE_UNAVAILABLE, 1) : thrown;
    const response = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    if (response.sent || response.raw.headersSent) {
      response.raw.end();
      return;
    }
    if (exception instanceof RetryLaterError) response.header('Retry-After', String(exception.retryAfterSeconds));
    if (exception instanceof HttpException && exception.getStatus() < 500) {
      const body = normalise(exception);
      // The router's 404 names the URL as sent, query included: it may hold a token or a ticket.
      if (exception instanceof NotFoundException && ROUTER_NOT_FOUND.test(body.message)) {
        body.message = `Cannot ${request.method} ${pathOf(request.url)}`;
      }
      void response.status(exception.getStatus()).send(body);
      return;
    }
    if (exception instanceof HttpException) {
      void response.status(exception.getStatus()).send({ ...normalise(exception), requestId: requestIdOf(request) });
      return;
    }
    const requestId = requestIdOf(request) ?? randomUUID();
    const cause = exception instanceof Error ? exception.message : String(exception);
    const stack = exception instanceof Error ? exception.stack : undefined;
    this.logger.error(`error on ${request.method} ${redactUrl(request.url)} [${requestId}]: ${cause}`, { reqId: requestId }, stack);
    void response.status(500).send(errorBody(500, UNEXPECTED_ERROR, { requestId }));
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function normalise(exception: HttpException): ErrorBody {
  const status = exception.getStatus();
  const raw = exception.getResponse();
  if (typeof raw === 'string') return errorBody(status, raw);
  const { message, statusCode: _s, error: _e, ...details } = raw as Record<string, unknown>;
  const text = Array.isArray(message) ? message.join('; ') : String(message ?? exception.message);
  return errorBody(status, text, details);
}
