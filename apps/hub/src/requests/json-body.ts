import { ErrorRequestHandler, json, RequestHandler } from 'express';
import { errorBody } from '../errors/http-error.filter.js';

/**
 * The JSON body parser, and right behind it the handler for what it rejects:
 * its errors never reach Nest's filters, and Express would answer them in HTML.
 */
export function jsonBody(limit: number): [RequestHandler, ErrorRequestHandler] {
  const parse = json({ limit, type: ['application/json', 'application/*+json'] });
  const answer: ErrorRequestHandler = (err: { type?: string; status?: number }, _req, res, next) => {
    if (!err?.type) return next(err);
    const [status, message] =
      err.type === 'entity.too.large'
        ? [413, `body: larger than ${limit} bytes`]
        : err.type === 'entity.parse.failed'
          ? [400, 'body: is not valid JSON']
          : [err.status && err.status < 500 ? err.status : 400, `body: ${String((err as Error).message)}`];
    res.status(status).json(errorBody(status, message, { field: 'body' }));
  };
  return [parse, answer];
}
