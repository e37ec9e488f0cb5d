// What one open SSE stream costs in memory: Herald against the floor (a bare
// Node http SSE server, bench/floor-server.mjs). For each server:
//   - an RSS run: RSS (/proc/<pid>/status) and heapUsed after a full GC at
//     0, SMALL and LARGE idle streams, with no heap snapshot in between (a
//     snapshot leaves the process's malloc arenas bigger, which would skew RSS);
//   - a snapshot run: heap snapshots at SMALL and LARGE streams, parsed here,
//     and (LARGE − SMALL) / (LARGE − SMALL streams) = bytes per stream, per
//     constructor, per owner and per origin (Node http/net, streams, Nest, rxjs,
//     pino, Fastify, Herald, ...).
// It writes bench/results/stream-heap.md.
//
//   npm run build && node bench/stream-heap.mjs [--small 1000] [--large 10000]
//     [--only herald|floor] [--keep-snapshots] [--out bench/results/stream-heap.md]
//
// Snapshots and memory figures are taken inside the server by a small preload
// (--require, written to a temp dir): on SIGUSR2 it runs a full GC, records
// process.memoryUsage() and, when asked, v8.writeHeapSnapshot(). The preload is
// the same for both servers and holds nothing per stream.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sleep } from './lib/clock.mjs';
import { BENCH_ENV, isReady } from './lib/hub.mjs';
import { canConnect, freePort, waitFor } from './lib/ports.mjs';
import { rssKiB } from './lib/procstat.mjs';
import { userToken } from './lib/tokens.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HUB_MAIN = path.join(ROOT, 'dist/apps/hub/src/main.js');
const FLOOR_MAIN = path.join(ROOT, 'bench/floor-server.mjs');
const SETTLE_MS = 3000;
const OPEN_CONCURRENCY = 200;
const OPEN_TIMEOUT_MS = 30_000;

const { values: opts } = parseArgs({
  options: {
    small: { type: 'string', default: '1000' },
    large: { type: 'string', default: '10000' },
    only: { type: 'string' },
    'keep-snapshots': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(ROOT, 'bench/results/stream-heap.md') },
  },
});
const SMALL = Number(opts.small);
const LARGE = Number(opts.large);
const log = (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

// ---------------------------------------------------------------- the servers

const HOOK = `
const v8 = require('node:v8'), vm = require('node:vm'), fs = require('node:fs'), path = require('node:path');
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const dir = process.env.STREAM_HEAP_DIR;
process.on('SIGUSR2', () => {
  const cmd = JSON.parse(fs.readFileSync(path.join(dir, 'cmd.json'), 'utf8'));
  const raw = process.memoryUsage();
  gc(); gc();
  const gced = process.memoryUsage();
  let snapshotMs = null;
  if (cmd.snapshot) { const t = Date.now(); v8.writeHeapSnapshot(path.join(dir, cmd.snapshot)); snapshotMs = Date.now() - t; }
  fs.writeFileSync(path.join(dir, 'reply.tmp'), JSON.stringify({ seq: cmd.seq, raw, gced, snapshotMs }));
  fs.renameSync(path.join(dir, 'reply.tmp'), path.join(dir, 'reply-' + cmd.seq + '.json'));
});
`;

async function startServer(kind) {
  const dir = mkdtempSync(path.join(tmpdir(), `stream-heap-${kind}-`));
  writeFileSync(path.join(dir, 'hook.cjs'), HOOK);
  const port = await freePort();
  const env = { PATH: process.env.PATH, PORT: String(port), STREAM_HEAP_DIR: dir };
  // The hub as the benchmark runs it (bench/lib/hub.mjs), with a SQLite file of its own.
  if (kind === 'herald') Object.assign(env, BENCH_ENV, { SQLITE_PATH: path.join(dir, 'herald.sqlite') });
  const main = kind === 'herald' ? HUB_MAIN : FLOOR_MAIN;
  const child = spawn(process.execPath, ['--require', path.join(dir, 'hook.cjs'), main], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = () => (child.exitCode !== null ? `exited (${child.exitCode}): ${output}` : null);
  await waitFor(() => canConnect(port), `${kind} on ${port}`, 30_000, exited);
  if (kind === 'herald') await waitFor(() => isReady(`http://127.0.0.1:${port}`), `herald on ${port} ready`, 30_000, exited);
  let seq = 0;
  return {
    kind,
    port,
    pid: child.pid,
    dir,
    output: () => output,
    /** Full GC and process.memoryUsage() inside the server, and a heap snapshot when `snapshot` names a file. */
    async probe(snapshot) {
      const n = ++seq;
      writeFileSync(path.join(dir, 'cmd.json'), JSON.stringify({ seq: n, snapshot }));
      process.kill(child.pid, 'SIGUSR2');
      const reply = path.join(dir, `reply-${n}.json`);
      const until = Date.now() + 600_000;
      while (!existsSync(reply)) {
        if (child.exitCode !== null) throw new Error(`${kind} exited during a probe: ${output}`);
        if (Date.now() > until) throw new Error(`${kind}: no probe reply in 10 min`);
        await sleep(100);
      }
      return { ...JSON.parse(readFileSync(reply, 'utf8')), file: snapshot ? path.join(dir, snapshot) : null };
    },
    async stop(keepDir = false) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- the streams

/**
 * Opens `count` idle streams, each on its own connection with a token of its own
 * user, `OPEN_CONCURRENCY` at a time; each counts once `event: ready` arrived.
 * The client keeps reading (heartbeats) so that no socket backs up.
 */
async function openStreams(server, first, count, sockets) {
  let next = first;
  const end = first + count;
  let failures = 0;
  const openOne = (i, attempt = 1) =>
    new Promise((resolve) => {
      const token = userToken(`heap-u${i}`);
      const request = `GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`;
      const socket = net.connect(server.port, '127.0.0.1');
      let received = '';
      let ready = false;
      const timer = setTimeout(() => fail('timeout'), OPEN_TIMEOUT_MS);
      const fail = (why) => {
        if (ready) return;
        clearTimeout(timer);
        socket.destroy();
        failures++;
        if (attempt < 3) resolve(openOne(i, attempt + 1));
        else resolve(new Error(`stream ${i}: ${why}: ${received.slice(0, 200)}`));
      };
      socket.setNoDelay(true);
      socket.once('connect', () => socket.write(request));
      socket.on('data', (chunk) => {
        if (ready) return;
        received += chunk.toString('latin1');
        if (!received.startsWith('HTTP/1.1 200')) {
          if (received.includes('\r\n\r\n')) fail('not 200');
          return;
        }
        if (received.includes('event: ready')) {
          ready = true;
          received = '';
          clearTimeout(timer);
          sockets.push(socket);
          resolve(null);
        }
      });
      socket.on('error', (err) => fail(err.code ?? err.message));
      socket.on('close', () => fail('closed'));
    });
  const worker = async () => {
    while (next < end) {
      const err = await openOne(next++);
      if (err) throw err;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
  return { seconds: (performance.now() - t0) / 1000, retries: failures };
}

function closeAll(sockets) {
  for (const socket of sockets) {
    socket.removeAllListeners('close');
    socket.destroy();
  }
  sockets.length = 0;
}

// ---------------------------------------------------------------- the runs

async function rssRun(kind) {
  const server = await startServer(kind);
  const sockets = [];
  try {
    await sleep(1000);
    const points = [];
    const point = async (streams) => {
      await sleep(SETTLE_MS);
      const rss = rssKiB(server.pid); // as bench/scenarios/idle.mjs reads it: no GC forced
      const mem = await server.probe(null);
      points.push({ streams, rssKiB: rss, rssAfterGcKiB: Math.round(mem.gced.rss / 1024), heapUsed: mem.gced.heapUsed, heapTotal: mem.gced.heapTotal, external: mem.gced.external });
      log(`  ${kind} rss run: ${streams} streams: RSS ${(rss / 1024).toFixed(1)} MiB, heapUsed after GC ${(mem.gced.heapUsed / 2 ** 20).toFixed(1)} MiB`);
    };
    await point(0);
    let open = await openStreams(server, 0, SMALL, sockets);
    log(`  ${kind}: opened ${SMALL} in ${open.seconds.toFixed(1)} s (${open.retries} retries)`);
    await point(SMALL);
    open = await openStreams(server, SMALL, LARGE - SMALL, sockets);
    log(`  ${kind}: opened ${LARGE - SMALL} more in ${open.seconds.toFixed(1)} s (${open.retries} retries)`);
    await point(LARGE);
    return points;
  } finally {
    await server.stop();
    closeAll(sockets);
  }
}

async function snapshotRun(kind) {
  const server = await startServer(kind);
  const sockets = [];
  try {
    await sleep(1000);
    const snaps = [];
    for (const [from, count] of [
      [0, SMALL],
      [SMALL, LARGE - SMALL],
    ]) {
      const open = await openStreams(server, from, count, sockets);
      log(`  ${kind} snapshot run: opened ${count} in ${open.seconds.toFixed(1)} s (${open.retries} retries)`);
      await sleep(SETTLE_MS);
      const probe = await server.probe(`${kind}-${from + count}.heapsnapshot`);
      log(`  ${kind}: snapshot at ${from + count} streams: ${(statSync(probe.file).size / 2 ** 20).toFixed(0)} MiB file, ${probe.snapshotMs} ms`);
      snaps.push({ streams: from + count, file: probe.file, heapUsed: probe.gced.heapUsed });
    }
    // Parsed with the server gone: the two would compete for 2 cores and memory.
    await server.stop(true);
    closeAll(sockets);
    const result = [];
    for (const snap of snaps) {
      const t0 = performance.now();
      result.push({ ...snap, analysis: analyse(parseSnapshot(snap.file)) });
      log(`  ${kind}: parsed ${path.basename(snap.file)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (opts['keep-snapshots']) log(`  snapshots kept in ${server.dir}`);
    else rmSync(server.dir, { recursive: true, force: true });
    return result;
  } finally {
    await server.stop(true);
    closeAll(sockets);
  }
}

// ---------------------------------------------------------------- heap snapshots

/**
 * Reads a .heapsnapshot file without JSON.parse of the whole (a snapshot of a
 * few hundred MB is past V8's longest string): the header is JSON, the node
 * and edge arrays are read as digits straight from the bytes, the strings one
 * by one.
 */
export function parseSnapshot(file) {
  const buf = readFileSync(file);
  const iNodes = buf.indexOf('"nodes":[');
  const header = JSON.parse(`${buf.toString('latin1', 0, iNodes).trim().replace(/,$/, '')}}`).snapshot;
  const meta = header.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  let pos = iNodes + 9;
  const ints = (count) => {
    const out = new Uint32Array(count);
    let n = 0;
    let v = 0;
    let inNumber = false;
    for (; n < count; pos++) {
      const c = buf[pos];
      if (c >= 48 && c <= 57) {
        v = v * 10 + (c - 48);
        inNumber = true;
      } else if (inNumber) {
        out[n++] = v;
        v = 0;
        inNumber = false;
      }
    }
    return out;
  };
  const nodes = ints(header.node_count * nf);
  pos = buf.indexOf('"edges":[', pos) + 9;
  const edges = ints(header.edge_count * ef);
  pos = buf.indexOf('"strings":[', pos) + 11;
  const strings = [];
  for (;;) {
    while (buf[pos] !== 34 && buf[pos] !== 93) pos++;
    if (buf[pos] === 93) break;
    const start = pos++;
    while (buf[pos] !== 34) pos += buf[pos] === 92 ? 2 : 1;
    strings.push(JSON.parse(buf.toString('utf8', start, ++pos)));
  }
  const field = (name) => meta.node_fields.indexOf(name);
  return {
    nodeCount: header.node_count,
    nf,
    ef,
    nodes,
    edges,
    strings,
    nodeTypes: meta.node_types[0],
    edgeTypes: meta.edge_types[0],
    F: { type: field('type'), name: field('name'), size: field('self_size'), edges: field('edge_count') },
    E: { type: meta.edge_fields.indexOf('type'), name: meta.edge_fields.indexOf('name_or_index'), to: meta.edge_fields.indexOf('to_node') },
  };
}

/** Objects with these constructor names are containers; they are counted with what holds them (see analyse). */
const GENERIC = new Set([
  'Object', 'Array', 'Map', 'Set', 'WeakMap', 'WeakSet', 'Promise', 'SafeMap', 'SafeSet', 'SafeWeakMap', 'SafeWeakSet',
  'SafeWeakRef', 'WeakRef', 'Uint8Array', 'Buffer', 'ArrayBuffer', 'FastBuffer', 'Error', 'Symbol', 'Date', 'RegExp',
  'Function', 'system / Context',
]);

/** Where the code of a closure lives, shortened: node:…, <package>/…, herald dist/…. */
function shortScript(name) {
  if (!name) return '?';
  const nm = name.lastIndexOf('node_modules/');
  if (nm >= 0) return name.slice(nm + 13);
  const dist = name.indexOf('/dist/');
  if (dist >= 0) return `herald ${name.slice(dist + 1)}`;
  return name.replace(/^file:\/\//, '');
}

/**
 * Per label (constructor, closure, internal type): count and self size; and the
 * same with what each owns (arrays, property stores, contexts, strings, plain
 * objects, ...), each such node counted with its nearest non-container holder,
 * found breadth-first from all of them over strong edges.
 */
function analyse(s) {
  const { nodes, edges, strings, nf, ef, nodeTypes, edgeTypes, F, E } = s;
  const n = s.nodeCount;
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += nodes[i * nf + F.edges] * ef;
  }
  firstEdge[n] = edges.length;
  const T = Object.fromEntries(nodeTypes.map((t, i) => [t, i]));
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const element = edgeTypes.indexOf('element');
  const hidden = edgeTypes.indexOf('hidden');
  const typeOf = (i) => nodes[i * nf + F.type];
  const nameOf = (i) => strings[nodes[i * nf + F.name]];
  const edgeNamed = (i, wanted) => {
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += ef) {
      const t = edges[e + E.type];
      if (t === element || t === hidden) continue; // numeric names
      if (strings[edges[e + E.name]] === wanted) return edges[e + E.to] / nf;
    }
    return -1;
  };
  const scriptNames = new Map();
  const scriptOf = (closure) => {
    const shared = edgeNamed(closure, 'shared');
    if (shared < 0) return '?';
    let script = edgeNamed(shared, 'script_or_debug_info');
    if (script < 0) script = edgeNamed(shared, 'script');
    if (script < 0) return '?';
    if (!scriptNames.has(script)) scriptNames.set(script, shortScript(nameOf(script)));
    return scriptNames.get(script);
  };

  // A label per node.
  const labelIds = new Map();
  const labels = [];
  const labelKind = [];
  const intern = (label, kind) => {
    let id = labelIds.get(label);
    if (id === undefined) {
      id = labels.length;
      labelIds.set(label, id);
      labels.push(label);
      labelKind.push(kind);
    }
    return id;
  };
  const label = new Int32Array(n);
  const anchor = new Uint8Array(n); // a holder things are counted with
  const closureLabel = (i) => {
    const script = scriptOf(i);
    return `${nameOf(i) || '(anonymous)'}() ${script === '?' ? 'builtin' : script}`;
  };
  for (let i = 0; i < n; i++) {
    const t = typeOf(i);
    const name = nameOf(i);
    let l;
    if (t === T.object) {
      if (name === 'Generator') {
        // A suspended async function (or generator): named by its function.
        const fn = edgeNamed(i, 'function');
        l = intern(fn >= 0 ? `Generator of ${closureLabel(fn)}` : name, 'object');
      } else {
        l = intern(name, 'object');
      }
      anchor[i] = GENERIC.has(name) ? 0 : 1;
    } else if (t === T.closure) {
      if (name === 'native_bind') {
        const target = edgeNamed(i, 'bound_function');
        l = intern(`bound ${target >= 0 ? closureLabel(target) : '?'}`, 'closure');
      } else {
        l = intern(closureLabel(i), 'closure');
      }
      anchor[i] = 1;
    } else if (t === T.native || (t === T.synthetic && name.startsWith('Node / '))) {
      // Node's C++ objects (embedder graph): outside the V8 heap.
      l = intern(`(native) ${name.replace(/^Node \/ /, '').slice(0, 60)}`, 'native');
      anchor[i] = 1;
    } else if (t === T.string || t === T['concatenated string'] || t === T['sliced string']) {
      l = intern('(string)', 'internal');
    } else if (t === T.number) {
      l = intern('(heap number)', 'internal');
    } else if (t === T.code) {
      l = intern(name.startsWith('(') || name.startsWith('system') ? `(code) ${name}` : '(code) function', 'internal');
    } else if (t === T.synthetic) {
      l = intern('(synthetic)', 'internal');
    } else {
      l = intern(`(${nodeTypes[t]}) ${name.length > 60 ? `${name.slice(0, 60)}…` : name}`, 'internal');
    }
    label[i] = l;
  }

  // Owners: breadth-first from every anchor over strong edges.
  const owner = new Int32Array(n).fill(-1);
  let queue = new Uint32Array(n);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < n; i++) {
    if (anchor[i]) {
      owner[i] = label[i];
      queue[tail++] = i;
    }
  }
  while (head < tail) {
    const i = queue[head++];
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += ef) {
      const t = edges[e + E.type];
      if (t === weak || t === shortcut) continue;
      const to = edges[e + E.to] / nf;
      // Hidden classes are shared by all objects of a shape, so they stay a line of their own
      // (per object only where V8 gave objects a map each, as after Object.setPrototypeOf).
      if (owner[to] !== -1 || anchor[to] || typeOf(to) === T.synthetic || typeOf(to) === T['object shape']) continue;
      owner[to] = owner[i];
      queue[tail++] = to;
    }
  }
  queue = null;

  const self = new Map(); // label → [count, bytes]
  const owned = new Map(); // owner label → [own count, bytes with what it owns]
  let heapBytes = 0;
  let nativeBytes = 0;
  for (let i = 0; i < n; i++) {
    const size = nodes[i * nf + F.size];
    const t = typeOf(i);
    if (labelKind[label[i]] === 'native') nativeBytes += size;
    else heapBytes += size;
    const l = labels[label[i]];
    const a = self.get(l) ?? self.set(l, [0, 0]).get(l);
    a[0]++;
    a[1] += size;
    const o = owner[i] === -1 ? (t === T['object shape'] ? l : `(held by no non-container) ${labelKind[label[i]] === 'object' ? l : nodeTypes[t]}`) : labels[owner[i]];
    const b = owned.get(o) ?? owned.set(o, [0, 0]).get(o);
    if (owner[i] === label[i] && anchor[i]) b[0]++;
    b[1] += size;
  }
  return { heapBytes, nativeBytes, nodeCount: n, self: Object.fromEntries(self), owned: Object.fromEntries(owned) };
}

// ---------------------------------------------------------------- origins

/** The origin of a label: first rule that matches. */
const ORIGINS = [
  ['Node native (C++, outside the V8 heap)', /^\(native\)/],
  ['Herald', /\(\) herald dist\//],
  ['Nest (@Sse pipeline and router)', /\(\) @nestjs\/|^(SseStream|RouterResponseController)$/],
  ['rxjs', /\(\) rxjs\/|^(Subscriber|SafeSubscriber|OperatorSubscriber|Subscription|Observable|ConsumerObserver|Subject)$/],
  ['pino / pino-http', /\(\) (pino|pino-http|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|on-exit-leak-free)\/|^Pino$/],
  ['Fastify', /\(\) (fastify|@fastify\/[^/]+|find-my-way|fast-querystring|avvio|toad-cache|abstract-logging)\/|^_?(Request|Reply)$/],
  ['AbortController / EventTarget', /^(AbortController|AbortSignal|EventTarget|Event|NodeEventTarget|Listener)$|\(\) node:internal\/(abort_controller|event_target)/],
  ['timers', /^(Timeout|TimersList|Immediate)$|\(\) node:internal\/timers|\(\) node:timers/],
  ['Node streams', /^(ReadableState|WritableState|BufferList|Transform|PassThrough|Readable|Writable|Duplex)$|\(\) node:internal\/streams\//],
  ['Node http/net', /^(Socket|IncomingMessage|ServerResponse|HTTPParser|WriteWrap|ShutdownWrap|TCP|HTTPServerAsyncResource|OutgoingMessage|ConnectionsList)$|\(\) node:(_http|net|internal\/(http|net|stream_base_commons))/],
  ['Node events/async', /^(EventEmitter|AsyncResource|AsyncLocalStorage)$|\(\) node:(events|internal\/(async_hooks|process\/task_queues|async_local_storage))/],
  ['floor server', /\(\) .*bench\/floor-server\.mjs/],
  ['builtin closures (promise resolvers, …)', /\(\) builtin$/],
  ['V8 hidden classes (Map, DescriptorArray) & code', /^\((code|object shape)\)|^\(held by no non-container\) (code|object shape)/],
];
/** Herald's classes, read from its build: their instances count as Herald's. */
function heraldClasses() {
  const names = new Set();
  for (const dir of ['dist/apps', 'dist/libs']) {
    for (const file of readdirSync(path.join(ROOT, dir), { recursive: true })) {
      if (!file.endsWith('.js')) continue;
      for (const m of readFileSync(path.join(ROOT, dir, file), 'utf8').matchAll(/\bclass (\w+)/g)) names.add(m[1]);
    }
  }
  return names;
}
const HERALD_CLASSES = heraldClasses();
ORIGINS.splice(1, 0, ['Herald', { test: (label) => HERALD_CLASSES.has(label) }]);

const originOf = (label) => ORIGINS.find(([, re]) => re.test(label))?.[0] ?? 'other';

/** Per label: Δcount and Δbytes per stream between the two snapshots. */
function perStream(a, b, key, streams) {
  const rows = [];
  const names = new Set([...Object.keys(a[key]), ...Object.keys(b[key])]);
  for (const name of names) {
    const [c0, s0] = a[key][name] ?? [0, 0];
    const [c1, s1] = b[key][name] ?? [0, 0];
    rows.push({ name, origin: originOf(name), count: (c1 - c0) / streams, bytes: (s1 - s0) / streams, count1: c1, bytes1: s1 });
  }
  return rows.sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes));
}

function byOrigin(rows) {
  const out = {};
  for (const row of rows) out[row.origin] = (out[row.origin] ?? 0) + row.bytes;
  return out;
}

// ---------------------------------------------------------------- report

const f1 = (x) => (Math.abs(x) < 0.05 ? '0' : x.toFixed(1));
const f2 = (x) => (Math.abs(x) < 0.005 ? '0' : x.toFixed(2));
const esc = (s) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;');

function render(results) {
  const d = LARGE - SMALL;
  const L = [];
  const h = results.herald;
  const fl = results.floor;
  L.push('# What an idle SSE stream costs in memory: Herald against a bare Node server');
  L.push('');
  L.push(`Measured ${results.date} on ${results.machine}; Node ${process.version}.`);
  L.push('Command: `npm run build && node bench/stream-heap.mjs` (takes ~4 min; `--keep-snapshots` keeps the .heapsnapshot files).');
  L.push('');
  L.push('## Method');
  L.push('');
  L.push(`- Each server runs alone as a child process: Herald (\`dist/apps/hub/src/main.js\`, NODE_ENV=production, LOG_LEVEL=warn, rate limits off, STREAMS_PER_USER_MAX=100, STREAM_MAX_AGE_MS=0, a temp SQLite file, no Redis) and the floor (\`bench/floor-server.mjs\`: \`http.createServer\`, \`res.writeHead\` + \`res.write\`, a \`Set\` of responses).`);
  L.push(`- Streams: raw \`net.connect\`, \`GET /v1/stream\` with \`Authorization: Bearer\` an HS256 JWT whose \`sub\` is a distinct user per stream; a stream counts once \`event: ready\` arrived; the client keeps reading.`);
  L.push(`- A preload (\`--require\`, written by the script) answers SIGUSR2 with a full GC (\`gc()\` twice), \`process.memoryUsage()\` and, in the snapshot run, \`v8.writeHeapSnapshot()\`.`);
  L.push(`- RSS run (no snapshots, as a snapshot leaves malloc arenas grown): VmRSS from \`/proc/<pid>/status\` ${SETTLE_MS / 1000} s after 0, ${SMALL} and ${LARGE} streams are open (no GC forced, as \`bench/scenarios/idle.mjs\` reads it), then heapUsed after a full GC.`);
  L.push(`- Snapshot run (a fresh process): heap snapshots at ${SMALL} and ${LARGE} streams. Per stream = (${LARGE} − ${SMALL} snapshot) / ${d}. Fractions are objects that only some streams have or that grow in steps (hash tables, arrays doubling).`);
  L.push(`- Labels: an object's constructor name; a closure's function name and the script of its code (shared → script edge); internal nodes by type and name (\`(array) (object properties)\`, \`(hidden) system / Context\`, \`(string)\`, …). "Self" is the node's own size.`);
  L.push(`- "Owned": every node that is not a non-container object (internal arrays, property stores, contexts, strings, and plain \`Object\`/\`Array\`/\`Map\`/\`Set\`/\`Promise\`/\`SafeMap\`…) is counted with its nearest holder that is a non-container object, a closure or a native node, found breadth-first over strong edges. So \`IncomingMessage\` owned = the IncomingMessage objects plus their headers objects, property stores and header strings. Sums are the whole heap either way. The origin column is a rule on the label (constructor name or script path); the rules are in the script.`);
  L.push('');

  L.push('## Headline');
  L.push('');
  L.push(`| per idle stream | Herald | floor | Herald − floor |`);
  L.push('|---|---:|---:|---:|');
  const rssPer = (pts, a, b) => (pts[b].rssKiB - pts[a].rssKiB) / (pts[b].streams - pts[a].streams);
  const heapPer = (pts, a, b) => (pts[b].heapUsed - pts[a].heapUsed) / 1024 / (pts[b].streams - pts[a].streams);
  const row = (title, fh, ff) => L.push(`| ${title} | ${f2(fh)} KiB | ${f2(ff)} KiB | ${f2(fh - ff)} KiB |`);
  if (h && fl) {
    row(`RSS, (${LARGE} − 0) / ${LARGE} (the bench's figure)`, rssPer(h.rss, 0, 2), rssPer(fl.rss, 0, 2));
    row(`RSS, (${LARGE} − ${SMALL}) / ${d}`, rssPer(h.rss, 1, 2), rssPer(fl.rss, 1, 2));
    row(`heapUsed after GC, (${LARGE} − ${SMALL}) / ${d}`, heapPer(h.rss, 1, 2), heapPer(fl.rss, 1, 2));
    const totalPer = (pts) => (pts[2].heapTotal - pts[1].heapTotal) / 1024 / (pts[2].streams - pts[1].streams);
    row(`heapTotal after GC, (${LARGE} − ${SMALL}) / ${d}`, totalPer(h.rss), totalPer(fl.rss));
    row(`V8 heap in the snapshots, (${LARGE} − ${SMALL}) / ${d}`, h.heapPerStream / 1024, fl.heapPerStream / 1024);
    row(`native (embedder) nodes in the snapshots`, h.nativePerStream / 1024, fl.nativePerStream / 1024);
  }
  L.push('');
  L.push('RSS and heapUsed at each point (RSS run):');
  L.push('');
  L.push('| server | streams | RSS MiB | RSS after GC MiB | heapUsed after GC MiB | heapTotal after GC MiB | external MiB |');
  L.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const [kind, r] of Object.entries({ herald: h, floor: fl })) {
    if (!r) continue;
    for (const p of r.rss) L.push(`| ${kind} | ${p.streams} | ${f1(p.rssKiB / 1024)} | ${f1(p.rssAfterGcKiB / 1024)} | ${f1(p.heapUsed / 2 ** 20)} | ${f1(p.heapTotal / 2 ** 20)} | ${f1(p.external / 2 ** 20)} |`);
  }
  L.push('');
  L.push(`Snapshots: Herald ${h ? `${f1(h.snaps[0].heap / 2 ** 20)} → ${f1(h.snaps[1].heap / 2 ** 20)} MiB (${h.snaps[0].nodes} → ${h.snaps[1].nodes} nodes)` : '-'}; floor ${fl ? `${f1(fl.snaps[0].heap / 2 ** 20)} → ${f1(fl.snaps[1].heap / 2 ** 20)} MiB (${fl.snaps[0].nodes} → ${fl.snaps[1].nodes} nodes)` : '-'}.`);
  L.push('');

  if (h && fl) {
    L.push('## By origin, bytes per stream (owned: each internal node counted with its holder)');
    L.push('');
    L.push('| origin | Herald | floor | Herald − floor | largest in Herald (owned bytes/stream) |');
    L.push('|---|---:|---:|---:|---|');
    const oh = byOrigin(h.owned);
    const of = byOrigin(fl.owned);
    const origins = [...new Set([...Object.keys(oh), ...Object.keys(of)])].sort((a, b) => (oh[b] ?? 0) - (oh[a] ?? 0));
    let th = 0;
    let tf = 0;
    for (const o of origins) {
      th += oh[o] ?? 0;
      tf += of[o] ?? 0;
      const largest = h.owned
        .filter((r) => r.origin === o && r.bytes >= 40)
        .slice(0, 4)
        .map((r) => `${esc(r.name)} ${Math.round(r.bytes)}`)
        .join('; ');
      L.push(`| ${o} | ${Math.round(oh[o] ?? 0)} | ${Math.round(of[o] ?? 0)} | ${Math.round((oh[o] ?? 0) - (of[o] ?? 0))} | ${largest} |`);
    }
    L.push(`| **total (V8 heap + native nodes)** | **${Math.round(th)}** | **${Math.round(tf)}** | **${Math.round(th - tf)}** | |`);
    L.push('');
  }

  const table = (title, rows, top, withFloor) => {
    L.push(title);
    L.push('');
    L.push(`| label | origin | objects/stream | bytes/stream |${withFloor ? ' floor objects/stream | floor bytes/stream | Herald − floor bytes |' : ''}`);
    L.push(`|---|---|---:|---:|${withFloor ? '---:|---:|---:|' : ''}`);
    const floorRows = withFloor ? Object.fromEntries(withFloor.map((r) => [r.name, r])) : {};
    for (const r of rows.slice(0, top)) {
      const fr = floorRows[r.name];
      L.push(`| ${esc(r.name)} | ${r.origin} | ${f2(r.count)} | ${Math.round(r.bytes)} |${withFloor ? ` ${fr ? f2(fr.count) : '0'} | ${fr ? Math.round(fr.bytes) : 0} | ${Math.round(r.bytes - (fr?.bytes ?? 0))} |` : ''}`);
    }
    L.push('');
  };
  if (h) {
    table(`## Herald: top ${40} owners, bytes per stream with what they own`, h.owned, 40, fl?.owned);
    table(`## Herald: top ${40} labels by self size, bytes per stream`, h.self, 40, fl?.self);
  }
  if (fl) {
    table('## Floor: top 20 owners, bytes per stream with what they own', fl.owned, 20);
    table('## Floor: top 20 labels by self size, bytes per stream', fl.self, 20);
  }
  return L.join('\n');
}

// ---------------------------------------------------------------- main

async function measure(kind) {
  log(`${kind}: RSS run`);
  const rss = await rssRun(kind);
  log(`${kind}: snapshot run`);
  const [a, b] = await snapshotRun(kind);
  const d = b.streams - a.streams;
  return {
    rss,
    snaps: [a, b].map((x) => ({ streams: x.streams, heap: x.analysis.heapBytes, native: x.analysis.nativeBytes, nodes: x.analysis.nodeCount, heapUsed: x.heapUsed })),
    heapPerStream: (b.analysis.heapBytes - a.analysis.heapBytes) / d,
    nativePerStream: (b.analysis.nativeBytes - a.analysis.nativeBytes) / d,
    self: perStream(a.analysis, b.analysis, 'self', d),
    owned: perStream(a.analysis, b.analysis, 'owned', d),
  };
}

const kinds = opts.only ? [opts.only] : ['herald', 'floor'];
const results = { date: new Date().toISOString().slice(0, 16).replace('T', ' '), machine: `${(await import('node:os')).cpus().length} cores, ${Math.round((await import('node:os')).totalmem() / 2 ** 30)} GiB` };
for (const kind of kinds) results[kind] = await measure(kind);
const ANALYSIS = /<!-- analysis -->[\s\S]*<!-- \/analysis -->/;
const previous = existsSync(opts.out) ? (ANALYSIS.exec(readFileSync(opts.out, 'utf8'))?.[0] ?? null) : null;
const markdown = `${render(results)}\n${previous ?? '<!-- analysis -->\n<!-- /analysis -->'}\n`;
writeFileSync(`${opts.out}.tmp`, markdown);
renameSync(`${opts.out}.tmp`, opts.out);
log(`wrote ${path.relative(ROOT, opts.out)}`);
