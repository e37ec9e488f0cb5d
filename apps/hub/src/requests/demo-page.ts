import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * The demo page's files (GET /, /app.js, …), each a route of its own, found
 * at start-up. A static handler in front of every route would look each API
 * path up on disk first: a `stat` per published event and per opened stream.
 */
export function demoPage(fastify: FastifyInstance, dir: string): void {
  void fastify.register(fastifyStatic, { root: dir, wildcard: false });
}
