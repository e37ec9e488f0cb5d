// The run's own PostgreSQL: `initdb` in a temporary folder (never the
// machine's server), run as the `postgres` user when this process is root
// (PostgreSQL refuses to run as root), started as a child of this process
// so that it is stopped by PID: SIGINT is a "fast" shutdown (sessions are
// ended, open transactions rolled back), SIGQUIT an "immediate" one (a crash:
// the next start replays the WAL).
import { execFileSync } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { exited, isRunning, spawnTracked, stopChild } from './procs.mjs';
import { waitFor } from './util.mjs';

/** Whether the PostgreSQL at `url` accepts a connection and answers `SELECT 1` (also npm test's preflight). */
export async function postgresAnswers(url, timeoutMs) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function binDir() {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres'))) return dir;
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(root, versions[0], 'bin');
  }
  throw new Error('PostgreSQL binaries (initdb, postgres) not found on PATH nor in /usr/lib/postgresql/*/bin: apt-get install postgresql');
}

/** As root: the uid and gid of `postgres`, whom the server runs as. */
function postgresUser() {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export class PostgresServer {
  constructor({ dir, port }) {
    this.dir = dir;
    this.port = port;
    this.data = path.join(dir, 'data');
    this.bin = binDir();
    this.user = postgresUser();
    this.child = null;
    this.starts = 0;
    this.adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    this.url = `postgres://postgres@127.0.0.1:${port}/herald`;
  }

  get running() {
    return isRunning(this.child);
  }

  /** initdb, start, and an empty database `herald`. */
  async create() {
    mkdirSync(this.dir, { recursive: true });
    if (this.user.uid !== undefined) chownSync(this.dir, this.user.uid, this.user.gid);
    this.log = createWriteStream(path.join(this.dir, 'postgres.log'), { flags: 'a' });
    const initdb = spawnTracked(
      path.join(this.bin, 'initdb'),
      ['-D', this.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { ...this.user, cwd: this.dir },
    );
    let output = '';
    initdb.stdout.on('data', (c) => (output += c));
    initdb.stderr.on('data', (c) => (output += c));
    const { code } = await exited(initdb);
    if (code !== 0) throw new Error(`initdb failed (${code}): ${output}`);
    await this.start();
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await client.query('CREATE DATABASE herald');
    } finally {
      await client.end();
    }
  }

  async start() {
    if (this.running) return;
    this.starts++;
    const child = spawnTracked(
      path.join(this.bin, 'postgres'),
      [
        '-D', this.data,
        '-p', String(this.port),
        '-k', this.dir,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'max_connections=100',
        '-c', 'shared_buffers=32MB',
      ],
      { ...this.user, cwd: this.dir },
    );
    child.stdout.pipe(this.log, { end: false });
    child.stderr.pipe(this.log, { end: false });
    this.child = child;
    await waitFor(() => this.answers(), `PostgreSQL on ${this.port}`, 30_000, {
      failed: () => (isRunning(child) ? null : `exited with ${child.exitCode ?? child.signalCode}`),
      every: 100,
    });
  }

  answers() {
    return postgresAnswers(this.adminUrl, 1000);
  }

  /** mode `fast` (SIGINT) or `immediate` (SIGQUIT: a crash, recovered from the WAL at the next start). */
  async stop(mode = 'fast') {
    await stopChild(this.child, mode === 'immediate' ? 'SIGQUIT' : 'SIGINT', 20_000);
  }

  /** One query on the run's database, for the final checks; null when it fails. */
  async query(sql) {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      return (await client.query(sql)).rows;
    } catch {
      return null;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
