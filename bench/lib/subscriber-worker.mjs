// A subscriber process (forked by subscribers.mjs): holds many SSE streams over
// raw http.request (no agent, no keep-alive), spread over source addresses,
// parses their frames and records every benchmark event it receives: latency
// (read time minus scheduled send time), duplicates and order per stream.
// Commands arrive over IPC; see subscribers.mjs for the protocol.
import http from 'node:http';
import { now } from './clock.mjs';
import { compareIds, Ledger } from './ledger.mjs';
import { SseParser } from './sse-parser.mjs';
import { userToken, userId } from './tokens.mjs';

const ledger = new Ledger();
const slots = [];
let config; // {kind, host, port, addresses, inflight}
let failover = null; // {targets: [{host, port}], backoffMs}
let closing = false;
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
  if (config.kind === 'herald' && frame.id) {
    if (slot.lastId !== undefined && slot.lastId !== '0' && compareIds(frame.id, slot.lastId) <= 0) counters.outOfOrder++;
    slot.lastId = frame.id;
  }
  if (body.u !== undefined && body.u !== slot.user) counters.misrouted++;
  ledger.record(slot, body.s, body.q, body.t, at);
}

function markReady(slot, id, at) {
  if (id !== undefined && slot.lastId === undefined) slot.lastId = id;
  if (slot.ready) return;
  slot.ready = true;
  slot.readyAt = at;
  if (slot.reconnecting) {
    slot.reconnecting = false;
    counters.reconnected++;
    maybeAllBack();
  }
  slot.settle?.(true);
}

function request(slot, target) {
  const headers = { accept: 'text/event-stream' };
  if (config.kind !== 'nchan') headers.authorization = `Bearer ${slot.token}`;
  if (slot.lastId !== undefined && slot.reconnecting) headers['last-event-id'] = slot.lastId;
  const path = config.kind === 'nchan' ? `/sub/${config.channel ?? slot.user}` : '/v1/stream';
  const req = http.request({ host: target.host, port: target.port, path, headers, agent: false, localAddress: slot.address });
  slot.req = req;
  slot.parser = new SseParser((frame) => onFrame(slot, frame, slot.chunkAt));
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      countError(`status ${res.statusCode}`);
      res.resume();
      return slot.settle?.(false);
    }
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      slot.chunkAt = now();
      slot.parser.push(chunk);
    });
    res.on('end', () => lost(slot, req));
    res.on('error', () => lost(slot, req));
  });
  req.on('error', (err) => {
    countError(err.code ?? err.message);
    if (slot.ready) lost(slot, req);
    else slot.settle?.(false);
  });
  req.end();
}

/** The stream of `slot` ended without our asking. */
function lost(slot, req) {
  if (closing || slot.req !== req || !slot.ready) return;
  slot.ready = false;
  counters.dropped++;
  if (!failover) return;
  slot.reconnecting = true;
  const target = failover.targets[slot.index % failover.targets.length];
  setTimeout(() => reopen(slot, target), Math.random() * failover.backoffMs);
}

async function reopen(slot, target) {
  for (let attempt = 0; attempt < 50 && !closing; attempt++) {
    if (await attemptOpen(slot, target)) return;
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * failover.backoffMs));
  }
}

function attemptOpen(slot, target) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      countError('open timeout');
      slot.req?.destroy();
      resolve(false);
    }, 10_000);
    slot.settle = (ok) => {
      clearTimeout(timer);
      slot.settle = null;
      if (!ok) slot.req?.destroy();
      resolve(ok);
    };
    request(slot, target);
  });
}

function maybeAllBack() {
  if (!failover || failover.reported) return;
  if (slots.every((slot) => slot.ready)) {
    failover.reported = true;
    send({ type: 'allBack', at: Math.max(...slots.map((s) => s.readyAt)), ...counters });
  }
}

async function open({ kind, host, port, from, to, addresses, inflight, channel }) {
  config = { kind, host, port, addresses, inflight, channel };
  for (let i = from; i < to; i++) {
    const user = userId(i);
    slots.push({ index: i, user, token: kind === 'nchan' ? null : userToken(user), address: addresses[i % addresses.length], seen: new Set(), ready: false });
  }
  const target = { host, port };
  const firstAt = now();
  let next = 0;
  const worker = async () => {
    while (next < slots.length) {
      const slot = slots[next++];
      let ok = false;
      for (let attempt = 0; attempt < 5 && !ok; attempt++) {
        if (attempt > 0) {
          counters.retried++;
          await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
        }
        ok = await attemptOpen(slot, target);
      }
      if (ok) counters.opened++;
      else counters.failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, slots.length) }, worker));
  const lastAt = Math.max(...slots.filter((s) => s.ready).map((s) => s.readyAt));
  send({ type: 'opened', firstAt, lastAt, ...counters });
}

process.on('message', async (message) => {
  switch (message.cmd) {
    case 'open':
      return open(message);
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
      for (const slot of slots) slot.req?.destroy();
      send({ type: 'closed', ...counters });
      return setTimeout(() => process.exit(0), 50);
  }
});
process.on('disconnect', () => process.exit(0));
