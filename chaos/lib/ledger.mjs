// Every event the publishers tried to publish, by key (`<publisher>:<n>`):
// its recipients, whether it was acknowledged, and when.
import { now } from './util.mjs';

export class Ledger {
  constructor() {
    this.events = new Map();
  }

  /** A new event, before its first attempt. `recipients` may be null (comments: known at the end). */
  add({ kind, pub, q, persist, recipients, batch = null }) {
    const key = `${pub}:${q}`;
    const event = {
      key,
      kind,
      pub,
      q,
      persist,
      recipients,
      batch,
      startedAt: now(),
      ackedAt: null,
      status: 'pending',
      attempts: 0,
      note: null,
    };
    this.events.set(key, event);
    return event;
  }

  ack(event, at = now()) {
    event.status = 'acked';
    event.ackedAt = at;
  }

  /** Not acknowledged (the run ended first, or an ingress XADD / comment whose outcome is unknown). */
  abandon(event, note) {
    event.status = 'unacked';
    event.note = note;
  }

  /** Refused with a 4xx: a fault of the run or of the hub, reported. */
  reject(event, note) {
    event.status = 'rejected';
    event.note = note;
  }

  get(key) {
    return this.events.get(key);
  }

  all() {
    return [...this.events.values()];
  }
}

/** The key of a published event in a frame's envelope: `{p, q}` in its data, or `[p:q]` opening a comment. */
export function keyOf(envelope) {
  const data = envelope?.data;
  if (!data || typeof data !== 'object') return null;
  if (typeof data.p === 'string' && Number.isInteger(data.q)) return `${data.p}:${data.q}`;
  if (typeof data.excerpt === 'string') {
    const match = /^\[([A-Za-z0-9_.-]+:\d+)\]/.exec(data.excerpt);
    if (match) return match[1];
  }
  return null;
}
