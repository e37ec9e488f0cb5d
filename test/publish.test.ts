// Publish over HTTP (API.md: Publish, HTTP): POST /v1/events with a service token.
// Every rejection names its field, and a rejected publish delivers nothing.
import jwt from 'jsonwebtoken';
import { gzipSync } from 'node:zlib';
import { openPastReady, RawStream, SseFrame } from './support/sse.js';
import { startHub, TestHub } from './support/hub.js';
import { TEST_SECRET } from './support/tokens.js';

// ---------------------------------------------------------------- helpers

const MAX_BODY_BYTES = 64 * 1024;

const tokenWith = (claims: object, secret = TEST_SECRET, options: jwt.SignOptions = { expiresIn: 3600 }) =>
  jwt.sign(claims, secret, { algorithm: 'HS256', ...options });

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** A publish body of exactly `bytes` bytes, addressed to `recipients`. */
function bodyOfSize(bytes: number, recipients: string[] = ['alice']): string {
  const empty = JSON.stringify({ type: 'big', recipients, data: { pad: '' } });
  return JSON.stringify({ type: 'big', recipients, data: { pad: 'x'.repeat(bytes - Buffer.byteLength(empty)) } });
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function answer(response: Response): Promise<Answer> {
  expect(response.headers.get('content-type')).toContain('application/json');
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function expectError(result: Answer, status: number, field?: string): void {
  expect(result).toEqual({
    status,
    body: expect.objectContaining({ statusCode: status, error: expect.any(String), message: expect.any(String) }),
  });
  if (field !== undefined) expect(result.body.field).toBe(field);
}

/** The parsed `data` of an event frame. */
const envelope = (frame: SseFrame) => JSON.parse(frame.data!) as Record<string, unknown>;

// ---------------------------------------------------------------- tests

describe('POST /v1/events', () => {
  let hub: TestHub;
  let post: (body: unknown, init?: { token?: string; contentType?: string; query?: string }) => Promise<Response>;
  const streams: RawStream[] = [];

  const subscribe = (user: string) => openPastReady(hub, streams, user);

  beforeAll(async () => {
    hub = await startHub({ HEARTBEAT_MS: '3600000' });
    post = (body, { token = hub.serviceToken(), contentType = 'application/json', query = '' } = {}) =>
      fetch(`${hub.url}/v1/events${query}`, {
        method: 'POST',
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': contentType },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
  });
  afterEach(() => streams.splice(0).forEach((stream) => stream.close()));
  afterAll(() => hub.close());

  describe('accepts a valid event with 202 {accepted}', () => {
    it.each([
      ['the contract example', { type: 'comment.created', recipients: ['alice', 'bob'], data: { postId: '42' }, persist: true }, 2],
      ['no data and no persist', { type: 'hello', recipients: ['alice'] }, 1],
      ['persist false', { type: 'hello', recipients: ['alice'], persist: false }, 1],
      ['empty data', { type: 'hello', recipients: ['alice'], data: {} }, 1],
      ['a type of 64 characters', { type: 'a'.repeat(64), recipients: ['alice'] }, 1],
      ['a type of 1 character', { type: 'a', recipients: ['alice'] }, 1],
      ['a type using every allowed character', { type: 'a-z.0_9', recipients: ['alice'] }, 1],
      ['a recipient of 128 characters', { type: 'hello', recipients: ['r'.repeat(128)] }, 1],
      ['a recipient using every allowed character', { type: 'hello', recipients: ['Az09_.:@-'] }, 1],
      ['1000 recipients', { type: 'hello', recipients: ids('user', 1000) }, 1000],
      ['duplicate recipients, counted once', { type: 'hello', recipients: ['alice', 'bob', 'alice', 'bob', 'carol'] }, 3],
      ['1000 recipients that are one user', { type: 'hello', recipients: Array(1000).fill('alice') }, 1],
      ['nested data', { type: 'hello', recipients: ['alice'], data: { a: { b: [1, 'two', null, true] } } }, 1],
    ])('%s', async (_name, body, accepted) => {
      expect(await answer(await post(body))).toEqual({ status: 202, body: { accepted } });
    });

    it('from a token whose scope holds events:publish among others', async () => {
      const token = tokenWith({ sub: 'svc', scope: 'inbox:read events:publish other' });
      expect(await answer(await post({ type: 'hello', recipients: ['alice'] }, { token }))).toEqual({
        status: 202,
        body: { accepted: 1 },
      });
    });

    it('with a body of exactly 64 KiB', async () => {
      const body = bodyOfSize(MAX_BODY_BYTES);
      expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES);
      expect((await post(body)).status).toBe(202);
    });

    it('with a charset in the Content-Type', async () => {
      const response = await post({ type: 'hello', recipients: ['alice'] }, { contentType: 'application/json; charset=utf-8' });
      expect(response.status).toBe(202);
    });
  });

  describe('delivers what it accepts', () => {
    it('as the contract envelope, with data defaulting to {}', async () => {
      const stream = await subscribe('alice');
      const before = Date.now();
      expect((await post({ type: 'hello', recipients: ['alice'], persist: false })).status).toBe(202);
      const frame = await stream.next(3000);
      expect(frame.event).toBe('hello');
      expect(envelope(frame)).toEqual({ id: frame.id, type: 'hello', data: {}, createdAt: expect.any(String) });
      const createdAt = Date.parse(String(envelope(frame).createdAt));
      expect(new Date(createdAt).toISOString()).toBe(envelope(frame).createdAt);
      expect(createdAt).toBeGreaterThanOrEqual(before - 1000);
    });

    it('naming its inbox item when persisted (the default)', async () => {
      const stream = await subscribe('alice');
      expect((await post({ type: 'stored', recipients: ['alice'] })).status).toBe(202);
      const frame = await stream.next(3000);
      expect(envelope(frame)).toEqual({
        id: frame.id,
        type: 'stored',
        data: {},
        createdAt: expect.any(String),
        notificationId: expect.stringMatching(/^\d+$/),
      });
    });

    it('once per user when recipients repeat a user', async () => {
      const stream = await subscribe('alice');
      expect(await answer(await post({ type: 'dup', recipients: ['alice', 'alice', 'alice'] }))).toEqual({
        status: 202,
        body: { accepted: 1 },
      });
      expect(await post({ type: 'marker', recipients: ['alice'] })).toHaveProperty('status', 202);
      const frames = await stream.until((frame) => frame.event === 'marker', 2000);
      expect(frames.map((frame) => frame.event)).toEqual(['dup', 'marker']);
    });

    it('to a user among 1000 recipients, with persist false', async () => {
      const stream = await subscribe('alice');
      const recipients = [...ids('user', 999), 'alice'];
      expect((await post({ type: 'wide', recipients, data: { n: 1 }, persist: false })).status).toBe(202);
      expect(envelope(await stream.next(3000))).toMatchObject({ type: 'wide', data: { n: 1 } });
    });
  });

  describe('rejects a bad body with 400 naming the field', () => {
    const valid = { type: 'hello', recipients: ['alice'] };

    it.each<[string, unknown, string]>([
      ['an array body', [valid], 'body'],
      ['an unknown field', { ...valid, extra: 1 }, 'extra'],
      ['a field in the wrong case', { ...valid, Persist: true }, 'Persist'],
      ['a misspelt field', { type: 'hello', recipient: ['alice'] }, 'recipient'],
      ['no type', { recipients: ['alice'] }, 'type'],
      ['an empty type', { ...valid, type: '' }, 'type'],
      ['a type of 65 characters', { ...valid, type: 'a'.repeat(65) }, 'type'],
      ['a type in upper case', { ...valid, type: 'Comment.Created' }, 'type'],
      ['a type with a space', { ...valid, type: 'comment created' }, 'type'],
      ['a type with a slash', { ...valid, type: 'comment/created' }, 'type'],
      ['a type with a colon', { ...valid, type: 'comment:created' }, 'type'],
      ['a type with a newline', { ...valid, type: 'a\nevent: ready' }, 'type'],
      ['a numeric type', { ...valid, type: 42 }, 'type'],
      ['a null type', { ...valid, type: null }, 'type'],
      ['the reserved type ready', { ...valid, type: 'ready' }, 'type'],
      ['the reserved type reset', { ...valid, type: 'reset' }, 'type'],
      ['the reserved type expired', { ...valid, type: 'expired' }, 'type'],
      ['the reserved type error', { ...valid, type: 'error' }, 'type'],
      ['the type inbox.read, which the hub sends of its own', { ...valid, type: 'inbox.read' }, 'type'],
      ['no recipients', { type: 'hello' }, 'recipients'],
      ['empty recipients', { ...valid, recipients: [] }, 'recipients'],
      ['recipients as a string', { ...valid, recipients: 'alice' }, 'recipients'],
      ['recipients as an object', { ...valid, recipients: { 0: 'alice' } }, 'recipients'],
      ['null recipients', { ...valid, recipients: null }, 'recipients'],
      ['1001 recipients', { ...valid, recipients: ids('user', 1001) }, 'recipients'],
      ['1001 recipients that are one user', { ...valid, recipients: Array(1001).fill('alice') }, 'recipients'],
      ['a recipient with a space', { ...valid, recipients: ['alice', 'bob', 'carol', 'bad user'] }, 'recipients[3]'],
      ['a numeric recipient', { ...valid, recipients: [42] }, 'recipients[0]'],
      ['an empty recipient', { ...valid, recipients: ['alice', ''] }, 'recipients[1]'],
      ['a recipient of 129 characters', { ...valid, recipients: ['r'.repeat(129)] }, 'recipients[0]'],
      ['a null recipient', { ...valid, recipients: ['alice', null] }, 'recipients[1]'],
      ['a nested array recipient', { ...valid, recipients: [['alice']] }, 'recipients[0]'],
      ['data as an array', { ...valid, data: [1, 2] }, 'data'],
      ['null data', { ...valid, data: null }, 'data'],
      ['data as a string', { ...valid, data: '{}' }, 'data'],
      ['data as a number', { ...valid, data: 1 }, 'data'],
      ['persist as a string', { ...valid, persist: 'true' }, 'persist'],
      ['persist as a number', { ...valid, persist: 1 }, 'persist'],
      ['null persist', { ...valid, persist: null }, 'persist'],
    ])('%s', async (_name, body, field) => {
      expectError(await answer(await post(body)), 400, field);
    });

    it.each([
      ['a truncated object', '{"type":"hello",'],
      ['an unclosed brace', '{'],
      ['plain text', 'not json'],
      ['a trailing comma', '{"type":"hello","recipients":["alice"],}'],
      ['single quotes', "{'type':'hello'}"],
    ])('invalid JSON: %s → field body', async (_name, raw) => {
      const result = await answer(await post(raw));
      expectError(result, 400, 'body');
      expect(result.body.message).toBe('body: is not valid JSON');
    });

    it.each([
      ['a bare string', '"hello"'],
      ['a bare null', 'null'],
      ['a bare number', '42'],
    ])('JSON that is not an object: %s → "must be a JSON object", field body', async (_name, raw) => {
      const result = await answer(await post(raw));
      expectError(result, 400, 'body');
      expect(result.body.message).toBe('body: must be a JSON object');
    });

    it('a body that is not the gzip its Content-Encoding says → 400 field body', async () => {
      const response = await fetch(`${hub.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${hub.serviceToken()}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: JSON.stringify({ type: 'hello', recipients: ['alice'] }),
      });
      const result = await answer(response);
      expectError(result, 400, 'body');
      expect(result.body.message).toMatch(/^body: cannot be decoded as its Content-Encoding says/);
    });

    it('a gzipped body is read', async () => {
      const response = await fetch(`${hub.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${hub.serviceToken()}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync(JSON.stringify({ type: 'hello', recipients: ['alice'] })),
      });
      expect(await answer(response)).toEqual({ status: 202, body: { accepted: 1 } });
    });

    it('an empty body → 400 naming what is missing (body or type)', async () => {
      const result = await answer(await post(''));
      expectError(result, 400);
      expect(['body', 'type']).toContain(result.body.field);
    });

    it('data nested 5,000 levels deep, under 64 KiB: 400 naming data, not a 500', async () => {
      const raw = `{"type":"hello","recipients":["alice"],"data":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
      expect(Buffer.byteLength(raw)).toBeLessThan(MAX_BODY_BYTES);
      const result = await answer(await post(raw));
      expectError(result, 400, 'data');
      expect(result.body.message).toMatch(/nests deeper than 64 levels/);
    });

    it('a __proto__ key is an unknown field, not a way around the checks', async () => {
      const raw = '{"__proto__":{"persist":"yes"},"type":"hello","recipients":["alice"]}';
      expectError(await answer(await post(raw)), 400, '__proto__');
    });

    it('a body that is not sent as JSON → field body', async () => {
      expectError(await answer(await post(valid, { contentType: 'text/plain' })), 400, 'body');
    });
  });

  describe('rejects a body over 64 KiB with 413 field body', () => {
    it.each([
      ['64 KiB + 1 byte', MAX_BODY_BYTES + 1],
      ['1 MiB', 1024 * 1024],
    ])('%s', async (_name, size) => {
      const body = bodyOfSize(size);
      expect(Buffer.byteLength(body)).toBe(size);
      expectError(await answer(await post(body)), 413, 'body');
    });

    it('sent chunked, without a Content-Length', async () => {
      const bytes = new TextEncoder().encode(bodyOfSize(MAX_BODY_BYTES + 1024));
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 8192) controller.enqueue(bytes.slice(at, at + 8192));
          controller.close();
        },
      });
      const response = await fetch(`${hub.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${hub.serviceToken()}`, 'content-type': 'application/json' },
        body,
        duplex: 'half',
      });
      expectError(await answer(response), 413, 'body');
    });
  });

  describe('authentication and scope', () => {
    const body = { type: 'hello', recipients: ['alice'] };
    const headers = (authorization?: string, cookie?: string) => ({
      'content-type': 'application/json',
      ...(authorization ? { authorization } : {}),
      ...(cookie ? { cookie } : {}),
    });
    const send = (init: { authorization?: string; cookie?: string; query?: string }) =>
      fetch(`${hub.url}/v1/events${init.query ?? ''}`, {
        method: 'POST',
        headers: headers(init.authorization, init.cookie),
        body: JSON.stringify(body),
      });

    it.each<[string, () => { authorization?: string; cookie?: string; query?: string }]>([
      ['no token', () => ({})],
      ['Authorization: Basic x', () => ({ authorization: 'Basic x' })],
      ['Authorization: Bearer (empty)', () => ({ authorization: 'Bearer ' })],
      ['a service token in the herald_token cookie', () => ({ cookie: `herald_token=${hub.serviceToken()}` })],
      ['a service token in ?access_token', () => ({ query: `?access_token=${hub.serviceToken()}` })],
      ['a service token signed with another secret', () => ({ authorization: `Bearer ${tokenWith({ sub: 'svc', scope: 'events:publish' }, 'x'.repeat(40))}` })],
      ['an expired service token', () => ({ authorization: `Bearer ${tokenWith({ sub: 'svc', scope: 'events:publish', exp: Math.floor(Date.now() / 1000) - 5 }, TEST_SECRET, {})}` })],
      ['a service token without exp', () => ({ authorization: `Bearer ${tokenWith({ sub: 'svc', scope: 'events:publish' }, TEST_SECRET, {})}` })],
      [
        'an HS512 service token',
        () => ({ authorization: `Bearer ${jwt.sign({ sub: 'svc', scope: 'events:publish' }, TEST_SECRET, { algorithm: 'HS512', expiresIn: 3600 })}` }),
      ],
      [
        'an alg none service token',
        () => {
          const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
          const claims = { sub: 'svc', scope: 'events:publish', exp: Math.floor(Date.now() / 1000) + 3600 };
          return { authorization: `Bearer ${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.` };
        },
      ],
    ])('401 with %s', async (_name, init) => {
      expectError(await answer(await send(init())), 401);
    });

    it.each<[string, () => string]>([
      ['a plain user token', () => hub.userToken('alice')],
      ['a scope without events:publish', () => tokenWith({ sub: 'svc', scope: 'events:read' })],
      ['a scope that only starts with events:publish', () => tokenWith({ sub: 'svc', scope: 'events:publisher' })],
      ['the scope in upper case', () => tokenWith({ sub: 'svc', scope: 'EVENTS:PUBLISH' })],
      ['the scope joined by a comma', () => tokenWith({ sub: 'svc', scope: 'inbox:read,events:publish' })],
      ['the scope as an array, not a string', () => tokenWith({ sub: 'svc', scope: ['events:publish'] })],
      ['an empty scope', () => tokenWith({ sub: 'svc', scope: '' })],
    ])('403 with %s', async (_name, token) => {
      expectError(await answer(await send({ authorization: `Bearer ${token()}` })), 403);
    });

    it('403, not 400, for a bad body from a token without the scope', async () => {
      expectError(await answer(await post({ type: 'BAD' }, { token: hub.userToken('alice') })), 403);
    });
  });

  describe('a rejected publish delivers nothing', () => {
    const toAlice = { type: 'hello', recipients: ['alice'] };
    const rejected: [string, () => Promise<Response>][] = [
      ['a bad recipient after alice', () => post({ type: 'hello', recipients: ['alice', 'bad user'] })],
      ['a reserved type', () => post({ type: 'ready', recipients: ['alice'] })],
      ['an unknown field', () => post({ ...toAlice, extra: true })],
      ['data that is an array', () => post({ ...toAlice, data: [] })],
      ['persist that is a string', () => post({ ...toAlice, persist: 'yes' })],
      ['1001 recipients including alice', () => post({ ...toAlice, recipients: ['alice', ...ids('user', 1000)] })],
      ['invalid JSON', () => post('{"type":"hello","recipients":["alice"]')],
      ['a body over 64 KiB', () => post(bodyOfSize(MAX_BODY_BYTES + 1))],
      ['a user token', () => post(toAlice, { token: hub.userToken('alice') })],
      ['no token', () => post(toAlice, { token: '' })],
    ];

    it.each(rejected)('%s: no event, and the next accepted one arrives', async (_name, send) => {
      const stream = await subscribe('alice');
      const response = await send();
      expect(response.status).toBeGreaterThanOrEqual(400);
      await response.body?.cancel();
      // Delivery is in order: had the rejected event gone out, it would come before this one.
      // A pause first, so that a rejected event delivered late would still come first.
      // (A timed-out `next()` of the harness still takes the frame that comes later, so
      // "nothing within N ms" is not checked with it here.)
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await post({ type: 'after', recipients: ['alice'] })).status).toBe(202);
      expect((await stream.next(3000)).event).toBe('after');
    });

    it('loses nothing accepted before or after a run of rejections', async () => {
      const stream = await subscribe('alice');
      const sent: string[] = [];
      for (const [index, [, send]] of rejected.entries()) {
        const type = `ok.${index}`;
        expect((await post({ type, recipients: ['alice'] })).status).toBe(202);
        sent.push(type);
        await (await send()).body?.cancel();
      }
      expect((await post({ type: 'last', recipients: ['alice'] })).status).toBe(202);
      const frames = await stream.until((frame) => frame.event === 'last', 3000);
      expect(frames.map((frame) => frame.event)).toEqual([...sent, 'last']);
      const received = frames.map((frame) => frame.id!);
      expect(new Set(received).size).toBe(received.length);
      await expect(stream.next(150)).rejects.toThrow('no frame');
    });
  });
});

describe('POST /v1/events/batch', () => {
  let hub: TestHub;
  const streams: RawStream[] = [];
  const batch = (events: unknown[]) => ({ events });
  const send = (body: unknown, token = hub.serviceToken()) =>
    fetch(`${hub.url}/v1/events/batch`, {
      method: 'POST',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const subscribe = (user: string) => openPastReady(hub, streams, user);

  beforeAll(async () => {
    hub = await startHub({ HEARTBEAT_MS: '3600000' });
  });
  afterEach(() => streams.splice(0).forEach((stream) => stream.close()));
  afterAll(() => hub.close());

  it('answers 202 {events, accepted} and delivers every event once, in batch order among those with the same persist', async () => {
    const alice = await subscribe('alice');
    const events = [
      { type: 'p.1', recipients: ['alice', 'bob'] },
      { type: 'l.1', recipients: ['alice'], persist: false },
      { type: 'p.2', recipients: ['alice', 'alice'] },
      { type: 'l.2', recipients: ['alice', 'carol'], persist: false },
      { type: 'p.3', recipients: ['alice'], data: { n: 3 } },
    ];
    expect(await answer(await send(batch(events)))).toEqual({ status: 202, body: { events: 5, accepted: 7 } });
    const frames = await alice.until((frame) => frame.event === 'p.3', 3000);
    const types = frames.map((frame) => frame.event);
    expect(types.filter((type) => type!.startsWith('p.'))).toEqual(['p.1', 'p.2', 'p.3']);
    expect(types.filter((type) => type!.startsWith('l.'))).toEqual(['l.1', 'l.2']);
    expect(new Set(frames.map((frame) => frame.id)).size).toBe(5);
    expect(envelope(frames.at(-1)!)).toMatchObject({ data: { n: 3 }, notificationId: expect.stringMatching(/^\d+$/) });
    const inbox = await fetch(`${hub.url}/v1/notifications`, { headers: { authorization: `Bearer ${hub.userToken('alice')}` } });
    expect(((await inbox.json()) as { items: { type: string }[] }).items.map((item) => item.type).slice(0, 3)).toEqual(['p.3', 'p.2', 'p.1']);
  });

  it.each([true, false])('delivers 500 events (persist %s) to one user in order', async (persist) => {
    const alice = await subscribe('alice');
    const events = Array.from({ length: 500 }, (_, n) => ({ type: 'seq', recipients: ['alice'], data: { n }, persist }));
    expect(await answer(await send(batch(events)))).toEqual({ status: 202, body: { events: 500, accepted: 500 } });
    const seq = (frame: SseFrame) => (envelope(frame).data as { n: number }).n;
    const frames = await alice.until((frame) => frame.event === 'seq' && seq(frame) === 499, 10_000);
    expect(frames.map(seq)).toEqual(events.map((_, n) => n));
  });

  it('accepts a body of nearly 1 MiB made of events within their own limit', async () => {
    const events = Array.from({ length: 16 }, () => ({ type: 'big', recipients: ['dave'], data: { pad: 'x'.repeat(64_000) } }));
    const body = JSON.stringify(batch(events));
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1024 * 1024);
    expect(await answer(await send(body))).toEqual({ status: 202, body: { events: 16, accepted: 16 } });
  });

  it.each<[string, number, string, unknown]>([
    ['a body that is not an object', 400, 'body', [{ type: 'a', recipients: ['alice'] }]],
    ['no events', 400, 'events', {}],
    ['an empty batch', 400, 'events', batch([])],
    ['501 events', 400, 'events', batch(Array.from({ length: 501 }, () => ({ type: 'a', recipients: ['alice'] })))],
    ['a field beside events', 400, 'persist', { ...batch([{ type: 'a', recipients: ['alice'] }]), persist: false }],
    ['a bad recipient in the last event', 400, 'events[1].recipients[0]', batch([{ type: 'a', recipients: ['alice'] }, { type: 'b', recipients: ['bad user'] }])],
    ['a reserved type', 400, 'events[0].type', batch([{ type: 'ready', recipients: ['alice'] }])],
    ['an event over 64 KiB', 400, 'events[0]', batch([{ type: 'big', recipients: ['alice'], data: { pad: 'x'.repeat(MAX_BODY_BYTES) } }])],
    ['invalid JSON', 400, 'body', '{"events":['],
    ['a body over 1 MiB', 413, 'body', JSON.stringify(batch([{ type: 'big', recipients: ['alice'], data: { pad: 'x'.repeat(1024 * 1024) } }]))],
  ])('refuses %s (%i naming %s) and delivers none of it', async (_name, status, field, body) => {
    const alice = await subscribe('alice');
    expectError(await answer(await send(body)), status, field);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await send(batch([{ type: 'after', recipients: ['alice'] }]))).status).toBe(202);
    expect((await alice.next(3000)).event).toBe('after');
  });

  it.each<[string, number, () => string]>([
    ['no token', 401, () => ''],
    ['a user token', 403, () => hub.userToken('alice')],
  ])('answers %s with %i', async (_name, status, token) => {
    expectError(await answer(await send(batch([{ type: 'a', recipients: ['alice'] }]), token())), status);
  });
});

describe('Idempotency-Key', () => {
  let hub: TestHub;
  const streams: RawStream[] = [];
  const subscribe = (user: string) => openPastReady(hub, streams, user);
  const send = (path: string, body: unknown, key?: string, token = hub.serviceToken()) =>
    fetch(`${hub.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    hub = await startHub({ HEARTBEAT_MS: '3600000' });
  });
  afterEach(() => streams.splice(0).forEach((stream) => stream.close()));
  afterAll(() => hub.close());

  /** The events the stream got until `last` arrives. */
  async function typesUntil(stream: RawStream, last: string): Promise<string[]> {
    return (await stream.until((frame) => frame.event === last, 3000)).map((frame) => frame.event!);
  }

  it.each([false, true])('a publish repeated with the same key (persist %s) is answered alike and delivered once', async (persist) => {
    const stream = await subscribe('alice');
    const body = { type: 'once', recipients: ['alice', 'bob'], persist };
    for (let i = 0; i < 3; i++) expect(await answer(await send('/v1/events', body, `order-42-${persist}`))).toEqual({ status: 202, body: { accepted: 2 } });
    expect((await send('/v1/events', { type: 'other.key', recipients: ['alice'], persist }, `order-43-${persist}`)).status).toBe(202);
    expect((await send('/v1/events', { type: 'marker', recipients: ['alice'] })).status).toBe(202);
    expect(await typesUntil(stream, 'marker')).toEqual(['once', 'other.key', 'marker']);
  });

  it('a batch repeated with the same key delivers each of its events once, live and persisted', async () => {
    const stream = await subscribe('alice');
    const events = [
      { type: 'b.live', recipients: ['alice'], persist: false },
      { type: 'b.stored', recipients: ['alice'] },
    ];
    for (let i = 0; i < 2; i++) {
      expect(await answer(await send('/v1/events/batch', { events }, 'batch-7'))).toEqual({ status: 202, body: { events: 2, accepted: 2 } });
    }
    expect((await send('/v1/events', { type: 'marker', recipients: ['alice'] })).status).toBe(202);
    expect((await typesUntil(stream, 'marker')).sort()).toEqual(['b.live', 'b.stored', 'marker']);
  });

  it("is the publishing service's own: the same key from another service is another publication", async () => {
    const stream = await subscribe('alice');
    for (const service of ['svc-a', 'svc-b']) {
      expect((await send('/v1/events', { type: `from.${service}`, recipients: ['alice'], persist: false }, 'shared-key', hub.serviceToken(service))).status).toBe(202);
    }
    expect(await typesUntil(stream, 'from.svc-b')).toEqual(['from.svc-a', 'from.svc-b']);
  });

  it.each([
    ['a space in it', 'a b'],
    ['a character beyond ASCII', 'caf\u00e9'],
    ['256 characters', 'k'.repeat(256)],
  ])('refuses a key with %s: 400 naming Idempotency-Key, and delivers nothing', async (_name, key) => {
    const stream = await subscribe('alice');
    expectError(await answer(await send('/v1/events', { type: 'refused', recipients: ['alice'] }, key)), 400, 'Idempotency-Key');
    expectError(await answer(await send('/v1/events/batch', { events: [{ type: 'refused', recipients: ['alice'] }] }, key)), 400, 'Idempotency-Key');
    expect((await send('/v1/events', { type: 'marker', recipients: ['alice'] })).status).toBe(202);
    expect((await stream.next(3000)).event).toBe('marker');
  });
});
