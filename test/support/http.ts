import http from 'node:http';
import { serviceToken, userToken } from './tokens.js';

/** Parsed JSON, loosely typed: the tests look into it freely. */
export type Json = any;

/** A timestamp as the API writes them (createdAt, readAt): ISO 8601 in UTC. */
export const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** An answer of the hub, its body parsed as JSON (as text when it is not JSON; undefined when empty). */
export interface Reply {
  status: number;
  body: Json;
  contentType: string | null;
}

export interface CallOptions {
  /** Signs a user token for this user (Authorization: Bearer). */
  as?: string;
  /** Full control over the Authorization header (null: none at all). */
  authorization?: string | null;
  /** Serialised as JSON unless it is a string (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request to a hub (in-process or a child process): `path` is appended to its URL. */
export async function call(target: { url: string }, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization !== undefined) {
    if (options.authorization !== null) headers.authorization = options.authorization;
  } else if (options.as !== undefined) {
    headers.authorization = `Bearer ${userToken(options.as)}`;
  }
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  return replyOf(await fetch(`${target.url}${path}`, { method, headers, body }));
}

/** A response read whole, as a Reply: its body parsed as JSON, as text when it is not JSON, undefined when empty. */
export async function replyOf(response: Response): Promise<Reply> {
  const text = await response.text();
  let parsed: Json = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: kept as text, and the test's expectations say so
  }
  return { status: response.status, body: parsed, contentType: response.headers.get('content-type') };
}

/** The error shape of every 4xx: JSON {statusCode, error, message, field?}. */
export function expectError(reply: Reply, status: number, field?: string): void {
  expect({ status: reply.status, contentType: reply.contentType }).toEqual({
    status,
    contentType: expect.stringContaining('application/json'),
  });
  expect(reply.body).toEqual(
    expect.objectContaining({ statusCode: status, error: expect.any(String), message: expect.any(String) }),
  );
  if (field !== undefined) expect(reply.body.field).toBe(field);
}

/**
 * POST /v1/events with a service token (and `headers`, e.g. Idempotency-Key); the body is serialised as JSON unless it is a string. Resolves to the raw response.
 * On a connection of its own (node:http, no agent), not fetch's pool: when the hub ends a
 * stream it closes that stream's connection right after the end, and fetch, sharing its pool
 * with the tests' EventSource, could send a publish on that connection in between and fail
 * with "other side closed". A browser retries a request that fails so on a reused connection.
 */
export function publish(target: { url: string }, body: unknown, token = serviceToken(), headers: Record<string, string> = {}): Promise<Response> {
  const url = new URL('/v1/events', target.url);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          resolve(new Response(Buffer.concat(chunks), { status: response.statusCode, headers }));
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}
