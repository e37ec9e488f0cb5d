import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody } from '../errors/http-error.filter.js';

/**
 * What Node refuses before any request exists (headers too large, not HTTP,
 * too slow), for the server's `clientError` event: answered in the JSON every
 * other error has, naming what was wrong, where Node and Fastify would answer
 * a bare status line or a generic message.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, message, field] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, `headers: larger than ${maxHeaderSize} bytes in all`, 'headers']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request: not received in time', 'request']
        : [400, `request: is not valid HTTP (${err.code ?? err.message})`, 'request'];
  const body = JSON.stringify(errorBody(status, message, { field }));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
