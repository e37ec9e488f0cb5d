import { ErrorRequestHandler, json, RequestHandler } from 'express';
import { errorBody } from '../errors/http-error.filter.js';

/**
 * The JSON body parser, and right behind it the handler for what it rejects:
 * its errors never reach Nest's filters, and Express would answer them in HTML.
 */
export function jsonBody(limit: number): [RequestHandler, ErrorRequestHandler] {
  const parse = json({ limit, type: ['application/json', 'application/*+json'] });
  const answer: ErrorRequestHandler = (err: ParserError, _req, res, next) => {
    // A body that cannot be decoded (bad gzip) fails in zlib, without a type of the parser's.
    if (!err?.type && !err?.code?.startsWith('Z_')) return next(err);
    const [status, message] =
      err.type === 'entity.too.large'
        ? [413, `body: larger than ${limit} bytes`]
        : err.type === 'entity.parse.failed'
          ? [400, isJson(err.body) ? 'body: must be a JSON object' : 'body: is not valid JSON']
          : err.code?.startsWith('Z_')
            ? [400, `body: cannot be decoded as its Content-Encoding says (${err.message})`]
            : [err.status && err.status < 500 ? err.status : 400, `body: ${err.message}`];
    res.status(status).json(errorBody(status, message, { field: 'body' }));
  };
  return [parse, answer];
}

interface ParserError {
  type?: string;
  status?: number;
  code?: string;
  message: string;
  /** The body as read, on a parse failure. */
  body?: string;
}

/** JSON the parser refused anyway: in strict mode, what is not an object or an array (`null`, `"x"`, `42`). */
function isJson(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
