// One SSE stream over a raw TCP socket, for the subscriber processes: the
// request is one pre-built string written at once, the answer is parsed just
// enough (status line, chunked transfer-encoding when the server uses it) to
// hand the body to the SSE parser. http.request costs the client ~0.5 ms of
// CPU per stream; this is a fraction of that, so the generator's one core
// does not cap the open rate measured.
//
// Reads go through net's `onread` into one buffer shared by every socket of
// the process (each read is handled synchronously, before the next), which
// skips the stream machinery and a Buffer allocation per read. Bytes are
// decoded as latin1 (one char per byte, so chunk sizes count right); frame
// data with bytes above 0x7f is re-decoded as UTF-8 by the SSE parser.
import net from 'node:net';
import { now } from './clock.mjs';
import { SseParser } from './sse-parser.mjs';

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

const HEAD = 0; // reading the status line and headers
const SIZE = 1; // chunked: reading a chunk-size line
const DATA = 2; // chunked: `remaining` bytes of chunk data to go
const CRLF = 3; // chunked: the CRLF after a chunk's data
const RAW = 4; // not chunked: the body is the rest of the connection

/** The bytes of `GET path`, as one latin1 string. */
export function streamRequest({ path, token, lastEventId }) {
  return `GET ${path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n${
    token ? `Authorization: Bearer ${token}\r\n` : ''}${
    lastEventId !== undefined ? `Last-Event-ID: ${lastEventId}\r\n` : ''}\r\n`;
}

/**
 * Connects to host:port and writes `request`. Calls onFrame(frame, at) for every
 * frame, `at` the time the socket read that carried it returned; and once,
 * onEnd(reason) when the stream is over: `status <n>` for an answer other than
 * 200, 'closed by the server', 'ended by the server' (the last chunk), an error
 * code, or the reason given to close().
 */
export class SseClient {
  constructor({ host, port, request, onFrame, onEnd }) {
    this.onEnd = onEnd;
    this.state = HEAD;
    this.pending = ''; // undecoded bytes: an incomplete head, chunk-size line or CRLF
    this.remaining = 0;
    this.at = 0;
    this.ended = false;
    this.parser = new SseParser((frame) => onFrame(frame, this.at));
    this.socket = net.connect({
      host,
      port,
      onread: { buffer: READ_BUFFER, callback: (n, buffer) => this.read(buffer.toString('latin1', 0, n)) },
    });
    this.socket.on('error', (err) => this.end(err.code ?? err.message));
    this.socket.on('close', () => this.end('closed by the server'));
    this.socket.write(request, 'latin1');
  }

  /** Ends the stream from this side; onEnd gets `reason`. */
  close(reason = 'closed') {
    this.end(reason);
    this.socket.destroy();
  }

  end(reason) {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(reason);
  }

  read(bytes) {
    if (this.ended) return;
    this.at = now();
    if (this.state === HEAD) {
      bytes = this.pending + bytes;
      const end = bytes.indexOf('\r\n\r\n');
      if (end === -1) {
        this.pending = bytes;
        return;
      }
      this.pending = '';
      const head = bytes.slice(0, end);
      const status = Number(head.slice(9, 12));
      if (status !== 200) return this.close(`status ${status}`);
      this.state = /\r\ntransfer-encoding:[ \t]*chunked/i.test(head) ? SIZE : RAW;
      bytes = bytes.slice(end + 4);
      if (bytes.length === 0) return;
    }
    if (this.state === RAW) return this.parser.push(bytes);
    this.dechunk(bytes);
  }

  /** Strips the chunked framing off `bytes` and passes the data on. */
  dechunk(bytes) {
    if (this.pending) {
      bytes = this.pending + bytes;
      this.pending = '';
    }
    let data = '';
    let at = 0;
    while (at < bytes.length) {
      if (this.state === DATA) {
        const take = Math.min(this.remaining, bytes.length - at);
        data += bytes.slice(at, at + take);
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = CRLF;
      } else if (this.state === CRLF) {
        if (bytes.length - at < 2) break;
        at += 2;
        this.state = SIZE;
      } else {
        const eol = bytes.indexOf('\r\n', at);
        if (eol === -1) break;
        const size = parseInt(bytes.slice(at, eol), 16); // a `;extension` stops parseInt
        at = eol + 2;
        if (!(size > 0)) {
          // The last chunk: the server ended the response.
          if (data) this.parser.push(data);
          return this.close('ended by the server');
        }
        this.remaining = size;
        this.state = DATA;
      }
    }
    if (at < bytes.length) this.pending = bytes.slice(at);
    if (data) this.parser.push(data);
  }
}
