/**
 * The npm packages as a user gets them: `npm pack` of `@herald/contracts`,
 * `@herald/publisher` and `@herald/client`, installed from their tarballs into
 * a new project in a temporary directory (far from this repository's
 * node_modules), with Nest at the versions this repository uses. There:
 *
 * - `tsc` (this repository's compiler) type-checks the project's code against
 *   the packed declarations, and nothing of this repository; typed events refuse
 *   what they should (were the declarations missing or `any`, they would not);
 * - a Nest app publishes through `HeraldModule` from `@herald/publisher/nest`
 *   to a real hub (a child process, on Redis);
 * - a page in Chromium loads the packed `@herald/client` (an import map points
 *   at its `dist/client.js`) and receives every event once and in order, across
 *   a hub killed and restarted on its port while the Nest app is publishing
 *   (its retries carry the events over), and across an `expired` (4-second
 *   tokens).
 */
import { execFile, spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';
import { outputOf } from './support/hub-output.js';
import { type HubProcess, lowPort, type RedisServer, startHubProcess, startRedis } from './support/processes.js';
import { serviceToken, userToken } from './support/tokens.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSC = path.join(ROOT, 'node_modules/.bin/tsc');
const PACKAGES = ['contracts', 'publisher', 'client'] as const;
/** What the new project depends on besides the tarballs, at the versions installed here. */
const THIRD_PARTY = ['@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs', '@types/node'];
/** The page's tokens live this long, so that its stream gets `expired` during the test. */
const TOKEN_SECONDS = 4;

const run = promisify(execFile);

/**
 * The environment for npm and node in the new project: without what `npm test`
 * sets for this repository (its prefix, its package) and without jest's
 * NODE_OPTIONS. npm's own settings (its cache, registry, user config) stay.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    const lower = name.toLowerCase();
    if (name === 'NODE_OPTIONS' || name === 'NODE_PATH' || name === 'INIT_CWD') continue;
    if (lower.startsWith('npm_') && !lower.startsWith('npm_config_')) continue;
    if (['npm_config_local_prefix', 'npm_config_workspace', 'npm_config_workspaces', 'npm_config_call'].includes(lower)) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

// --- The new project's files ------------------------------------------------

const EVENTS_TS = `/** The events this app publishes and its page receives: one declaration for both. */
export interface Events {
  'pkg.note': { n: number };
}
`;

/**
 * The Nest app, a long-running service: once up it prints {refused} (an invalid
 * event its HeraldPublisher refused), then for each line of stdin (numbers,
 * comma-separated) publishes one event per number to HERALD_USER and prints
 * {published}. Its fetch is wrapped to print each HTTP attempt as {attempt}.
 */
const PUBLISHER_TS = `import 'reflect-metadata';
import { createInterface } from 'node:readline';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PublishRejected } from '@herald/publisher';
import { HeraldModule, HeraldPublisher } from '@herald/publisher/nest';
import type { Events } from './events.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(\`\${name} is not set\`);
  return value;
};
const tell = (what: object) => console.log(JSON.stringify(what));

/** Each attempt the publisher makes, told on stdout, so that the test sees its retries. */
const countingFetch: typeof fetch = async (input, init) => {
  try {
    const response = await fetch(input, init);
    tell({ attempt: response.status });
    return response;
  } catch (err) {
    tell({ attempt: 'failed', error: String((err as Error).cause ?? err) });
    throw err;
  }
};

@Injectable()
class Notifier {
  constructor(private readonly herald: HeraldPublisher<Events>) {}

  note(user: string, n: number): Promise<void> {
    return this.herald.publish({ type: 'pkg.note', recipients: [user], data: { n } });
  }
}

@Module({
  imports: [
    HeraldModule.forRoot({
      url: env('HUB_URL'),
      token: env('HERALD_TOKEN'),
      retries: 60,
      backoffMs: 100,
      maxBackoffMs: 500,
      fetch: countingFetch,
    }),
  ],
  providers: [Notifier],
})
class AppModule {}

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
const user = env('HERALD_USER');
// Refused here, by @herald/contracts' validation, before any request: \`ready\` is the hub's own.
const untyped = app.get(HeraldPublisher) as HeraldPublisher;
tell({
  refused: await untyped.publish({ type: 'ready', recipients: [user] }).then(
    () => 'published',
    (err: unknown) => (err instanceof PublishRejected ? \`\${err.name}: \${err.field}\` : String(err)),
  ),
});
const notifier = app.get(Notifier);
for await (const line of createInterface({ input: process.stdin })) {
  const numbers = line.split(',').map(Number);
  for (const n of numbers) await notifier.note(user, n);
  tell({ published: numbers });
}
await app.close();
`;

/** The page's module: the client as its README shows it, recording what it hears in window.seen. */
const PAGE_TS = `import { type ConnectionState, HeraldClient, type TokenRequest } from '@herald/client';
import type { Events } from './events.js';

interface Seen {
  received: number[];
  ids: string[];
  states: ConnectionState[];
  ready: boolean[];
  expired: number;
  resets: number;
  errors: (number | null)[];
  tokenCalls: boolean[];
}
const seen: Seen = { received: [], ids: [], states: [], ready: [], expired: 0, resets: 0, errors: [], tokenCalls: [] };
(window as unknown as { seen: Seen }).seen = seen;

// A cached token, and a new one when the client asks for a refresh.
let token: string | null = null;
async function getToken({ refresh }: TokenRequest): Promise<string> {
  seen.tokenCalls.push(refresh);
  if (token === null || refresh) {
    const response = await fetch('/token', { method: 'POST' });
    token = ((await response.json()) as { token: string }).token;
  }
  return token;
}

const herald = new HeraldClient<Events>({
  url: new URLSearchParams(location.search).get('hub')!,
  token: getToken,
  onReset: () => seen.resets++,
  backoff: { initialMs: 200, maxMs: 1000 },
});
herald.on('pkg.note', (data, envelope) => {
  seen.received.push(data.n);
  seen.ids.push(envelope.id);
});
herald.on('state', (state) => seen.states.push(state));
herald.on('ready', ({ resumed }) => seen.ready.push(resumed));
herald.on('expired', () => seen.expired++);
herald.on('error', (error) => seen.errors.push(error.status ?? null));
herald.connect();
`;

/** Never run: what the packed declarations refuse. */
const REFUSALS_TS = `// Were the packed declarations missing, or \`any\`, none of the expected errors
// below would happen, and a directive that expects none is an error itself.
import { HeraldClient } from '@herald/client';
import { HeraldHttpPublisher } from '@herald/publisher';
import type { HeraldPublisher } from '@herald/publisher/nest';
import { validatePublishRequest } from '@herald/contracts/envelope';
import { isEventId } from '@herald/contracts/event-id';
import type { Events } from './events.js';

export async function refusals(publisher: HeraldPublisher<Events>, client: HeraldClient<Events>): Promise<void> {
  // @ts-expect-error an event type that is not in Events
  await publisher.publish({ type: 'pkg.other', recipients: ['u'], data: { n: 1 } });
  // @ts-expect-error data of another shape
  await publisher.publish({ type: 'pkg.note', recipients: ['u'], data: { n: '1' } });
  // @ts-expect-error neither recipients nor topics
  await publisher.publish({ type: 'pkg.note', data: { n: 1 } });
  const nothing: void = await publisher.publish({ type: 'pkg.note', topics: ['post:1'], data: { n: 1 } });

  const http = new HeraldHttpPublisher<Events>({ url: 'http://hub', token: 't' });
  const accepted: number = await http.publish({ type: 'pkg.note', recipients: ['u'], data: { n: 1 } });
  // @ts-expect-error publish resolves to a number
  const wrong: string = await http.publish({ type: 'pkg.note', recipients: ['u'], data: { n: 1 } });

  // @ts-expect-error an event type that is not in Events
  client.on('pkg.other', () => undefined);
  client.on('pkg.note', (data, envelope) => {
    const n: number = data.n;
    // @ts-expect-error n is a number
    const s: string = data.n;
    const type: 'pkg.note' = envelope.type;
    void [n, s, type];
  });
  client.on('inbox.read', ({ unreadCount }) => unreadCount.toFixed());
  // @ts-expect-error \`state\` is the client's own event, not an event type
  void new HeraldClient<{ state: { n: number } }>({ url: '', token: () => 't' });

  const valid: boolean = isEventId('1-0');
  // @ts-expect-error ids are strings
  isEventId(1);
  const checked = validatePublishRequest({});
  if (!checked.ok) {
    // @ts-expect-error a failed validation names its field as a string
    const field: number = checked.field;
    void field;
  }
  void [nothing, accepted, wrong, valid];
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2023',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    // The Nest app runs in Node, the page in a browser: one program for both.
    lib: ['es2023', 'dom'],
    types: ['node'],
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    // Off: the packed declarations themselves are checked, without ioredis installed
    // (the publisher's types must not need it).
    skipLibCheck: false,
    noEmitOnError: true,
    rootDir: 'src',
    outDir: 'out',
  },
  include: ['src/*.ts'],
};

const pageHtml = `<!doctype html><meta charset="utf-8"><title>Herald packages</title><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "@herald/client": "/node_modules/@herald/client/dist/client.js" } }</script>
<script type="module" src="/out/page.js"></script>`;

// ---------------------------------------------------------------------------

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** What the page recorded (page.ts). */
interface PageSeen {
  received: number[];
  ids: string[];
  states: string[];
  ready: boolean[];
  expired: number;
  resets: number;
  errors: (number | null)[];
  tokenCalls: boolean[];
}

/** A line the Nest app printed. */
type NestLine = { refused?: string; published?: number[]; attempt?: number | 'failed'; error?: string };

/** The Nest app (out/publisher.js) running as a child process. */
interface NestApp {
  /** Everything it printed on stdout, as JSON lines. */
  lines: NestLine[];
  /** Has it publish one event per number; resolves once it says they are published. */
  publish(numbers: number[]): Promise<void>;
  /** Resolves at the first line that `matches`, of those from line `from` on (default: the lines after now). */
  next(matches: (line: NestLine) => boolean, from?: number): Promise<NestLine>;
  stop(): Promise<void>;
}

describe('the npm packages, installed from their tarballs into a new project', () => {
  let dir: string;
  let app: string;
  let packed: Packed[];
  let compiled: { code: number; stdout: string; stderr: string };
  let redis: RedisServer | undefined;
  let browser: Browser | undefined;
  let site: http.Server | undefined;
  let origin: string;
  let hubEnv: Record<string, string>;
  let nest: NestApp | undefined;
  /** Redis, the browser and the page's site starting. */
  let services: Promise<void> | undefined;
  const user = newUser('packages');
  const hubs: HubProcess[] = [];

  /** A hub on the port, Redis and SQLite file of every other one here, ready. */
  async function startHub(): Promise<HubProcess> {
    const hub = await startHubProcess(hubEnv);
    hubs.push(hub);
    await hub.ready();
    return hub;
  }

  beforeAll(async () => {
    // Its real path: the one tsc names files by.
    dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'herald-packages-')));
    app = path.join(dir, 'app');
    mkdirSync(path.join(dir, 'tarballs'));
    mkdirSync(path.join(app, 'src'), { recursive: true });

    // Redis, the browser and the page's site start while npm works.
    services = (async () => {
      [redis, browser, site] = await Promise.all([
        startRedis(),
        chromium.launch({
          executablePath: '/usr/bin/chromium',
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
        }),
        serve(),
      ]);
      origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
      hubEnv = {
        // A fixed port below 32768: the hub restarted later finds it free again.
        PORT: String(await lowPort()),
        REDIS_URL: redis.url,
        SQLITE_PATH: path.join(dir, 'herald.sqlite'),
        CORS_ORIGINS: origin,
        LOG_LEVEL: 'warn',
      };
    })();
    // Not left unhandled while npm runs; awaited below.
    services.catch(() => undefined);

    const pack = await run(
      'npm',
      ['pack', ...PACKAGES.flatMap((name) => ['--workspace', `libs/${name}`]), '--pack-destination', path.join(dir, 'tarballs'), '--json'],
      { cwd: ROOT, env: cleanEnv() },
    );
    packed = JSON.parse(pack.stdout) as Packed[];

    const dependencies: Record<string, string> = {};
    for (const item of packed) dependencies[item.name] = `file:../tarballs/${item.filename}`;
    for (const name of THIRD_PARTY) dependencies[name] = installedVersion(name);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'herald-packages-check', private: true, type: 'module', dependencies }, null, 2));
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(path.join(app, 'src/events.ts'), EVENTS_TS);
    writeFileSync(path.join(app, 'src/publisher.ts'), PUBLISHER_TS);
    writeFileSync(path.join(app, 'src/page.ts'), PAGE_TS);
    writeFileSync(path.join(app, 'src/refusals.ts'), REFUSALS_TS);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
      cwd: app,
      env: cleanEnv(),
    });

    await services;
    // The hub starts while tsc type-checks and compiles (after npm, whose load would slow its start).
    const hubStarted = startHub();
    hubStarted.catch(() => undefined);
    // --listFiles names each file tsc read, to see where it came from.
    compiled = await run(TSC, ['-p', path.join(app, 'tsconfig.json'), '--listFiles'], { cwd: app, env: cleanEnv() }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
    await hubStarted;
    if (compiled.code === 0) nest = startNest();
  }, 60_000);

  afterAll(async () => {
    // Whatever started, even if beforeAll failed while it was starting.
    await services?.catch(() => undefined);
    await nest?.stop();
    for (const hub of hubs) await hub.kill('SIGKILL');
    await browser?.close();
    if (site) {
      site.closeAllConnections();
      await new Promise((resolve) => site!.close(resolve));
    }
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** This repository's installed version of a package: the new project gets exactly that one. */
  function installedVersion(name: string): string {
    return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  }

  /**
   * The page's site, on a port below 32768: the page, its compiled module, the
   * packed client, and POST /token for a short-lived token of the user.
   */
  async function serve(): Promise<http.Server> {
    const server = http.createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://site');
      const send = (status: number, type: string, body: string) => {
        response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        response.end(body);
      };
      if (request.method === 'POST' && url.pathname === '/token') {
        return send(200, 'application/json', JSON.stringify({ token: userToken(user, TOKEN_SECONDS) }));
      }
      if (request.method !== 'GET') return send(405, 'text/plain', 'method not allowed');
      if (url.pathname === '/') return send(200, 'text/html; charset=utf-8', pageHtml);
      const servable = url.pathname === '/node_modules/@herald/client/dist/client.js' || /^\/out\/[\w-]+\.js$/.test(url.pathname);
      if (!servable) return send(404, 'text/plain', 'not found');
      try {
        send(200, 'text/javascript; charset=utf-8', readFileSync(path.join(app, url.pathname), 'utf8'));
      } catch {
        send(404, 'text/plain', 'not found');
      }
    });
    const port = await lowPort();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return server;
  }

  /** Starts the Nest app, with its own environment only (no NODE_OPTIONS, no NODE_PATH). */
  function startNest(): NestApp {
    const child = spawn(process.execPath, [path.join(app, 'out/publisher.js')], {
      cwd: app,
      env: cleanEnv({ HUB_URL: `http://127.0.0.1:${hubEnv.PORT}`, HERALD_TOKEN: serviceToken('packages-test'), HERALD_USER: user }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines: NestLine[] = [];
    const waiters: { from: number; matches: (line: NestLine) => boolean; resolve: (line: NestLine) => void; reject: (err: Error) => void }[] = [];
    let pending = '';
    let stderr = '';
    let exit: string | undefined;
    const settle = () => {
      for (const waiter of [...waiters]) {
        const line = lines.slice(waiter.from).find(waiter.matches);
        if (line || exit) waiters.splice(waiters.indexOf(waiter), 1);
        if (line) waiter.resolve(line);
        else if (exit) waiter.reject(new Error(`the Nest app ${exit}:\n${stderr}\nstdout: ${JSON.stringify(lines)}`));
      }
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          lines.push(JSON.parse(line) as NestLine);
        } catch {
          stderr += `${line}\n`;
        }
      }
      settle();
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        exit = `exited (${signal ?? code})`;
        settle();
        resolve();
      }),
    );
    const next = (matches: (line: NestLine) => boolean, from = lines.length, timeoutMs = 30_000) =>
      new Promise<NestLine>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the Nest app said nothing expected in ${timeoutMs} ms:\n${stderr}\nstdout: ${JSON.stringify(lines)}`)), timeoutMs);
        waiters.push({
          from,
          matches,
          resolve: (line) => (clearTimeout(timer), resolve(line)),
          reject: (err) => (clearTimeout(timer), reject(err)),
        });
        settle();
      });
    return {
      lines,
      next,
      async publish(numbers) {
        const done = next((line) => line.published !== undefined);
        child.stdin!.write(`${numbers.join(',')}\n`);
        expect((await done).published).toEqual(numbers);
      },
      async stop() {
        if (exit) return;
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      },
    };
  }

  it('packs each package with its built modules and declarations, and installs them from the tarballs', () => {
    expect(packed.map((item) => item.name).sort()).toEqual(['@herald/client', '@herald/contracts', '@herald/publisher']);
    for (const item of packed) {
      const files = item.files.map((file) => file.path).sort();
      const manifest = JSON.parse(readFileSync(path.join(ROOT, 'libs', item.name.replace('@herald/', ''), 'package.json'), 'utf8')) as {
        exports: Record<string, { types: string; default: string }>;
      };
      // Every entry point's module and declarations are in the tarball.
      const targets = Object.values(manifest.exports).flatMap((entry) => [entry.types, entry.default].map((target) => target.replace(/^\.\//, '')));
      expect({ name: item.name, missing: targets.filter((target) => !files.includes(target)) }).toEqual({ name: item.name, missing: [] });
      expect(files.filter((file) => /^dist\/[\w.-]+\.d\.ts$/.test(file)).length).toBeGreaterThan(0);
      // Built files, the README and the manifest: no sources, no tests.
      const other = files.filter((file) => !/^dist\/[\w.-]+\.(js|d\.ts)$/.test(file) && !['README.md', 'package.json'].includes(file));
      expect({ name: item.name, other }).toEqual({ name: item.name, other: [] });
      expect(files.filter((file) => file.includes('.spec.'))).toEqual([]);
    }

    // Installed as copies from the tarballs, not links into this repository; the
    // publisher's @herald/contracts is the tarball's, at the top level: none from a registry.
    const lock = JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; resolved?: string }>;
    };
    for (const name of PACKAGES) {
      expect(lstatSync(path.join(app, 'node_modules/@herald', name)).isSymbolicLink()).toBe(false);
      expect(lock.packages[`node_modules/@herald/${name}`]).toMatchObject({ version: '0.1.0', resolved: `file:../tarballs/herald-${name}-0.1.0.tgz` });
    }
    expect(Object.keys(lock.packages).filter((key) => key.includes('@herald/') && key.split('node_modules/').length > 2)).toEqual([]);
    for (const name of THIRD_PARTY) expect(lock.packages[`node_modules/${name}`]?.version).toBe(installedVersion(name));
  });

  it('type-checks against the packed declarations only: typed events refuse what they should', () => {
    const diagnostics = `${compiled.stdout}${compiled.stderr}`.split('\n').filter((line) => /error TS\d+/.test(line));
    expect(diagnostics).toEqual([]);
    expect(compiled.code).toBe(0);

    const files = compiled.stdout.split('\n').filter((line) => line.endsWith('.ts'));
    // The compiler's own lib files come from its installation; every other file from the new project.
    expect(files.filter((file) => !file.startsWith(`${app}/`) && !/\/lib\.[\w.]+\.d\.ts$/.test(file))).toEqual([]);
    expect(files.filter((file) => file.startsWith(`${ROOT}/`) && !/\/node_modules\/(@typescript\/[\w-]+|typescript)\/lib\//.test(file))).toEqual([]);
    const herald = files.filter((file) => file.includes('/@herald/')).map((file) => path.relative(app, file));
    expect(herald.filter((file) => !/^node_modules\/@herald\/(contracts|publisher|client)\/dist\/[\w.-]+\.d\.ts$/.test(file))).toEqual([]);
    expect(herald).toEqual(
      expect.arrayContaining([
        'node_modules/@herald/client/dist/client.d.ts',
        'node_modules/@herald/publisher/dist/index.d.ts',
        'node_modules/@herald/publisher/dist/nest.d.ts',
        'node_modules/@herald/contracts/dist/envelope.d.ts',
        'node_modules/@herald/contracts/dist/event-id.d.ts',
      ]),
    );
    expect(files.some((file) => file.startsWith(path.join(app, 'node_modules/@nestjs/common/')))).toBe(true);
  });

  it('a Nest app publishes through HeraldModule; the packed client in Chromium gets every event once, across a hub restart and an expired token', async () => {
    expect(compiled.code).toBe(0);
    const hubUrl = `http://127.0.0.1:${hubEnv.PORT}`;
    // Its HeraldPublisher refused an invalid event itself: @herald/contracts' validation runs in the package.
    expect(await nest!.next((line) => line.refused !== undefined, 0)).toEqual({ refused: 'PublishRejected: type' });

    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    const consoleErrors: { text: string; url: string }[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push({ text: message.text(), url: message.location().url }));
    const seen = () => page.evaluate(() => (globalThis as unknown as { seen?: PageSeen }).seen);
    const detail = async () =>
      `page: ${JSON.stringify(await seen().catch(() => null))}\nconsole: ${JSON.stringify(consoleErrors)}\nNest app: ${JSON.stringify(nest!.lines)}\n${hubs.map(outputOf).join('\n')}`;
    const pageHas = (count: number) => waitFor(`${count} events in the page`, async () => (await seen())!.received.length >= count, 15_000, detail);

    try {
      await page.goto(`${origin}/?hub=${encodeURIComponent(hubUrl)}`);
      await waitFor('the page to be live', async () => (await seen())?.states.at(-1) === 'live', 10_000, detail);

      // Live: the Nest app publishes 1-3.
      await nest!.publish([1, 2, 3]);
      await pageHas(3);

      // The hub is killed. The Nest app publishes 4-6 while it is away: its first
      // attempt fails, its retries go on until a hub is back on the port (and Redis).
      await hubs[0].kill('SIGKILL');
      await waitFor('the page to see the hub gone', async () => (await seen())!.states.at(-1) === 'reconnecting', 10_000, detail);
      const failed = nest!.next((line) => line.attempt === 'failed');
      const during = nest!.publish([4, 5, 6]);
      await failed;
      await startHub();
      await during;
      await pageHas(6);

      // The page's token (4 s) expires: `expired`, a fresh token, and on from the last id.
      await waitFor(
        'an expired stream, and the page live again',
        async () => {
          const now = (await seen())!;
          return now.expired >= 1 && now.states.at(-1) === 'live';
        },
        (TOKEN_SECONDS + 6) * 1000,
        detail,
      );
      await nest!.publish([7, 8, 9]);
      await pageHas(9);
      await sleep(300);

      const final = (await seen())!;
      expect(final.received).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(new Set(final.ids).size).toBe(9);
      expect(final.ids.map(idKey)).toEqual(final.ids.map(idKey).sort());
      expect(final.states.slice(0, 4)).toEqual(['connecting', 'live', 'reconnecting', 'live']);
      expect(final.states.at(-1)).toBe('live');
      expect(final.states).not.toContain('closed');
      // Every stream after the first resumed from the last id, with nothing a reset would have to say.
      expect(final.ready[0]).toBe(false);
      expect(final.ready.length).toBeGreaterThanOrEqual(3);
      expect(final.ready.slice(1).every((resumed) => resumed)).toBe(true);
      expect(final.resets).toBe(0);
      expect(final.tokenCalls).toContain(true);
      // What the client told its error handlers: only opens that failed while the hub was away.
      expect(final.errors.filter((status) => status !== null && status !== 503)).toEqual([]);
      expect(pageErrors).toEqual([]);
      // What the browser logged: only the hub's stream and tickets failing while it
      // was away or starting (no answer, or 503), and a ticket refused with 401 when
      // the page's cached token had expired meanwhile (the client then refreshes it).
      const expected = ({ text, url }: { text: string; url: string }) =>
        (url.startsWith(`${hubUrl}/v1/stream?`) || url === `${hubUrl}/v1/stream-tickets`) &&
        /^Failed to load resource: (net::ERR_[A-Z_]+$|the server responded with a status of (503|401) )/.test(text) &&
        (!text.includes('401') || url === `${hubUrl}/v1/stream-tickets`);
      expect(consoleErrors.filter((error) => !expected(error))).toEqual([]);
    } catch (err) {
      // What the page, the browser, the Nest app and the hubs said, for whoever reads the failure.
      if (err instanceof Error) err.message += `\n\n${await detail()}`;
      throw err;
    } finally {
      await page.close();
    }
  }, 60_000);
});

/** An event id (`<ms>-<seq>`) as a string that sorts as the ids do. */
function idKey(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms.padStart(16, '0')}-${seq.padStart(10, '0')}`;
}
