import type { IncomingHttpHeaders } from 'node:http';

/** What the credentials are read from: the request as the HTTP platform gives it to Nest, its query string parsed. */
export interface HttpRequest {
  readonly headers: IncomingHttpHeaders;
  readonly query: unknown;
}

export const TOKEN_COOKIE = 'herald_token';
/** Query parameters that carry credentials, and so are never logged in clear. */
export const SECRET_QUERY_PARAMS = ['access_token', 'ticket'] as const;

/** A credential, and where it came from: the error for an empty or repeated one names the place. */
export type Credential = { kind: 'token' | 'ticket'; value: string; from: 'header' | 'ticket' | 'access_token' | 'cookie' };

/** A credential query parameter sent more than once (`?ticket=a&ticket=b`): which one is meant is not guessed. */
export class RepeatedCredentialError extends Error {
  constructor(readonly parameter: string) {
    super(`?${parameter}= is given more than once`);
  }
}

/** The bearer token of the Authorization header; undefined when there is no header. */
export function bearerToken(request: HttpRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : '';
}

/**
 * Where a stream's credential comes from, most explicit first: the header, a
 * ticket, a query token, then the ambient cookie (which a stale login may
 * leave behind while the page passes a fresh token).
 */
export function streamCredential(request: HttpRequest): Credential | undefined {
  const header = bearerToken(request);
  if (header !== undefined) return { kind: 'token', value: header, from: 'header' };
  const ticket = queryString(request, 'ticket');
  if (ticket !== undefined) return { kind: 'ticket', value: ticket, from: 'ticket' };
  const queryToken = queryString(request, 'access_token');
  if (queryToken !== undefined) return { kind: 'token', value: queryToken, from: 'access_token' };
  const cookie = readCookie(request.headers.cookie, TOKEN_COOKIE);
  if (cookie !== undefined) return { kind: 'token', value: cookie, from: 'cookie' };
  return undefined;
}

/** @throws RepeatedCredentialError when the parameter is there more than once. */
function queryString(request: HttpRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown>)[name];
  if (value === undefined || typeof value === 'string') return value;
  throw new RepeatedCredentialError(name);
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return undefined;
}

const SECRET_NAMES: ReadonlySet<string> = new Set(SECRET_QUERY_PARAMS);

/**
 * The URL with every credential-carrying query value replaced, for logs and
 * metrics; the rest is left as sent. Names are compared decoded, as the
 * server reads them (`access%5Ftoken` is `access_token`), in any case and
 * with any bracket suffix (`access_token[]`, `Ticket[0]`): a spelling the hub
 * does not accept is still a credential its sender meant to send.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((param) => {
      const eq = param.indexOf('=');
      const name = eq === -1 ? param : param.slice(0, eq);
      return SECRET_NAMES.has(decodeName(name)) ? `${name}=[redacted]` : param;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

function decodeName(name: string): string {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    // kept as sent
  }
  return decoded.replace(/\[[^\]]*\]$/, '').trim().toLowerCase();
}
