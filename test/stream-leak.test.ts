/**
 * Opening and closing 1,000 streams leaves nothing behind: no registry entry,
 * no token-expiry entry, no socket, no timer. Each stream is its own socket
 * (node:http with `agent: false`), as each browser tab would be.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHub, TestHub } from './support/hub.js';
import { waitFor } from './support/wait.js';

/**
 * `jest --detectOpenHandles` records a stack trace for every async resource,
 * which makes 1,000 streams take minutes; under it the test opens 100.
 */
const DETECTING_OPEN_HANDLES = process.argv.includes('--detectOpenHandles');
const USERS = DETECTING_OPEN_HANDLES ? 20 : 200;
const STREAMS_PER_USER = 5;
const STREAMS = USERS * STREAMS_PER_USER;
const BATCH = 100;
/** Resource types a stream could leave behind. */
const WATCHED = ['TCPSocketWrap', 'Timeout'] as const;

interface OpenStream {
  request: http.ClientRequest;
  /** Everything received so far. */
  text(): string;
  closed: Promise<void>;
}

/** Opens a stream on its own socket; resolves once its `ready` frame has arrived. */
function openStream(hub: TestHub, user: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    let received = '';
    const request = http.get(
      `${hub.url}/v1/stream?access_token=${hub.userToken(user)}`,
      { agent: false },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          return reject(new Error(`stream for ${user}: HTTP ${response.statusCode}`));
        }
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          received += chunk;
          if (received.includes('event: ready')) resolve(stream); // later calls are no-ops
        });
        response.on('error', () => undefined); // destroyed by the test
      },
    );
    const closed = new Promise<void>((done) => request.on('close', done));
    const stream: OpenStream = { request, text: () => received, closed };
    request.on('error', reject);
  });
}

/** Live resources of this process, counted by type (the watched ones only). */
function resources(): Record<string, number> {
  const counts = Object.fromEntries(WATCHED.map((type) => [type, 0])) as Record<string, number>;
  for (const type of process.getActiveResourcesInfo()) if (type in counts) counts[type]!++;
  return counts;
}

/**
 * The watched counts once they have held still for a few samples: jest may run
 * this file in a worker another file just used, whose closing sockets and
 * servers are still counted for a moment.
 */
async function settledResources(): Promise<Record<string, number>> {
  let last = resources();
  for (let stable = 0, tries = 0; stable < 5 && tries < 100; tries++) {
    await sleep(50);
    const now = resources();
    stable = sameCounts(now, last) ? stable + 1 : 0;
    last = now;
  }
  return last;
}

function registryState(hub: TestHub) {
  const { size, userCount, expiryCount } = hub.registry;
  return { size, userCount, expiryCount };
}

/** POST /v1/events on a socket of its own, closed after the answer, so it leaves no keep-alive socket. */
function publish(hub: TestHub, body: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${hub.url}/v1/events`, {
      method: 'POST',
      agent: false,
      headers: { authorization: `Bearer ${hub.serviceToken()}`, 'content-type': 'application/json' },
    });
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode!));
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

describe('stream lifecycle', () => {
  let hub: TestHub;
  const streams: OpenStream[] = [];
  beforeAll(async () => {
    hub = await startHub({ STREAMS_PER_USER_MAX: String(STREAMS_PER_USER), HEARTBEAT_MS: '1000' });
  });
  afterAll(async () => {
    streams.forEach((stream) => stream.request.destroy());
    await hub.close();
  });

  it(`releases every registry entry, socket and timer after ${STREAMS} streams open and close`, async () => {
    const baseline = { registry: registryState(hub), resources: await settledResources() };
    expect(baseline.registry).toEqual({ size: 0, userCount: 0, expiryCount: 0 });

    const users = Array.from({ length: USERS }, (_, i) => `leak-${i}`);
    const wanted = users.flatMap((user) => Array<string>(STREAMS_PER_USER).fill(user));
    for (let i = 0; i < wanted.length; i += BATCH) {
      streams.push(...(await Promise.all(wanted.slice(i, i + BATCH).map((user) => openStream(hub, user)))));
    }
    expect(registryState(hub)).toEqual({ size: STREAMS, userCount: USERS, expiryCount: STREAMS });

    // A delivery and a heartbeat go through every stream before it closes.
    expect(await publish(hub, { type: 'leak.check', recipients: users })).toBe(202);
    const sawAll = (text: string) => streams.every((stream) => stream.text().includes(text));
    await waitFor('the event and a ping on every stream', () => sawAll('event: leak.check') && sawAll(': ping'), 10_000);

    streams.forEach((stream) => stream.request.destroy());
    await Promise.all(streams.map((stream) => stream.closed));
    await waitFor('the registry to empty', () => hub.registry.size === 0, 10_000);
    expect(registryState(hub)).toEqual(baseline.registry);

    // The server side of each socket closes a moment after the client's.
    await waitFor('sockets and timers back to baseline', () => sameCounts(resources(), baseline.resources), 5000).catch(
      () => undefined, // the assertion below shows the difference
    );
    expect(resources()).toEqual(baseline.resources);
  }, 30_000); // ~5 s
});

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  return WATCHED.every((type) => a[type] === b[type]);
}
