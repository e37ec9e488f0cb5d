import { HttpException } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { finished, type Readable, type Transform } from 'node:stream';
import { TextDecoder } from 'node:util';
import zlib from 'node:zlib';
import { errorBody } from '../errors/http-error.filter.js';

/** `application/json` and the `+json` types (`application/merge-patch+json`), parameters allowed. */
const JSON_SUFFIX = /^application\/[^;\s]+\+json\s*(;|$)/;

/** Node has zstd from 22.15 on; a body in an encoding this Node lacks is refused as any unknown one. */
const DECODERS: Record<string, (() => Transform) | undefined> = {
  gzip: zlib.createGunzip,
  deflate: zlib.createInflate,
  br: zlib.createBrotliDecompress,
  zstd: (zlib as unknown as Record<string, (() => Transform) | undefined>).createZstdDecompress,
};

/**
 * JSON request bodies, read up to a limit per route (`limits`, by route path;
 * `limit` for the others) once decoded as their Content-Encoding says, and
 * every refusal a JSON error naming the body. A body of any other type is
 * not read: its handler sees none, and says what it needs.
 */
export function parseJsonBodies(fastify: FastifyInstance, limit: number, limits: Record<string, number>): void {
  fastify.removeAllContentTypeParsers();
  const parse = (request: FastifyRequest, payload: IncomingMessage) =>
    readJson(payload, limits[request.routeOptions.url ?? ''] ?? limit, request.headers['content-type']);
  fastify.addContentTypeParser('application/json', parse);
  fastify.addContentTypeParser(JSON_SUFFIX, parse);
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
}

async function readJson(req: IncomingMessage, limit: number, contentType: string | undefined): Promise<unknown> {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1].toLowerCase() ?? 'utf-8';
  const decoder = charset === 'utf-8' ? undefined : textDecoder(charset);
  if (decoder === null) throw await refuse(req, 415, `unsupported charset "${charset.toUpperCase()}"`);
  const bytes = await readBody(req, limit);
  const text = (decoder ? decoder.decode(bytes) : bytes.toString('utf8')).replace(/^\uFEFF/, '');
  // An empty body is an empty object: what was missing is then named by the fields it lacks.
  if (text.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bodyError(400, 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null) throw bodyError(400, 'must be a JSON object');
  return value;
}

/** null for a charset that is not a UTF the platform decodes. */
function textDecoder(charset: string): TextDecoder | null {
  if (!charset.startsWith('utf-')) return null;
  try {
    return new TextDecoder(charset);
  } catch {
    return null;
  }
}

/** The body, decoded as its Content-Encoding says, refused past `limit` bytes decoded. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const coding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (coding === 'identity' && Number(req.headers['content-length']) > limit) throw await refuse(req, 413, `larger than ${limit} bytes`);
  const decode = coding === 'identity' ? undefined : DECODERS[coding];
  if (coding !== 'identity' && !decode) throw await refuse(req, 415, `unsupported content encoding "${coding}"`);
  const decoder = decode?.();
  const source: Readable = decoder ? req.pipe(decoder) : req;
  const read = await new Promise<Buffer | [number, string]>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (answer: [number, string]) => {
      source.off('data', onData);
      if (decoder) {
        req.unpipe(decoder);
        decoder.destroy();
      }
      resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) stop([413, `larger than ${limit} bytes`]);
      else chunks.push(chunk);
    };
    source.on('data', onData);
    source.once('end', () => resolve(Buffer.concat(chunks, size)));
    const onError = (err: NodeJS.ErrnoException) =>
      stop([400, err.code?.startsWith('Z_') ? `cannot be decoded as its Content-Encoding says (${err.message})` : err.message]);
    source.once('error', onError);
    // A pipe does not pass on the request's errors (the client left) to the decoder.
    if (decoder) req.once('error', onError);
  });
  if (Buffer.isBuffer(read)) return read;
  throw await refuse(req, ...read);
}

/** Reads the rest of the body off first, so that the client, still sending, gets the answer. */
async function refuse(req: IncomingMessage, status: number, problem: string): Promise<HttpException> {
  if (!req.readableEnded && !req.destroyed) {
    await new Promise<void>((resolve) => {
      finished(req, () => resolve());
      req.resume();
    });
  }
  return bodyError(status, problem);
}

function bodyError(status: number, problem: string): HttpException {
  return new HttpException(errorBody(status, `body: ${problem}`, { field: 'body' }), status);
}
