// Memory under abuse: a client that stops reading, thousands of half-open
// requests, a ticket-minting loop. The hub (a child process, so its RSS is
// its own) stays within a bound, and a well-behaved client keeps getting its
// events throughout. The bounds are generous (CI machines vary); the figures
// are printed for the record.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { publish } from './support/http.js';
import { HubProcess, startHubProcess } from './support/processes.js';
import { SEQUENCE_TYPE, SequenceRecorder } from './support/recorder.js';
import { userToken } from './support/tokens.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

/** Resident memory of a process, from /proc. */
function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) / 1024;
}

/** A raw connection that sends `request` and then reads nothing: its answer piles up wherever it can. */
function stalledClient(port: number, request: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.pause();
      socket.write(request);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

describe('memory under abuse', () => {
  let hub: HubProcess;
  let watcher: SequenceRecorder;
  const watched = newUser('watched');
  let sent = 0;

  /** One event to the well-behaved client: every abuse must leave its delivery intact. */
  async function tick(): Promise<void> {
    const response = await publish(hub, { type: SEQUENCE_TYPE, recipients: [watched], data: { n: ++sent }, persist: false });
    expect(response.status).toBe(202);
  }

  beforeAll(async () => {
    hub = await startHubProcess({ HEARTBEAT_MS: '3600000', LOG_LEVEL: 'warn' });
    watcher = await SequenceRecorder.open(hub, watched);
  });
  afterAll(async () => {
    watcher?.stream.close();
    await hub?.kill('SIGKILL');
  });
  afterEach(async () => {
    await tick();
    await waitFor('the watched client to have every event', () => watcher.events.length === sent, 5000);
    expect(watcher.events.map((e) => e.n)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
  });

  it('drops a stream whose client stops reading, once 1 MiB waits for it, and stays bounded', async () => {
    const slow = newUser('slow');
    const before = rssMiB(hub.pid);
    const socket = await stalledClient(hub.port, `GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${userToken(slow)}\r\n\r\n`);
    await sleep(200);
    // A paused client does not see its connection close: the hub's warning says it dropped it.
    const dropped = () => hub.output.join('').includes('The client is not reading its events');
    // Up to 40 MiB of events: more than the kernel's buffers on both sides and the 1 MiB the hub lets wait.
    const pad = 'x'.repeat(60_000);
    for (let i = 0; i < 700 && !dropped(); i++) {
      expect((await publish(hub, { type: 'big', recipients: [slow], data: { i, pad }, persist: false })).status).toBe(202);
      if (i % 100 === 0) await tick();
    }
    await waitFor('the hub to drop the stalled stream', dropped, 10_000);
    const grown = rssMiB(hub.pid) - before;
    console.log(`stalled reader: dropped; hub RSS +${grown.toFixed(1)} MiB`);
    expect(grown).toBeLessThan(150);
    socket.destroy();
  });

  it('holds 2,000 half-open requests for little memory, and answers others meanwhile', async () => {
    const before = rssMiB(hub.pid);
    const sockets = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => stalledClient(hub.port, `GET /v1/stream HTTP/1.1\r\nHost: x\r\nX-Half: ${i}\r\n`)),
    );
    await sleep(500);
    const started = Date.now();
    expect((await fetch(`${hub.url}/health/live`)).status).toBe(200);
    const answeredMs = Date.now() - started;
    await tick();
    const grown = rssMiB(hub.pid) - before;
    console.log(`2,000 half-open requests: hub RSS +${grown.toFixed(1)} MiB, a request answered in ${answeredMs} ms`);
    expect(grown).toBeLessThan(100);
    for (const socket of sockets) socket.destroy();
  });

  it('refuses a ticket-minting loop past RATE_LIMIT_TICKETS (600 a minute per user), for little memory', async () => {
    const minter = userToken(newUser('minter'));
    const before = rssMiB(hub.pid);
    const statuses: Record<number, number> = {};
    for (let round = 0; round < 50; round++) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, () => fetch(`${hub.url}/v1/stream-tickets`, { method: 'POST', headers: { authorization: `Bearer ${minter}` } })),
      );
      for (const answer of answers) {
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
        await answer.arrayBuffer();
      }
      if (round % 10 === 0) await tick();
    }
    const grown = rssMiB(hub.pid) - before;
    console.log(`5,000 ticket requests: ${JSON.stringify(statuses)}; hub RSS +${grown.toFixed(1)} MiB`);
    expect(statuses).toEqual({ 201: 600, 429: 4400 });
    expect(grown).toBeLessThan(100);
  });
});
