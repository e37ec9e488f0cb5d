// Tokens and stream errors (API.md: Tokens; Subscribe, errors only).
// Every way a credential can be missing, malformed or wrong must end in a 401
// JSON answer — never a stream — on every transport the stream accepts.
import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { openRaw, RawStream } from './support/sse.js';
import { expectError } from './support/http.js';
import { startHub, TestHub } from './support/hub.js';
import { TEST_SECRET } from './support/tokens.js';
import { waitFor } from './support/wait.js';

// ---------------------------------------------------------------- helpers

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT built by hand, for what `jsonwebtoken` refuses to sign; no secret → empty signature. */
function handMadeToken(header: object, payload: object, secret?: string): string {
  const signingInput = `${b64url(header)}.${b64url(payload)}`;
  const signature = secret === undefined ? '' : createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

const hs256 = (claims: object, options: jwt.SignOptions = { expiresIn: 3600 }) =>
  jwt.sign(claims, TEST_SECRET, { algorithm: 'HS256', ...options });

const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

/** Tokens that must be refused everywhere; built lazily so `exp` is relative to the test's clock. */
const BAD_TOKENS: [string, () => string][] = [
  ['not a JWT at all', () => 'not-a-jwt'],
  ['three garbage segments', () => 'a.b.c'],
  ['signed with another secret', () => jwt.sign({ sub: 'alice' }, 'another-secret-of-sufficient-length-0123456789', { algorithm: 'HS256', expiresIn: 3600 })],
  [
    'a tampered payload (signature of another payload)',
    () => {
      const [header, , signature] = hs256({ sub: 'alice' }).split('.');
      return `${header}.${b64url({ sub: 'mallory', exp: nowSeconds() + 3600 })}.${signature}`;
    },
  ],
  ['an empty signature', () => hs256({ sub: 'alice' }).replace(/[^.]+$/, '')],
  ['expired', () => hs256({ sub: 'alice', exp: nowSeconds() - 10 }, {})],
  ['not valid yet (nbf in the future)', () => hs256({ sub: 'alice' }, { expiresIn: 3600, notBefore: 600 })],
  ['alg none, no signature', () => handMadeToken({ alg: 'none', typ: 'JWT' }, { sub: 'alice', exp: nowSeconds() + 3600 })],
  [
    'alg none, with an HS256 signature',
    () => handMadeToken({ alg: 'none', typ: 'JWT' }, { sub: 'alice', exp: nowSeconds() + 3600 }, TEST_SECRET),
  ],
  ['HS512 with the right secret', () => jwt.sign({ sub: 'alice' }, TEST_SECRET, { algorithm: 'HS512', expiresIn: 3600 })],
  ['HS384 with the right secret', () => jwt.sign({ sub: 'alice' }, TEST_SECRET, { algorithm: 'HS384', expiresIn: 3600 })],
  ['RS256', () => jwt.sign({ sub: 'alice' }, rsaKey, { algorithm: 'RS256', expiresIn: 3600 })],
  ['no exp claim', () => hs256({ sub: 'alice' }, {})],
  ['exp that is not a number', () => handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: 'tomorrow' }, TEST_SECRET)],
  ['no sub claim', () => hs256({ scope: 'events:publish' })],
  ['sub with a space ("bad user")', () => hs256({ sub: 'bad user' })],
  ['sub of 129 characters', () => hs256({ sub: 'a'.repeat(129) })],
  ['sub of 200 characters', () => hs256({ sub: 'a'.repeat(200) })],
  ['empty sub', () => hs256({ sub: '' })],
  ['sub with a slash', () => hs256({ sub: 'alice/bob' })],
  ['numeric sub', () => handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 42, exp: nowSeconds() + 3600 }, TEST_SECRET)],
  ['exp 400 days away (over TOKEN_MAX_LIFETIME_S, 366 days by default)', () => hs256({ sub: 'alice' }, { expiresIn: 400 * 86_400 })],
  ['exp 1e308', () => handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: 1e308 }, TEST_SECRET)],
  [
    'a header naming a critical extension (crit)',
    () => handMadeToken({ alg: 'HS256', typ: 'JWT', crit: ['exp-ext'], 'exp-ext': 1 }, { sub: 'alice', exp: nowSeconds() + 3600 }, TEST_SECRET),
  ],
];

/** Authorization headers that are not `Bearer <jwt>`; the token inside is otherwise valid. */
const BAD_AUTH_HEADERS: [string, (good: string) => string][] = [
  ['Basic', () => 'Basic x'],
  ['Basic with a valid token', (good) => `Basic ${good}`],
  ['Bearer with no token', () => 'Bearer'],
  ['Bearer and a space', () => 'Bearer '],
  ['Bearer with two words', (good) => `Bearer ${good} extra`],
  ['a bare token', (good) => good],
  ['another scheme', (good) => `Token ${good}`],
];

/** How a stream can be handed a token. */
const TRANSPORTS: [string, (url: string, token: string) => [string, RequestInit]][] = [
  ['Authorization header', (url, token) => [url, { headers: { authorization: `Bearer ${token}` } }]],
  ['herald_token cookie', (url, token) => [url, { headers: { cookie: `herald_token=${encodeURIComponent(token)}` } }]],
  ['access_token query', (url, token) => [`${url}?access_token=${encodeURIComponent(token)}`, {}]],
];

interface Answer {
  status: number;
  contentType: string;
  body: Record<string, unknown> | undefined;
}

/** Fetches and reads a JSON answer; an unexpected stream is cancelled (never left open) and has no body. */
async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.includes('application/json')) {
    await response.body?.cancel();
    return { status: response.status, contentType, body: undefined };
  }
  return { status: response.status, contentType, body: (await response.json()) as Record<string, unknown> };
}

/** Runs `body` with the wall clock `shiftMs` ahead (only Date.now; timers are unaffected). */
async function withClockShifted<T>(shiftMs: number, body: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + shiftMs;
  try {
    return await body();
  } finally {
    Date.now = realNow;
  }
}

// ---------------------------------------------------------------- tests

describe('tokens and stream authentication', () => {
  let hub: TestHub;
  let streamUrl: string;
  const open: RawStream[] = [];

  /** Opens a stream that is closed after the test, and checks it answered 200 + ready. */
  async function expectStream(url: string, init: RequestInit = {}, userId = 'alice'): Promise<RawStream> {
    const stream = await openRaw(url, init);
    open.push(stream);
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toContain('text/event-stream');
    const ready = await stream.next(3000);
    expect(ready.event).toBe('ready');
    expect(JSON.parse(ready.data!)).toMatchObject({ userId });
    return stream;
  }

  async function issueTicket(token: string): Promise<string> {
    const answer = await request(`${hub.url}/v1/stream-tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(answer.status).toBe(201);
    return String(answer.body?.ticket);
  }

  beforeAll(async () => {
    hub = await startHub();
    streamUrl = `${hub.url}/v1/stream`;
  });
  afterEach(async () => {
    open.splice(0).forEach((stream) => stream.close());
    await waitFor('every stream to be released', () => hub.registry.size === 0, 5000);
  });
  afterAll(() => hub.close());

  describe('a valid token opens a stream', () => {
    it.each(TRANSPORTS)('from the %s', async (_name, transport) => {
      await expectStream(...transport(streamUrl, hub.userToken('alice')));
    });

    it.each([
      ['of 128 characters', 'a'.repeat(128)],
      ['using every allowed character', 'Az09_.:@-'],
      ['of 1 character', 'x'],
    ])('for a sub %s', async (_name, sub) => {
      await expectStream(streamUrl, { headers: { authorization: `Bearer ${hub.userToken(sub)}` } }, sub);
    });

    it('with the scheme written in lower case ("bearer")', async () => {
      await expectStream(streamUrl, { headers: { authorization: `bearer ${hub.userToken('alice')}` } });
    });

    it('from the query token when the cookie holds a stale one', async () => {
      const stale = hs256({ sub: 'alice', exp: nowSeconds() - 10 }, {});
      await expectStream(`${streamUrl}?access_token=${hub.userToken('alice')}`, {
        headers: { cookie: `herald_token=${stale}` },
      });
    });

    it('from the cookie among other cookies', async () => {
      await expectStream(streamUrl, { headers: { cookie: `a=1; herald_token=${hub.userToken('alice')}; b=2` } });
    });
  });

  describe('GET /v1/stream answers 401 JSON, never a stream', () => {
    it('without any credential', async () => {
      expectError(await request(streamUrl), 401);
    });

    it.each([
      ['an empty access_token', '?access_token=', 'herald_token=x', /access_token= is empty/],
      ['an empty ticket', '?ticket=', '', /ticket= is empty/],
      ['an empty cookie', '', 'herald_token=', /herald_token cookie is empty/],
      ['a cookie of another name', '', 'other_token=x', /missing token/],
      ['two access_token parameters', '?access_token=a&access_token=b', '', /access_token= is given more than once/],
      ['two tickets', '?ticket=a&ticket=b', '', /ticket= is given more than once/],
    ])('with %s, naming it', async (_name, query, cookie, message) => {
      const answer = await request(`${streamUrl}${query}`, { headers: cookie ? { cookie } : {} });
      expectError(answer, 401);
      expect(answer.body?.message).toMatch(message);
    });

    it('with a repeated access_token even when one of them is good', async () => {
      const token = hub.userToken('alice');
      expectError(await request(`${streamUrl}?access_token=${token}&access_token=${token}`), 401);
      expect(hub.registry.size).toBe(0);
    });

    describe.each(TRANSPORTS)('token in the %s', (_transport, transport) => {
      it.each(BAD_TOKENS)('%s', async (_name, makeToken) => {
        expectError(await request(...transport(streamUrl, makeToken())), 401);
        expect(hub.registry.size).toBe(0);
      });
    });

    it.each(BAD_AUTH_HEADERS)('Authorization: %s', async (_name, header) => {
      expectError(await request(streamUrl, { headers: { authorization: header(hub.userToken('alice')) } }), 401);
    });

    it('with a bad Authorization header even when the cookie holds a good token', async () => {
      const answer = await request(streamUrl, {
        headers: { authorization: 'Basic x', cookie: `herald_token=${hub.userToken('alice')}` },
      });
      expectError(answer, 401);
    });
  });

  describe('a service token (scope events:publish) acts for no user: 403 naming it', () => {
    it.each(TRANSPORTS)('a stream, token in the %s', async (_name, transport) => {
      const answer = await request(...transport(streamUrl, hub.serviceToken('alice')));
      expectError(answer, 403);
      expect(answer.body?.message).toMatch(/service token .* acts for no user/);
      expect(hub.registry.size).toBe(0);
    });

    it.each([
      ['POST', '/v1/stream-tickets'],
      ['GET', '/v1/notifications'],
      ['POST', '/v1/notifications/read-all'],
      ['GET', '/v1/posts'],
    ])('%s %s', async (method, path) => {
      const answer = await request(`${hub.url}${path}`, { method, headers: { authorization: `Bearer ${hub.serviceToken('alice')}` } });
      expectError(answer, 403);
      expect(answer.body?.message).toMatch(/service token .* acts for no user/);
    });

    it('while a token with other scopes is still a user', async () => {
      await expectStream(streamUrl, { headers: { authorization: `Bearer ${hs256({ sub: 'alice', scope: 'inbox:read other' })}` } });
    });
  });

  describe('stream tickets', () => {
    const ticketsUrl = () => `${hub.url}/v1/stream-tickets`;

    it('POST /v1/stream-tickets answers 201 {ticket, expiresIn: 30}', async () => {
      const answer = await request(ticketsUrl(), {
        method: 'POST',
        headers: { authorization: `Bearer ${hub.userToken('alice')}` },
      });
      expect(answer.status).toBe(201);
      expect(answer.body).toEqual({ ticket: expect.any(String), expiresIn: 30 });
      expect(String(answer.body!.ticket).length).toBeGreaterThanOrEqual(16);
    });

    it('opens a stream for its user once; a second use is 401', async () => {
      const ticket = await issueTicket(hub.userToken('carol'));
      await expectStream(`${streamUrl}?ticket=${ticket}`, {}, 'carol');
      expectError(await request(`${streamUrl}?ticket=${ticket}`), 401);
    });

    it('opens exactly one stream when it is redeemed twice at once', async () => {
      const ticket = await issueTicket(hub.userToken('alice'));
      const [first, second] = await Promise.all([1, 2].map(() => openRaw(`${streamUrl}?ticket=${ticket}`)));
      open.push(first, second);
      expect([first.response.status, second.response.status].sort()).toEqual([200, 401]);
    });

    it('is used up even when the stream it opened is closed', async () => {
      const ticket = await issueTicket(hub.userToken('alice'));
      (await expectStream(`${streamUrl}?ticket=${ticket}`)).close();
      await waitFor('the stream to be released', () => hub.registry.size === 0, 5000);
      expectError(await request(`${streamUrl}?ticket=${ticket}`), 401);
    });

    it('gives every ticket its own value', async () => {
      const token = hub.userToken('alice');
      const tickets = await Promise.all([1, 2, 3].map(() => issueTicket(token)));
      expect(new Set(tickets).size).toBe(3);
    });

    it.each([
      ['an unknown ticket', () => 'no-such-ticket'],
      ['a user token passed as a ticket', () => hub.userToken('alice')],
    ])('refuses %s with 401', async (_name, ticket) => {
      expectError(await request(`${streamUrl}?ticket=${encodeURIComponent(ticket())}`), 401);
    });

    it.each([
      ['as access_token', (url: string, ticket: string) => [`${url}?access_token=${ticket}`, {}] as const],
      ['as a Bearer token', (url: string, ticket: string) => [url, { headers: { authorization: `Bearer ${ticket}` } }] as const],
      ['as the cookie', (url: string, ticket: string) => [url, { headers: { cookie: `herald_token=${ticket}` } }] as const],
    ])('is not a token: refused %s with 401', async (_name, place) => {
      const ticket = await issueTicket(hub.userToken('alice'));
      const [url, init] = place(streamUrl, ticket);
      expectError(await request(url, init), 401);
    });

    it('expires after 30 s', async () => {
      const ticket = await issueTicket(hub.userToken('alice'));
      const answer = await withClockShifted(31_000, () => request(`${streamUrl}?ticket=${ticket}`));
      expectError(answer, 401);
    });

    it('still works 25 s after it was issued', async () => {
      const ticket = await issueTicket(hub.userToken('alice'));
      const stream = await withClockShifted(25_000, () => openRaw(`${streamUrl}?ticket=${ticket}`));
      open.push(stream);
      expect(stream.response.status).toBe(200);
    });

    it('does not outlive the token it was issued for', async () => {
      const ticket = await issueTicket(hub.userToken('alice', 5));
      const answer = await withClockShifted(7_000, () => request(`${streamUrl}?ticket=${ticket}`));
      expectError(answer, 401);
    });

    describe('POST /v1/stream-tickets takes the Authorization header only', () => {
      const post = (init: RequestInit, query = '') => request(`${ticketsUrl()}${query}`, { method: 'POST', ...init });

      it('401 without a token', async () => {
        expectError(await post({}), 401);
      });

      it('401 with the token in the cookie', async () => {
        expectError(await post({ headers: { cookie: `herald_token=${hub.userToken('alice')}` } }), 401);
      });

      it('401 with the token in ?access_token', async () => {
        expectError(await post({}, `?access_token=${hub.userToken('alice')}`), 401);
      });

      it.each(BAD_AUTH_HEADERS)('401 with Authorization: %s', async (_name, header) => {
        expectError(await post({ headers: { authorization: header(hub.userToken('alice')) } }), 401);
      });

      it.each(BAD_TOKENS)('401 with a token: %s', async (_name, makeToken) => {
        expectError(await post({ headers: { authorization: `Bearer ${makeToken()}` } }), 401);
      });
    });
  });

});

describe('TOKEN_MAX_LIFETIME_S', () => {
  it('0 accepts a token of any lifetime; a limit refuses one beyond it, naming why', async () => {
    const unlimited = await startHub({ TOKEN_MAX_LIFETIME_S: '0' });
    const hour = await startHub({ TOKEN_MAX_LIFETIME_S: '3600' });
    try {
      const far = handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: 1e308 }, TEST_SECRET);
      const inbox = (hub: TestHub, token: string) => request(`${hub.url}/v1/notifications`, { headers: { authorization: `Bearer ${token}` } });
      expect((await inbox(unlimited, far)).status).toBe(200);
      const refused = await inbox(hour, hs256({ sub: 'alice' }, { expiresIn: 7200 }));
      expectError(refused, 401);
      expect(refused.body?.message).toBe('token expires too far ahead: more than 3600 s from now');
      expect((await inbox(hour, hs256({ sub: 'alice' }, { expiresIn: 3000 }))).status).toBe(200);
    } finally {
      await unlimited.close();
      await hour.close();
    }
  });
});

describe('token expiry for the whole life of a stream', () => {
  let hub: TestHub;
  const open: RawStream[] = [];

  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(async () => {
    open.forEach((stream) => stream.close());
    await hub.close();
  });

  /** Opens a stream with a token of `expiresIn` seconds and waits for `event: expired`, then the end. */
  async function expectExpiry(expiresIn: number): Promise<void> {
    const stream = await openRaw(`${hub.url}/v1/stream`, {
      headers: { authorization: `Bearer ${hub.userToken('alice', expiresIn)}` },
    });
    open.push(stream);
    expect((await stream.next(3000)).event).toBe('ready');
    const frames = await stream.until((frame) => frame.event === 'expired', (expiresIn + 4) * 1000);
    expect(frames.at(-1)).toMatchObject({ event: 'expired' });
    await expect(stream.next(2000)).rejects.toThrow('stream ended');
    await waitFor('the expired stream to be released', () => hub.registry.size === 0, 5000);
  }

  it('sends event: expired and ends the stream when its token expires', async () => {
    await expectExpiry(2);
  });

  it('still does after the wall clock stepped back (e.g. an NTP correction)', async () => {
    // The clock runs 30 s ahead for a little over one expiry tick, then steps back.
    await withClockShifted(30_000, () => new Promise((resolve) => setTimeout(resolve, 1200)));
    await expectExpiry(2);
  });
});

describe('stream limits: 429 per user, 503 when the instance is full', () => {
  let hub: TestHub;
  const open: RawStream[] = [];

  beforeAll(async () => {
    hub = await startHub({ STREAMS_PER_USER_MAX: '2', STREAMS_MAX: '3' });
  });
  afterEach(async () => {
    open.splice(0).forEach((stream) => stream.close());
    await waitFor('every stream to be released', () => hub.registry.size === 0, 5000);
  });
  afterAll(() => hub.close());

  const openFor = async (user: string) => {
    const stream = await openRaw(`${hub.url}/v1/stream?access_token=${hub.userToken(user)}`);
    open.push(stream);
    return stream;
  };

  async function expectRefused(stream: RawStream, status: number): Promise<void> {
    expect(stream.response.status).toBe(status);
    expect(stream.response.headers.get('content-type')).toContain('application/json');
    expect(await stream.response.json()).toMatchObject({ statusCode: status, message: expect.any(String) });
  }

  it('429 JSON past STREAMS_PER_USER_MAX for that user only, and the slot frees when a stream closes', async () => {
    const [first, second] = [await openFor('alice'), await openFor('alice')];
    expect([first.response.status, second.response.status]).toEqual([200, 200]);
    await expectRefused(await openFor('alice'), 429);
    expect((await openFor('bob')).response.status).toBe(200);

    first.close();
    await waitFor('the closed stream to be released', () => hub.registry.size === 2, 5000);
    expect((await openFor('alice')).response.status).toBe(200);
  });

  it('503 JSON with Retry-After past STREAMS_MAX', async () => {
    for (const user of ['alice', 'bob', 'carol']) expect((await openFor(user)).response.status).toBe(200);
    const refused = await openFor('dave');
    expect(Number(refused.response.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectRefused(refused, 503);
  });
});
