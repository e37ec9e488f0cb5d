// A round-robin TCP proxy in front of the hubs, as a load balancer: each new
// connection goes to the next target that accepts it (a refused connect, a
// dead hub, moves on to the next one). Two faults live here: a network delay
// (every chunk, both ways, held `delayMs` before it is passed on, order
// kept), and a reset (every open connection cut at once, as a balancer
// restart or a network blip would). Backpressure is kept end to end: a
// client that stops reading makes the proxy stop reading from the hub, so
// the hub sees the stalled client as it would without a proxy.
import net from 'node:net';

const QUEUE_LIMIT = 256 * 1024;

export class Proxy {
  constructor(targets) {
    this.targets = [...targets];
    this.turn = 0;
    this.delayMs = 0;
    this.sockets = new Set();
    this.pumps = new Set();
    this.connections = 0;
    this.refused = 0;
    /** Open connections by the client's port: {client, upstream, down}. */
    this.byClientPort = new Map();
  }

  async listen(port) {
    this.server = net.createServer((client) => this.accept(client));
    this.server.on('error', () => undefined);
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  setDelay(ms) {
    this.delayMs = ms;
    if (ms === 0) for (const pump of this.pumps) pump.flush();
  }

  /**
   * Stops reading from the hub on the connection of the client at local port
   * `port`, for `ms`: what the hub sends piles up in its socket buffer and then
   * in the hub, as for a client that does not read (one whose socket buffers
   * are small). Returns whether the connection was found.
   */
  stallClient(port, ms) {
    const entry = this.byClientPort.get(port);
    if (!entry) return false;
    entry.down.hold(ms);
    return true;
  }

  /** Cuts every open connection. */
  resetAll() {
    const n = this.sockets.size;
    for (const socket of this.sockets) socket.destroy();
    return n;
  }

  close() {
    this.resetAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  accept(client) {
    this.connections++;
    this.sockets.add(client);
    client.setNoDelay(true);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const attempt = (tries) => {
      if (client.destroyed) return;
      if (tries >= this.targets.length) {
        this.refused++;
        client.destroy();
        return;
      }
      const port = this.targets[this.turn++ % this.targets.length];
      const upstream = net.connect(port, '127.0.0.1');
      upstream.once('error', () => attempt(tries + 1));
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        upstream.setNoDelay(true);
        upstream.on('error', () => {
          upstream.destroy();
          client.destroy();
        });
        this.sockets.add(upstream);
        upstream.once('close', () => this.sockets.delete(upstream));
        client.on('error', () => upstream.destroy());
        const up = new Pump(this, client, upstream);
        const down = new Pump(this, upstream, client);
        const clientPort = client.remotePort;
        this.byClientPort.set(clientPort, { client, upstream, down });
        client.once('close', () => {
          if (this.byClientPort.get(clientPort)?.client === client) this.byClientPort.delete(clientPort);
        });
        client.resume();
        // Either side gone: once what is queued towards the other is out, end it too.
        client.once('close', () => {
          up.finish();
          if (!upstream.destroyed) upstream.destroy();
          down.stop();
        });
        upstream.once('close', () => down.finish());
      });
    };
    attempt(0);
  }
}

/** Moves bytes from `src` to `dst`, each chunk held the proxy's delay, in order, with backpressure. */
class Pump {
  constructor(proxy, src, dst) {
    this.proxy = proxy;
    this.src = src;
    this.dst = dst;
    this.queue = [];
    this.queued = 0;
    this.timer = null;
    this.blocked = false;
    this.ended = false;
    this.held = false;
    proxy.pumps.add(this);
    src.on('data', (chunk) => this.push(chunk));
    src.once('end', () => {
      this.ended = true;
      this.flush();
    });
  }

  push(chunk) {
    const delay = this.proxy.delayMs;
    if (delay === 0 && this.queue.length === 0 && !this.blocked) {
      this.write(chunk);
    } else {
      this.queue.push({ chunk, due: Date.now() + delay });
      this.queued += chunk.length;
      this.schedule();
    }
    this.throttle();
  }

  write(chunk) {
    if (this.dst.destroyed) return;
    if (!this.dst.write(chunk)) {
      this.blocked = true;
      this.dst.once('drain', () => {
        this.blocked = false;
        this.flush();
      });
    }
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    const delayOff = this.proxy.delayMs === 0;
    while (this.queue.length > 0 && !this.blocked) {
      const head = this.queue[0];
      if (!delayOff && head.due > Date.now()) break;
      this.queue.shift();
      this.queued -= head.chunk.length;
      this.write(head.chunk);
    }
    if (this.queue.length > 0) this.schedule();
    else if (this.ended && !this.blocked) this.endDst();
    this.throttle();
  }

  schedule() {
    if (this.timer || this.blocked || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0].due - Date.now()));
  }

  /** Reads nothing from the source for `ms`. */
  hold(ms) {
    this.held = true;
    this.throttle();
    setTimeout(() => {
      this.held = false;
      this.throttle();
    }, ms);
  }

  throttle() {
    if (this.src.destroyed) return;
    if (this.blocked || this.held || this.queued > QUEUE_LIMIT) this.src.pause();
    else this.src.resume();
  }

  endDst() {
    this.proxy.pumps.delete(this);
    if (!this.dst.destroyed) this.dst.end();
  }

  /** The source closed: pass on what is queued, then end the destination (once it has taken it all). */
  finish() {
    this.ended = true;
    this.flush();
  }

  stop() {
    clearTimeout(this.timer);
    this.queue = [];
    this.queued = 0;
    this.proxy.pumps.delete(this);
  }
}
