import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './hub-output.js';
import { TEST_SECRET } from './tokens.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(ROOT, 'dist/apps/hub/src/main.js');

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A port nobody listens on right now, below 32768: out of the kernel's
 * ephemeral range, which outgoing connections (the browser's, the hub's own)
 * draw from, so a hub restarted on it finds it free again.
 */
export async function lowPort(): Promise<number> {
  const listens = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await listens(port)) return port;
  }
  throw new Error('no free port below 32768');
}

/**
 * How long a redis-server or a hub may take to start: a hub takes ~1 s alone,
 * but several starting at once on a loaded 2-core machine took over 10 s.
 */
const START_TIMEOUT_MS = 20_000;

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export interface RedisServer {
  port: number;
  url: string;
  pid: number;
  /** Stops it (SIGKILL, as in an outage); `start()` brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private redis-server on a free port, with no persistence, stopped by PID.
 * @param configFile read first, as redis-server takes a configuration file
 *   (a sentinel needs one it can rewrite).
 */
export async function startRedis(extraArgs: string[] = [], port?: number, configFile?: string): Promise<RedisServer> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-redis-'));
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    get pid() {
      return child?.pid ?? -1;
    },
    async start() {
      child = spawn(
        'redis-server',
        [...(configFile ? [configFile] : []), '--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
        { stdio: 'ignore' },
      );
      await waitUntil(() => canConnect(chosen), `redis-server on ${chosen}`, START_TIMEOUT_MS);
    },
    async kill() {
      if (!child) return;
      const done = exited(child);
      child.kill('SIGKILL');
      await done;
      child = undefined;
    },
    async stop() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface HubProcess {
  port: number;
  url: string;
  pid: number;
  /** Everything the process printed. */
  output: string[];
  /** Its exit status once it exited by itself; null while it runs or when a signal ended it. */
  readonly exitCode: number | null;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Waits until GET /health/ready answers 200. */
  ready(): Promise<void>;
}

/** Builds the hub once if dist/ is missing (npm test builds before jest runs). */
function ensureBuilt(): void {
  if (!existsSync(MAIN)) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * The real hub (dist/apps/hub/src/main.js) as a child process on a free port, not waited for (a test of start-up itself).
 * @param env on top of the test defaults (NODE_ENV=test, the test JWT_SECRET, a SQLite file of its own);
 *   a variable given as undefined is left unset.
 */
export async function spawnHubProcess(env: Record<string, string | undefined> = {}): Promise<HubProcess> {
  ensureBuilt();
  const port = env.PORT ? Number(env.PORT) : await freePort();
  // Each hub gets its own SQLite file unless the test names a database.
  const sqlite = path.join(mkdtempSync(path.join(tmpdir(), 'herald-hub-')), 'herald.sqlite');
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: Object.fromEntries(
      Object.entries({ PATH: process.env.PATH, NODE_ENV: 'test', JWT_SECRET: TEST_SECRET, SQLITE_PATH: sqlite, ...env, PORT: String(port) }).filter(
        ([, value]) => value !== undefined,
      ),
    ),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    pid: child.pid!,
    output,
    get exitCode() {
      return child.exitCode;
    },
    async kill(signal = 'SIGKILL') {
      const done = exited(child);
      child.kill(signal);
      return done;
    },
    ready: () => waitUntil(async () => (await fetch(`${url}/health/ready`)).ok, `hub ${port} to be ready`, START_TIMEOUT_MS),
  };
}

/** spawnHubProcess, resolved once the hub is live. */
export async function startHubProcess(env: Record<string, string | undefined> = {}): Promise<HubProcess> {
  const hub = await spawnHubProcess(env);
  try {
    await waitUntil(
      async () => {
        if (hub.exitCode !== null) throw new Error(`hub exited with ${hub.exitCode}: ${hub.output.join('')}`);
        return (await fetch(`${hub.url}/health/live`)).ok;
      },
      `hub on ${hub.port}`,
      START_TIMEOUT_MS,
    );
  } catch (err) {
    await hub.kill();
    throw err;
  }
  return hub;
}

export interface TcpProxy {
  port: number;
  url: string;
  /** Where new connections go, in turn. */
  setTargets(ports: number[]): void;
  /** Ends every proxied connection at once, as a crash of the target would. */
  cut(): void;
  close(): Promise<void>;
}

/**
 * A round-robin TCP proxy, as a load balancer would be: each new connection
 * goes to the next live target; a connection whose target dies is closed.
 */
export async function startProxy(targets: number[]): Promise<TcpProxy> {
  let ports = [...targets];
  let turn = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const connect = (attempt: number) => {
      if (ports.length === 0 || attempt >= ports.length) {
        client.destroy();
        return;
      }
      const upstream = net.connect(ports[turn++ % ports.length], '127.0.0.1');
      // Refused (a dead target): try the next one, as a balancer's health check would.
      upstream.once('error', () => connect(attempt + 1));
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        sockets.add(upstream);
        client.pipe(upstream).pipe(client);
        const end = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        upstream.once('close', end);
        client.once('close', end);
      });
    };
    client.once('error', () => client.destroy());
    connect(0);
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setTargets: (next) => {
      ports = [...next];
    },
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
