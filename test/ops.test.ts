// Operations (API.md: Operations, Configuration, Tokens — logs): health, the dev
// token endpoint, credentials kept out of the logs, and start-up validation of
// the environment by the real built app.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { openRaw } from './support/sse.js';
import { startHub, TestHub } from './support/hub.js';
import { startHubProcess } from './support/processes.js';
import { TEST_SECRET } from './support/tokens.js';
import { waitFor } from './support/wait.js';

// ---------------------------------------------------------------- helpers

/** The repository: the app is built and run from here. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = 'dist/apps/hub/src/main.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function fetchJson(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  expect(response.headers.get('content-type')).toContain('application/json');
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const postJson = (url: string, body: unknown, contentType = 'application/json') =>
  fetchJson(url, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** The claims of a token the hub minted, checked to be HS256. */
function claimsOf(token: string): jwt.JwtPayload {
  const decoded = jwt.decode(token, { complete: true });
  expect(decoded?.header.alg).toBe('HS256');
  return jwt.verify(token, TEST_SECRET, { algorithms: ['HS256'] }) as jwt.JwtPayload;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The built app with only `env` (and PATH, PORT=0) in its environment, killed after `timeoutMs`. */
function runApp(env: Record<string, string>, timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Starts the built app, waits for it to say it listens, then stops it with SIGTERM. */
function startAndStop(env: Record<string, string>): Promise<Run & { listened: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', SHUTDOWN_GRACE_MS: '0', ...env },
    });
    let stdout = '';
    let stderr = '';
    let listened = false;
    const onOutput = () => {
      if (!listened && /listening/.test(stdout + stderr)) {
        listened = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', (chunk: Buffer) => ((stdout += chunk.toString()), onOutput()));
    child.stderr.on('data', (chunk: Buffer) => ((stderr += chunk.toString()), onOutput()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, listened });
    });
  });
}

/** Runs `jobs` with at most `limit` at a time. */
async function inParallel<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let nextJob = 0;
  const worker = async () => {
    while (nextJob < jobs.length) {
      const index = nextJob++;
      results[index] = await jobs[index]();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

// ---------------------------------------------------------------- tests

describe('operations', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(() => hub.close());

  describe('health', () => {
    it('GET /health/live → 200, without a token', async () => {
      expect(await fetchJson(`${hub.url}/health/live`)).toEqual({ status: 200, body: { status: 'ok' } });
    });

    it('GET /health/ready → 200 {status: ok, checks} with every check up', async () => {
      const ready = await fetchJson(`${hub.url}/health/ready`);
      expect(ready).toEqual({ status: 200, body: { status: 'ok', checks: expect.any(Object) } });
      const checks = Object.values(ready.body.checks as Record<string, unknown>);
      expect(checks.length).toBeGreaterThan(0);
      expect(checks.every((check) => check === 'up')).toBe(true);
    });
  });

  describe('POST /v1/dev/token', () => {
    const mint = (body: unknown, contentType?: string) => postJson(`${hub.url}/v1/dev/token`, body, contentType);

    it('{"sub":"alice"} → 200 {token}: an HS256 user token of one hour that opens a stream', async () => {
      const minted = await mint({ sub: 'alice' });
      expect(minted).toEqual({ status: 200, body: { token: expect.any(String) } });
      const token = String(minted.body.token);
      const claims = claimsOf(token);
      expect(claims).toMatchObject({ sub: 'alice' });
      expect(claims.exp! - claims.iat!).toBe(3600);
      expect(claims.scope).toBeUndefined();

      const stream = await openRaw(`${hub.url}/v1/stream`, { headers: { authorization: `Bearer ${token}` } });
      try {
        expect(stream.response.status).toBe(200);
        const ready = await stream.next(3000);
        expect(ready.event).toBe('ready');
        expect(JSON.parse(ready.data!)).toMatchObject({ userId: 'alice' });
      } finally {
        stream.close();
      }
    });

    it('a minted user token may not publish (403)', async () => {
      const { body } = await mint({ sub: 'alice' });
      const response = await hub.publish({ type: 'hello', recipients: ['alice'] }, String(body.token));
      expect(response.status).toBe(403);
    });

    it('with scope events:publish mints a token that publishes (202)', async () => {
      const { status, body } = await mint({ sub: 'my-service', scope: 'events:publish' });
      expect(status).toBe(200);
      expect(claimsOf(String(body.token)).scope).toBe('events:publish');
      const response = await hub.publish({ type: 'hello', recipients: ['alice'] }, String(body.token));
      expect(response.status).toBe(202);
    });

    it.each([1, 60, 86_400])('with expiresIn %i mints a token living that many seconds', async (expiresIn) => {
      const { status, body } = await mint({ sub: 'alice', expiresIn });
      expect(status).toBe(200);
      const claims = claimsOf(String(body.token));
      expect(claims.exp! - claims.iat!).toBe(expiresIn);
    });

    it.each<[string, unknown, string]>([
      ['no sub', {}, 'sub'],
      ['sub with a space', { sub: 'bad user' }, 'sub'],
      ['an empty sub', { sub: '' }, 'sub'],
      ['sub of 129 characters', { sub: 'a'.repeat(129) }, 'sub'],
      ['a numeric sub', { sub: 42 }, 'sub'],
      ['a null sub', { sub: null }, 'sub'],
      ['a numeric scope', { sub: 'alice', scope: 42 }, 'scope'],
      ['a scope as an array', { sub: 'alice', scope: ['events:publish'] }, 'scope'],
      ['a scope with a semicolon', { sub: 'alice', scope: 'events:publish;admin' }, 'scope'],
      ['a scope with a newline', { sub: 'alice', scope: 'a\nb' }, 'scope'],
      ['expiresIn 0', { sub: 'alice', expiresIn: 0 }, 'expiresIn'],
      ['a negative expiresIn', { sub: 'alice', expiresIn: -60 }, 'expiresIn'],
      ['expiresIn over a day', { sub: 'alice', expiresIn: 86_401 }, 'expiresIn'],
      ['a fractional expiresIn', { sub: 'alice', expiresIn: 1.5 }, 'expiresIn'],
      ['expiresIn as a string', { sub: 'alice', expiresIn: '60' }, 'expiresIn'],
      ['expiresIn as a duration', { sub: 'alice', expiresIn: '1h' }, 'expiresIn'],
      ['a null expiresIn', { sub: 'alice', expiresIn: null }, 'expiresIn'],
      ['an unknown field', { sub: 'alice', role: 'admin' }, 'role'],
      ['an exp claim smuggled in', { sub: 'alice', exp: 9_999_999_999 }, 'exp'],
      ['an array body', [{ sub: 'alice' }], 'body'],
      ['invalid JSON', '{"sub":', 'body'],
      ['a bare string', '"alice"', 'body'],
    ])('400 for %s, naming the field', async (_name, body, field) => {
      expect(await mint(body)).toEqual({
        status: 400,
        body: expect.objectContaining({ statusCode: 400, error: expect.any(String), message: expect.any(String), field }),
      });
    });

    it('400 field body for a body not sent as JSON', async () => {
      expect(await mint({ sub: 'alice' }, 'text/plain')).toMatchObject({ status: 400, body: { field: 'body' } });
    });

    it.each([
      ['HERALD_DEV_AUTH=off', { HERALD_DEV_AUTH: 'off' }],
      ['HERALD_DEV_AUTH=0', { HERALD_DEV_AUTH: '0' }],
      ['NODE_ENV=production (off by default)', { NODE_ENV: 'production' }],
    ])('404 JSON with %s', async (_name, env) => {
      const other = await startHub(env);
      try {
        expect(await postJson(`${other.url}/v1/dev/token`, { sub: 'alice' })).toEqual({
          status: 404,
          body: expect.objectContaining({ statusCode: 404, message: expect.any(String) }),
        });
      } finally {
        await other.close();
      }
    });
  });

  describe('credentials in query strings never reach the logs', () => {
    it('neither an access_token nor a ticket, on any path or answer', async () => {
      const token = hub.userToken('log-watcher');
      const issueTicket = async () => {
        const issued = await fetchJson(`${hub.url}/v1/stream-tickets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        });
        expect(issued.status).toBe(201);
        return String(issued.body.ticket);
      };
      const [usedTicket, secondTicket] = [await issueTicket(), await issueTicket()];
      const badToken = jwt.sign({ sub: 'log-watcher' }, 'another-secret-of-sufficient-length-0123456789', {
        algorithm: 'HS256',
        expiresIn: 60,
      });
      const secrets = [token, usedTicket, secondTicket, badToken];
      const before = hub.logs.lines.length;

      // Streams that open (200): the request line is written when they close.
      const paths = [
        `/v1/stream?access_token=${token}`,
        `/v1/stream?ticket=${usedTicket}`,
        `/v1/stream?lastEventId=0&access_token=${token}&x=1`,
        `/v1/stream?access%5Ftoken=${token}`,
      ];
      for (const path of paths) {
        const stream = await openRaw(`${hub.url}${path}`);
        expect([path, stream.response.status]).toEqual([path, 200]);
        expect((await stream.next(3000)).event).toBe('ready');
        stream.close();
      }
      // Requests that fail, and paths that take no credential at all.
      const failing = [
        `/v1/stream?ticket=${usedTicket}`,
        `/v1/stream?access_token=${badToken}`,
        `/v1/stream?lastEventId=not-an-id&access_token=${token}`,
        `/v1/stream?access_token=${token}&access_token=${token}`,
        `/health/live?access_token=${token}`,
        `/no/such/path?ticket=${secondTicket}`,
      ];
      for (const path of failing) await (await fetch(`${hub.url}${path}`)).body?.cancel();

      const logged = () => hub.logs.lines.slice(before);
      await waitFor(
        'a request line for every request',
        () =>
          logged().filter((line) => /GET \/(v1\/stream|health\/live|no\/such\/path)\?/.test(line)).length >=
          paths.length + failing.length,
        5000,
      );
      const leaks = logged().filter((line) => secrets.some((secret) => line.includes(secret)));
      expect(leaks).toEqual([]);
      const redacted = logged().filter((line) => decodeURIComponent(line).includes('[redacted]'));
      expect(redacted.length).toBeGreaterThanOrEqual(paths.length + failing.length);
    });

    it('the redaction marker is readable as [redacted] in the log line', async () => {
      const before = hub.logs.lines.length;
      await (await fetch(`${hub.url}/health/live?access_token=${hub.userToken('reader')}`)).body?.cancel();
      await waitFor('the request line', () => hub.logs.lines.slice(before).some((line) => line.includes('/health/live')), 5000);
      expect(hub.logs.lines.slice(before).find((line) => line.includes('/health/live'))).toContain(
        'access_token=[redacted]',
      );
    });
  });
});

describe('start-up validation of the environment (built app, child process)', () => {
  const PRODUCTION_SECRET = 's'.repeat(32);

  /** [case, environment, the variables the message must name] */
  const REFUSED: [string, Record<string, string>, string[]][] = [
    ['production without JWT_SECRET', { NODE_ENV: 'production' }, ['JWT_SECRET']],
    ['production with a 10-byte JWT_SECRET', { NODE_ENV: 'production', JWT_SECRET: '0123456789' }, ['JWT_SECRET']],
    ['production with a 31-byte JWT_SECRET', { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(31) }, ['JWT_SECRET']],
    [
      'production with dev auth forced on',
      { NODE_ENV: 'production', JWT_SECRET: PRODUCTION_SECRET, HERALD_DEV_AUTH: 'on' },
      ['HERALD_DEV_AUTH'],
    ],
    ['HEARTBEAT_MS=abc', { HEARTBEAT_MS: 'abc' }, ['HEARTBEAT_MS']],
    ['HERALD_DEV_AUTH=maybe', { HERALD_DEV_AUTH: 'maybe' }, ['HERALD_DEV_AUTH']],
    [
      'several bad variables at once, naming each (a NODE_ENV that is not one of the three among them)',
      {
        NODE_ENV: 'Production',
        PORT: '70000',
        HEARTBEAT_MS: '1.5',
        REPLAY_MAX_EVENTS: '0',
        STREAMS_PER_USER_MAX: 'ten',
        SHUTDOWN_GRACE_MS: '-1',
        REDIS_URL: 'localhost:6379',
        DATABASE_URL: 'mysql://localhost/herald',
        REDIS_PREFIX: 'my prefix',
      },
      ['NODE_ENV', 'PORT', 'HEARTBEAT_MS', 'REPLAY_MAX_EVENTS', 'STREAMS_PER_USER_MAX', 'SHUTDOWN_GRACE_MS', 'REDIS_URL', 'DATABASE_URL', 'REDIS_PREFIX'],
    ],
  ];
  const STARTS: [string, Record<string, string>][] = [
    ['development without JWT_SECRET (random per-boot secret)', {}],
    ['production with a 32-byte JWT_SECRET', { NODE_ENV: 'production', JWT_SECRET: PRODUCTION_SECRET }],
    [
      "production with the variables Kubernetes injects for a Service named herald, and a typo",
      {
        NODE_ENV: 'production',
        JWT_SECRET: PRODUCTION_SECRET,
        HERALD_SERVICE_HOST: '10.96.0.12',
        HERALD_SERVICE_PORT: '80',
        HERALD_PORT: 'tcp://10.96.0.12:80',
        HERALD_PORT_80_TCP: 'tcp://10.96.0.12:80',
        HERALD_PORT_80_TCP_ADDR: '10.96.0.12',
        HEARTBEAT_MSS: '5000',
      },
    ],
  ];

  const refused = new Map<string, Run>();
  const started = new Map<string, Run & { listened: boolean }>();

  beforeAll(async () => {
    // Not built here: npm test builds first, and jest's other worker runs hubs from dist/ meanwhile.
    if (!existsSync(path.join(ROOT, MAIN))) throw new Error(`${MAIN} is missing: run npm run build first`);
    const runs = await inParallel(
      [
        ...REFUSED.map(([name, env]) => async () => refused.set(name, await runApp(env))),
        ...STARTS.map(([name, env]) => async () => started.set(name, await startAndStop(env))),
      ],
      3,
    );
    expect(runs).toHaveLength(REFUSED.length + STARTS.length);
  }, 60_000);

  it.each(REFUSED)('refuses %s: exit 1, naming it on stderr', (name, _env, variables) => {
    const run = refused.get(name)!;
    expect(run.status).toBe(1);
    expect(variables.filter((variable) => !run.stderr.includes(variable))).toEqual([]);
    expect(run.stdout + run.stderr).not.toMatch(/listening/);
  });

  it.each(STARTS)('starts with %s', (name) => {
    const run = started.get(name)!;
    expect({ listened: run.listened, stderr: run.stderr.includes('Invalid configuration') }).toEqual({
      listened: true,
      stderr: false,
    });
  });

  it('warns of the near-miss by name, and of nothing Kubernetes injected', () => {
    const output = (run: Run) => run.stdout + run.stderr;
    const k8s = output(started.get(STARTS[2][0])!);
    expect(k8s).toMatch(/HEARTBEAT_MSS is not a Herald variable; did you mean HEARTBEAT_MS\?/);
    expect(k8s).not.toMatch(/HERALD_(SERVICE|PORT)/);
  });

  it('says loudly at start-up when dev auth is on, and not in production', () => {
    const output = (run: Run) => run.stdout + run.stderr;
    expect(output(started.get(STARTS[0][0])!)).toMatch(/dev auth is ON/);
    expect(output(started.get(STARTS[1][0])!)).not.toMatch(/dev auth is ON/);
  });
});

describe('requests Node refuses before any route: JSON too', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(() => hub.close());

  /** Sends raw bytes and reads the whole answer (the hub closes the connection after it). */
  function raw(bytes: string): Promise<{ status: number; headers: string; body: string }> {
    const { hostname, port } = new URL(hub.url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => socket.end(bytes));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        const [head, body = ''] = text.split('\r\n\r\n');
        resolve({ status: Number(head.split(' ')[1]), headers: head, body });
      });
    });
  }

  it.each([
    ['headers over the limit', `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers'],
    ['bytes that are not HTTP', 'HELLO THERE\r\n\r\n', 400, 'request'],
  ])('%s: %i JSON naming %s', async (_name, bytes, status, field) => {
    const answer = await raw(bytes);
    expect(answer.status).toBe(status);
    expect(answer.headers).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(answer.body)).toEqual({ statusCode: status, error: expect.any(String), message: expect.any(String), field });
  });

  it('still serves the next connection', async () => {
    expect((await fetch(`${hub.url}/health/live`)).status).toBe(200);
  });
});

describe('the listen backlog (the built hub)', () => {
  it('is 4096 (or the kernel cap, net.core.somaxconn): a reconnect storm does not overflow it', async () => {
    const hub = await startHubProcess();
    try {
      const listener = spawnSync('ss', ['-Hltn', `sport = :${hub.port}`], { encoding: 'utf8' }).stdout.trim();
      // State, Recv-Q, Send-Q: a listener's Send-Q is its backlog.
      const backlog = Number(listener.split(/\s+/)[2]);
      const cap = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      expect(backlog).toBe(Math.min(4096, cap));
    } finally {
      await hub.kill();
    }
  });
});
