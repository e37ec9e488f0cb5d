// A minimal keep-alive HTTP/1.1 client for the publisher: a pool of sockets,
// one request in flight on each, requests written as pre-built bytes and
// answers parsed just enough to get the status. Far cheaper than http.request,
// so the load generator's own CPU does not cap the rates measured.
import net from 'node:net';

export class RawHttpPool {
  constructor({ host, port, connections = 64 }) {
    this.host = host;
    this.port = port;
    this.queue = []; // {head, body, done}
    this.idle = [];
    this.sockets = new Set();
    for (let i = 0; i < connections; i++) this.connect();
  }

  connect() {
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    const conn = { socket, buffer: '', current: null };
    this.sockets.add(conn);
    socket.on('connect', () => this.release(conn));
    socket.on('data', (chunk) => this.onData(conn, chunk));
    const gone = () => {
      if (!this.sockets.delete(conn)) return;
      const idleAt = this.idle.indexOf(conn);
      if (idleAt !== -1) this.idle.splice(idleAt, 1);
      if (conn.current) conn.current.done(0);
      conn.current = null;
      if (!this.closed) setTimeout(() => this.connect(), 20);
    };
    socket.on('error', gone);
    socket.on('close', gone);
  }

  /** Sends `method path` with a JSON `body`; `done(status)` is called with the status (0 when the connection failed). */
  send(head, body, done) {
    this.queue.push({ head, body, done });
    if (this.idle.length > 0) this.release(this.idle.pop());
  }

  release(conn) {
    const next = this.queue.shift();
    if (!next) {
      this.idle.push(conn);
      return;
    }
    conn.current = next;
    conn.buffer = '';
    conn.socket.write(`${next.head}Content-Length: ${Buffer.byteLength(next.body)}\r\n\r\n${next.body}`, 'latin1');
  }

  onData(conn, chunk) {
    conn.buffer += chunk;
    for (;;) {
      const headEnd = conn.buffer.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const head = conn.buffer.slice(0, headEnd);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let end;
      if (length) {
        end = headEnd + 4 + Number(length[1]);
        if (conn.buffer.length < end) return;
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const last = conn.buffer.indexOf('\r\n0\r\n\r\n', headEnd + 2);
        if (last === -1) return;
        end = last + 7;
      } else {
        end = headEnd + 4;
      }
      conn.buffer = conn.buffer.slice(end);
      const current = conn.current;
      conn.current = null;
      current?.done(status);
      this.release(conn);
    }
  }

  /** Requests waiting for a connection. */
  get backlog() {
    return this.queue.length;
  }

  /** Fails every queued request and closes the sockets. */
  close() {
    this.closed = true;
    for (const item of this.queue.splice(0)) item.done(-1);
    for (const conn of this.sockets) conn.socket.destroy();
  }
}

/** The request line and headers of a POST, ending before Content-Length. */
export function postHead(path, host, authorization) {
  return `POST ${path} HTTP/1.1\r\nHost: ${host}\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}Content-Type: application/json\r\n`;
}
