// Free ports, the loopback addresses the servers answer on, and waiting until
// something listens.
import net from 'node:net';
import { sleep } from './clock.mjs';

/**
 * Every server under test answers on these (all of 127/8 is loopback); the
 * subscribers spread their streams over them as destinations. The kernel then
 * picks each client port at connect() from a range of its own per destination
 * (~28,000), cheaply, where binding a source address (localAddress) makes it
 * pick the port at bind() time, which slows down as thousands are in use.
 */
export const LOOPBACK_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function canConnect(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once `check()` is true; rejects after `timeoutMs`, or at once when `failed()` returns a reason. */
export async function waitFor(check, what, timeoutMs = 15_000, failed = () => null) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = failed();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not up within ${timeoutMs} ms`);
    await sleep(50);
  }
}
