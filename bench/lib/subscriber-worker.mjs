// A subscriber process (forked by subscribers.mjs): holds many SSE streams
// (sse-client.mjs: raw sockets, one pre-built request each), spread over the
// server's loopback addresses, and records every benchmark event it receives:
// latency (read time minus scheduled send time), duplicates and order per
// stream. Commands arrive over IPC; see subscribers.mjs for the protocol.
import { now } from './clock.mjs';
import { compareIds, Ledger } from './ledger.mjs';
import { LOOPBACK_ADDRESSES } from './ports.mjs';
import { SseClient, streamRequest } from './sse-client.mjs';
import { userToken, userId } from './tokens.mjs';

const OPEN_TIMEOUT_MS = 10_000;
const OPEN_ATTEMPTS = 5; // a first open is retried this often, 50 ms × attempt apart
const REOPEN_ATTEMPTS = 50; // a reconnect after a drop (failover armed)

const ledger = new Ledger();
const slots = [];
const opening = new Set(); // slots with an open in progress (swept for the timeout)
let config; // {kind, channel}
let failover = null; // {targets: [{host, port}], backoffMs, reported}
let closing = false;
let readyCount = 0;
const counters = { opened: 0, failed: 0, retried: 0, dropped: 0, reconnected: 0, resets: 0, outOfOrder: 0, misrouted: 0, errors: {} };

const send = (message) => process.send(message);

function countError(what) {
  counters.errors[what] = (counters.errors[what] ?? 0) + 1;
}

function onFrame(slot, frame, at) {
  if (frame.event === 'ready') return markReady(slot, frame.id, at);
  if (frame.comment !== undefined) {
    // Nchan opens with ": hi"; Herald and the floor send an explicit ready event.
    if (config.kind === 'nchan' && !slot.ready) markReady(slot, undefined, at);
    return;
  }
  if (frame.event === 'reset') {
    counters.resets++;
    if (frame.id) slot.lastId = frame.id;
    return;
  }
  if (frame.data === undefined) return;
  let parsed;
  try {
    parsed = JSON.parse(frame.data);
  } catch {
    return countError('bad data');
  }
  const body = parsed.data && typeof parsed.data === 'object' && 'q' in parsed.data ? parsed.data : parsed;
  if (typeof body.q !== 'number') return;
  if (config.kind === 'herald' && config.topic !== undefined) {
    checkSourceOrder(slot, parsed);
    if (frame.id) slot.lastId = frame.id; // what a reconnect sends back, opaque
    if (parsed.topic !== undefined && parsed.topic !== config.topic) counters.misrouted++;
  } else if (config.kind === 'herald' && frame.id) {
    if (slot.lastId !== undefined && slot.lastId !== '0' && compareIds(frame.id, slot.lastId) <= 0) counters.outOfOrder++;
    slot.lastId = frame.id;
  }
  if (body.u !== undefined && body.u !== slot.user) counters.misrouted++;
  // Events are told apart by the (step, sequence) the publisher stamps in their data, never by an id.
  ledger.record(slot, body.s, body.q, body.t, at);
}

/**
 * On a stream that follows topics the frame id is a composite position in every
 * source (docs/api.md, "One id for every source"), not `<ms>-<seq>`: order is
 * checked on the event's own id in its source instead (the JSON's `id`; the
 * source is its `topic`, or the user's when it has none), per source.
 */
function checkSourceOrder(slot, event) {
  if (typeof event.id !== 'string') return;
  const source = event.topic ?? '';
  const last = slot.sourceIds?.get(source);
  if (last !== undefined && compareIds(event.id, last) <= 0) counters.outOfOrder++;
  (slot.sourceIds ??= new Map()).set(source, event.id);
}

function markReady(slot, id, at) {
  if (id !== undefined && slot.lastId === undefined) slot.lastId = id;
  if (slot.ready) return;
  slot.ready = true;
  slot.readyAt = at;
  readyCount++;
  settle(slot, true);
  if (slot.reconnecting) {
    slot.reconnecting = false;
    counters.reconnected++;
    maybeAllBack();
  }
}

/** Opens a stream for `slot` to `target` ({host, port}); done(ok) once it is ready (true) or has failed. */
function open(slot, target, done) {
  const request = slot.reconnecting && slot.lastId !== undefined
    ? streamRequest({ path: slot.path, token: slot.token, lastEventId: slot.lastId })
    : slot.request;
  slot.done = done;
  slot.openedAt = now();
  opening.add(slot);
  // A loopback target is spread over its addresses (ports.mjs); any other host is taken as is.
  const host = target.host === '127.0.0.1' ? slot.address : target.host;
  const client = new SseClient({
    host,
    port: target.port,
    request,
    onFrame: (frame, at) => onFrame(slot, frame, at),
    onEnd: (reason) => ended(slot, client, reason),
  });
  slot.client = client;
}

function settle(slot, ok) {
  const done = slot.done;
  if (!done) return;
  slot.done = null;
  opening.delete(slot);
  if (!ok) slot.client.close('failed');
  done(ok);
}

/** The stream `client` of `slot` is over: a failed open, or a drop we did not ask for. */
function ended(slot, client, reason) {
  if (closing || slot.client !== client) return;
  if (slot.done) {
    countError(reason);
    return settle(slot, false);
  }
  if (!slot.ready) return;
  slot.ready = false;
  readyCount--;
  counters.dropped++;
  if (!failover) return;
  slot.reconnecting = true;
  const target = failover.targets[slot.index % failover.targets.length];
  setTimeout(() => reopen(slot, target, 1), Math.random() * failover.backoffMs);
}

function reopen(slot, target, attempt) {
  if (closing) return;
  open(slot, target, (ok) => {
    if (ok || closing || attempt >= REOPEN_ATTEMPTS) return;
    setTimeout(() => reopen(slot, target, attempt + 1), 100 + Math.random() * failover.backoffMs);
  });
}

setInterval(() => {
  const stale = now() - OPEN_TIMEOUT_MS;
  for (const slot of opening) {
    if (slot.openedAt > stale) continue;
    countError('open timeout');
    settle(slot, false);
  }
}, 1000).unref();

function maybeAllBack() {
  if (!failover || failover.reported || readyCount < slots.length) return;
  failover.reported = true;
  let at = 0;
  for (const slot of slots) at = Math.max(at, slot.readyAt);
  send({ type: 'allBack', at, ...counters });
}

/** Opens every slot, at most `inflight` at a time; resolves once each is ready or has failed. */
function openAll(target, inflight) {
  return new Promise((resolve) => {
    let next = 0;
    let active = 0;
    const attempt = (slot, n) => open(slot, target, (ok) => {
      if (!ok && n < OPEN_ATTEMPTS) {
        counters.retried++;
        setTimeout(() => attempt(slot, n + 1), 50 * n);
        return;
      }
      if (ok) counters.opened++;
      else counters.failed++;
      active--;
      launch();
    });
    const launch = () => {
      while (active < inflight && next < slots.length) {
        active++;
        attempt(slots[next++], 1);
      }
      if (active === 0) resolve();
    };
    launch();
  });
}

async function openCommand({ kind, host, port, from, to, inflight, channel, topic, tokenTopics }) {
  config = { kind, channel, topic };
  const streamPath = topic === undefined ? '/v1/stream' : `/v1/stream?topic=${encodeURIComponent(topic)}`;
  // Everything a stream needs, its token and request bytes included, is built before the clock starts.
  for (let i = from; i < to; i++) {
    const user = userId(i);
    const path = kind === 'nchan' ? `/sub/${channel ?? user}` : streamPath;
    const token = kind === 'nchan' ? null : userToken(user, tokenTopics);
    slots.push({
      index: i, user, path, token, request: streamRequest({ path, token }),
      address: LOOPBACK_ADDRESSES[i % LOOPBACK_ADDRESSES.length],
      seen: new Set(), ready: false, client: null, done: null,
    });
  }
  const cpu0 = process.cpuUsage();
  const firstAt = now();
  await openAll({ host, port }, inflight);
  const cpu = process.cpuUsage(cpu0);
  let lastAt = -Infinity;
  for (const slot of slots) if (slot.ready) lastAt = Math.max(lastAt, slot.readyAt);
  send({ type: 'opened', firstAt, lastAt, cpuMs: (cpu.user + cpu.system) / 1000, ...counters });
}

process.on('message', async (message) => {
  switch (message.cmd) {
    case 'open':
      return openCommand(message);
    case 'count': {
      const entry = ledger.step(message.step);
      let total = 0;
      for (const count of entry.distinct.values()) total += count;
      return send({ type: 'count', total });
    }
    case 'collect':
      return send({ type: 'step', ...ledger.take(message.step), outOfOrder: counters.outOfOrder, misrouted: counters.misrouted, resets: counters.resets, dropped: counters.dropped });
    case 'failover':
      failover = { targets: message.targets, backoffMs: message.backoffMs, reported: false };
      return send({ type: 'armed' });
    case 'close':
      closing = true;
      for (const slot of slots) slot.client?.close();
      send({ type: 'closed', ...counters });
      return setTimeout(() => process.exit(0), 50);
  }
});
process.on('disconnect', () => process.exit(0));
