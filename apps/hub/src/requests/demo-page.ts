import express, { RequestHandler } from 'express';
import { readdirSync } from 'node:fs';

/**
 * The demo page's files (GET /, /app.js, …), served only at their own paths.
 * A static handler in front of every route would look each API path up on
 * disk first: a `stat` per published event and per opened stream.
 */
export function demoPage(dir: string): RequestHandler {
  const files = new Set(['/', ...readdirSync(dir).map((name) => `/${name}`)]);
  const serve = express.static(dir);
  return (req, res, next) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && files.has(req.path)) serve(req, res, next);
    else next();
  };
}
