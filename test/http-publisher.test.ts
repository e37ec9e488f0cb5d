// libs/publisher's HTTP publisher against a real hub: it validates before it
// sends, retries network errors and 5xx with the same Idempotency-Key (so a
// retry after a lost answer reaches each recipient once), and does not retry
// what the hub refused. Faults are injected in the fetch it is given.
import { HeraldHttpPublisher, PublishFailed, PublishRejected } from '@herald/publisher';
import { startHub, TestHub } from './support/hub.js';
import { openPastReady, RawStream } from './support/sse.js';
import { newUser } from './support/users.js';

describe('HeraldHttpPublisher', () => {
  let hub: TestHub;
  const streams: RawStream[] = [];

  beforeAll(async () => {
    hub = await startHub({ HEARTBEAT_MS: '3600000' });
  });
  afterEach(() => streams.splice(0).forEach((stream) => stream.close()));
  afterAll(() => hub.close());

  const subscribe = (user: string) => openPastReady(hub, streams, user);

  /** A fetch that counts its calls and lets a test break the first ones. */
  function faultyFetch(fault: (call: number, send: () => Promise<Response>) => Promise<Response>) {
    let calls = 0;
    const wrapped = ((input: string | URL | Request, init?: RequestInit) => fault(++calls, () => fetch(input, init))) as typeof fetch;
    return { fetch: wrapped, calls: () => calls };
  }

  const publisher = (options: Partial<ConstructorParameters<typeof HeraldHttpPublisher>[0]> = {}) =>
    new HeraldHttpPublisher({ url: hub.url, token: hub.serviceToken(), backoffMs: 10, ...options });

  it('publishes an event and a batch', async () => {
    const user = newUser('alice');
    const stream = await subscribe(user);
    expect(await publisher().publish({ type: 'one', recipients: [user, 'bob'] })).toBe(2);
    expect(await publisher().publishBatch([{ type: 'two', recipients: [user], persist: false }, { type: 'three', recipients: [user] }])).toEqual({ events: 2, accepted: 2 });
    const frames = await stream.until((frame) => frame.event === 'three', 3000);
    expect(frames.map((frame) => frame.event).sort()).toEqual(['one', 'three', 'two']);
  });

  it.each([false, true])('retries after the answer was lost (persist %s), and the event arrives once', async (persist) => {
    const user = newUser('alice');
    const stream = await subscribe(user);
    // The hub stores the event, but the answer never reaches the publisher, twice.
    const faulty = faultyFetch(async (call, send) => {
      const response = await send();
      if (call <= 2) throw new TypeError('fetch failed: socket hang up');
      return response;
    });
    expect(await publisher({ fetch: faulty.fetch }).publish({ type: 'once', recipients: [user], persist })).toBe(1);
    expect(faulty.calls()).toBe(3);
    await publisher().publish({ type: 'marker', recipients: [user], persist });
    const frames = await stream.until((frame) => frame.event === 'marker', 3000);
    expect(frames.map((frame) => frame.event)).toEqual(['once', 'marker']);
  });

  it('retries a 503, honouring Retry-After', async () => {
    const user = newUser('alice');
    const stream = await subscribe(user);
    const faulty = faultyFetch(async (call, send) =>
      call === 1 ? new Response('{"statusCode":503,"message":"draining"}', { status: 503, headers: { 'retry-after': '0' } }) : send(),
    );
    expect(await publisher({ fetch: faulty.fetch }).publish({ type: 'after.503', recipients: [user], persist: false })).toBe(1);
    expect(faulty.calls()).toBe(2);
    expect((await stream.next(3000)).event).toBe('after.503');
  });

  it('gives up after its retries, saying why', async () => {
    const faulty = faultyFetch(async () => {
      throw new TypeError('fetch failed: connection refused');
    });
    const attempt = publisher({ fetch: faulty.fetch, retries: 2 }).publish({ type: 'lost', recipients: ['alice'] });
    await expect(attempt).rejects.toThrow(PublishFailed);
    await expect(attempt).rejects.toThrow(/after 3 attempts; last: network error: fetch failed: connection refused/);
    expect(faulty.calls()).toBe(3);
  });

  it('does not retry what the hub refused, and names the field', async () => {
    const faulty = faultyFetch((_call, send) => send());
    const noScope = publisher({ fetch: faulty.fetch, token: hub.userToken('alice') });
    await expect(noScope.publish({ type: 'x', recipients: ['alice'] })).rejects.toMatchObject({ name: 'PublishFailed', status: 403 });
    const badKey = publisher({ fetch: faulty.fetch });
    await expect(badKey.publish({ type: 'x', recipients: ['alice'] }, { idempotencyKey: 'has space' })).rejects.toMatchObject({
      name: 'PublishRejected',
      field: 'Idempotency-Key',
    });
    expect(faulty.calls()).toBe(2);
  });

  it('refuses an invalid event before sending anything', async () => {
    const faulty = faultyFetch((_call, send) => send());
    await expect(publisher({ fetch: faulty.fetch }).publish({ type: 'ready', recipients: ['alice'] })).rejects.toThrow(PublishRejected);
    await expect(publisher({ fetch: faulty.fetch }).publishBatch([{ type: 'ok', recipients: ['bad user'] }])).rejects.toMatchObject({
      field: 'events[0].recipients[0]',
    });
    expect(faulty.calls()).toBe(0);
  });
});
