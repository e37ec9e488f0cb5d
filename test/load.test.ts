// Correctness under load (the benchmark's CI counterpart, bench/README.md):
// 200 streams, 5,000 events published over HTTP at a steady rate, half live
// (persist: false) and half persisted, each to one user; then 10,000 more in
// batches (POST /v1/events/batch), mixed live and persisted. Every
// acknowledged event must reach its user's stream exactly once, in publish
// order, with strictly increasing ids. No timing is asserted: CI machines vary.
import http from 'node:http';
import { startHub, TestHub } from './support/hub.js';

const STREAMS = 200;
const EVENTS = 5000;
const RATE = 2000; // events per second, scheduled; lanes wait for answers, so a slow machine only slows it down
const LANES = 20; // concurrent publishers; a user's events all go through one lane, in order
const BATCHED = 10_000;
const BATCH = 250;

interface Received {
  q: number;
  id: string;
}

interface Stream {
  user: string;
  received: Received[];
  req: http.ClientRequest;
}

/** Opens a stream with node:http (no agent) and records every event's q and id. */
function openStream(hub: TestHub, user: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${hub.url}/v1/stream`);
    const stream = { user, received: [] as Received[] } as Stream;
    let buffer = '';
    stream.req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, agent: false, headers: { authorization: `Bearer ${hub.userToken(user)}` } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream for ${user}: ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = new Map<string, string>();
            for (const line of block.split('\n')) {
              const colon = line.indexOf(':');
              if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
            }
            if (fields.get('event') === 'ready') resolve(stream);
            else if (fields.get('event') === 'bench') {
              const envelope = JSON.parse(fields.get('data')!) as { data: { q: number } };
              stream.received.push({ q: envelope.data.q, id: fields.get('id')! });
            }
          }
        });
      },
    );
    stream.req.on('error', (err) => reject(err));
    stream.req.end();
  });
}

const compareIds = (a: string, b: string) => {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
};

describe('delivery under load', () => {
  let hub: TestHub;
  let streams: Stream[];
  const agent = new http.Agent({ keepAlive: true, maxSockets: LANES });

  beforeAll(async () => {
    hub = await startHub({ HEARTBEAT_MS: '3600000', LOG_LEVEL: 'warn' });
    streams = await Promise.all(Array.from({ length: STREAMS }, (_, i) => openStream(hub, `load${i}`)));
  });
  afterAll(async () => {
    for (const stream of streams ?? []) stream.req.destroy();
    agent.destroy();
    await hub?.close();
  });

  /** Every acknowledged q so far, over the tests: the streams keep receiving across them. */
  const acked: number[] = [];

  function post(body: string, token: string, path = '/v1/events'): Promise<number> {
    return new Promise((resolve) => {
      const url = new URL(`${hub.url}${path}`);
      const req = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  }

  /** Publishes events [from, to) at RATE, event q to user q mod STREAMS; resolves to the acknowledged q. */
  async function publish(from: number, to: number, persist: boolean): Promise<number[]> {
    const token = hub.serviceToken();
    const t0 = Date.now();
    const acked: number[] = [];
    const lane = async (k: number) => {
      for (let q = from; q < to; q++) {
        if ((q % STREAMS) % LANES !== k) continue;
        const wait = t0 + ((q - from) * 1000) / RATE - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const body = JSON.stringify({ type: 'bench', recipients: [`load${q % STREAMS}`], persist, data: { q } });
        if ((await post(body, token)) === 202) acked.push(q);
      }
    };
    await Promise.all(Array.from({ length: LANES }, (_, k) => lane(k)));
    return acked;
  }

  async function delivered(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (streams.reduce((sum, s) => sum + s.received.length, 0) < count && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Each stream has exactly its acknowledged events, in publish order, with increasing ids. */
  async function expectExactlyOnceInOrder(): Promise<void> {
    await delivered(acked.length);
    const problems: string[] = [];
    for (const [i, stream] of streams.entries()) {
      const expected = acked.filter((q) => q % STREAMS === i).sort((a, b) => a - b);
      const got = stream.received.map((r) => r.q);
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        const seen = new Set<number>();
        const dups = got.filter((q) => seen.has(q) || !seen.add(q));
        const missing = expected.filter((q) => !seen.has(q));
        problems.push(`${stream.user}: ${got.length} received for ${expected.length} expected; missing ${missing.slice(0, 5)}; duplicated ${dups.slice(0, 5)}; order ${got.slice(0, 10)}`);
      }
      for (let k = 1; k < stream.received.length; k++) {
        if (compareIds(stream.received[k].id, stream.received[k - 1].id) <= 0) {
          problems.push(`${stream.user}: id ${stream.received[k].id} after ${stream.received[k - 1].id}`);
          break;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(streams.reduce((sum, s) => sum + s.received.length, 0)).toBe(acked.length);
  }

  it('delivers every acknowledged event exactly once, in order per stream, live and persisted', async () => {
    acked.push(...(await publish(0, EVENTS / 2, false)));
    acked.push(...(await publish(EVENTS / 2, EVENTS, true)));
    expect(acked.length).toBe(EVENTS); // every publish was accepted
    await expectExactlyOnceInOrder();
  }, 30_000);

  it('does so for events published in batches, each batch mixing live and persisted', async () => {
    const token = hub.serviceToken();
    for (let from = EVENTS; from < EVENTS + BATCHED; from += BATCH) {
      const qs = Array.from({ length: BATCH }, (_, k) => from + k);
      // A user's events of one batch share `persist`: the batch keeps order only among those.
      const events = qs.map((q) => ({ type: 'bench', recipients: [`load${q % STREAMS}`], persist: (q % STREAMS) % 2 === 0, data: { q } }));
      expect(await post(JSON.stringify({ events }), token, '/v1/events/batch')).toBe(202);
      acked.push(...qs);
    }
    await expectExactlyOnceInOrder();
  }, 30_000);
});
