// The parent's handle on the publisher process.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stop, track } from './processes.mjs';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'publisher-worker.mjs');

function ask(child, message, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code) => reject(new Error(`publisher exited (${code})`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

/**
 * mode 'http' (Herald POST /v1/events; persist), 'batch' (Herald POST
 * /v1/events/batch, what is due at a tick in one request; persist), 'nchan'
 * (POST /pub/<user>) or 'xadd' (redisUrl, stream). target: {host, port}.
 */
export async function startPublisher({ mode, target = {}, persist = false, redisUrl, stream = 'herald:ingress', connections }) {
  const child = track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  await ask(child, { cmd: 'connect', mode, host: target.host, port: target.port, persist, redisUrl, stream, connections }, 'connected');
  return {
    pid: child.pid,
    /** Unicast at `rate`/s for `durationMs`; answers {acked, statuses, unanswered, sent, t0}. */
    rate: (options) => ask(child, { cmd: 'rate', ...options }, 'done'),
    /** Every group (a recipients list) as one event, all at once; with `topic` (Herald), each is published to that topic too. */
    burst: (options) => ask(child, { cmd: 'burst', ...options }, 'done'),
    close: () => stop(child, 'SIGKILL'),
  };
}
