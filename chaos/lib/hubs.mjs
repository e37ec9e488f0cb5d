// The three hubs, each on a fixed port so that a restarted hub takes its
// predecessor's place behind the proxy. A slot is supervised like a
// container: when its process exits without the run having stopped it (a
// crash, or a start-up that failed while PostgreSQL or Redis was away), it
// is counted and started again after a second, as an orchestrator would.
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunning, spawnTracked, stopChild } from './procs.mjs';
import { waitFor } from './util.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HUB_MAIN = path.join(ROOT, 'dist/apps/hub/src/main.js');

async function answers(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

export class HubSlot {
  constructor({ index, port, env, dir, log }) {
    this.index = index;
    this.name = `hub${index}`;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.env = env;
    this.dir = dir;
    this.runLog = log;
    this.child = null;
    /** Whether the slot should be running (false while a fault holds it down, or at the end). */
    this.wanted = false;
    this.starts = 0;
    /** Exits the run did not cause, with their status. */
    this.unexpectedExits = [];
    /** Streams this slot's hubs dropped for not reading ("The client is not reading its events"), as they log it. */
    this.drops = 0;
    this.output = createWriteStream(path.join(dir, `${this.name}.log`), { flags: 'a' });
  }

  get running() {
    return isRunning(this.child);
  }

  get pid() {
    return this.child?.pid;
  }

  /** Starts the process (if not running) and resolves once it answers /health/live. */
  async start() {
    this.wanted = true;
    if (this.running) return;
    this.starts++;
    this.output.write(`\n===== ${this.name} start #${this.starts} at ${new Date().toISOString()} =====\n`);
    const child = spawnTracked(process.execPath, [HUB_MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...this.env, PORT: String(this.port) },
    });
    child.stdout.pipe(this.output, { end: false });
    child.stderr.pipe(this.output, { end: false });
    child.stdout.on('data', (chunk) => {
      const text = chunk.toString();
      if (text.includes('The client is not reading its events')) this.drops += text.split('The client is not reading its events').length - 1;
    });
    child.expected = false;
    this.child = child;
    child.once('exit', (code, signal) => {
      this.output.write(`===== ${this.name} exited code=${code} signal=${signal} at ${new Date().toISOString()} =====\n`);
      if (child.expected) return;
      this.unexpectedExits.push({ code, signal, at: Date.now() });
      this.runLog(`${this.name} (pid ${child.pid}) exited by itself: code ${code}, signal ${signal}; restarting it in 1 s`);
      setTimeout(() => {
        if (this.wanted && this.child === child) this.start().catch((err) => this.runLog(`${this.name} restart failed: ${err.message}`));
      }, 1000);
    });
    await waitFor(async () => (await answers(`${this.url}/health/live`)) === 200, `${this.name} live on ${this.port}`, 60_000, {
      failed: () => (this.child !== child ? 'replaced' : isRunning(child) ? null : 'exited during start-up'),
      every: 100,
    }).catch((err) => {
      // Exited meanwhile (e.g. its database was away): the supervisor restarts it.
      if (!isRunning(child) && this.wanted) return;
      throw err;
    });
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`); the slot stays down until start(). */
  async stop(signal = 'SIGTERM', graceMs = 15_000) {
    this.wanted = false;
    const child = this.child;
    if (!isRunning(child)) return null;
    child.expected = true;
    const started = Date.now();
    const result = await stopChild(child, signal, graceMs);
    return { ...result, ms: Date.now() - started };
  }

  async ready() {
    return (await answers(`${this.url}/health/ready`)) === 200;
  }

  async waitReady(timeoutMs) {
    await waitFor(() => this.running && this.ready(), `${this.name} ready`, timeoutMs, { every: 200 });
  }

  /** Waits until the slot, wanted, runs and answers (restarts by the supervisor included). */
  async waitUp(timeoutMs) {
    await waitFor(async () => this.running && (await answers(`${this.url}/health/live`)) === 200, `${this.name} up`, timeoutMs, { every: 200 });
  }
}

