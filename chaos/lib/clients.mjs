// Browser tabs: each an `EventSource` (the `eventsource` package, v3) on the
// proxy, as a page would hold one. A tab authenticates with `?access_token=`
// (EventSource then reconnects by itself, sending Last-Event-ID) or with a
// stream ticket (single-use: EventSource's own reconnect gets 401, after
// which the tab fetches a new ticket and opens a new EventSource with
// `&lastEventId=`). When EventSource gives up (a non-200 answer: 503 while a
// hub drains or Redis is away, 429, 401), the tab opens a new one from the
// last id it saw, as the demo page does.
//
// Everything a tab receives is recorded, with the id it sent at each
// (re)connect, so that the checker can tell loss, duplicates, order and ids.
// EventSource fetches through node:http here (one connection per stream, its
// local port known), so that a tab can be stalled: its body is not read for
// a while, and the proxy stops reading from the hub for its connection.
import { EventSource } from 'eventsource';
import http from 'node:http';
import { Readable } from 'node:stream';
import { keyOf } from './ledger.mjs';
import { now, sleep } from './util.mjs';

/** Every event type the run's streams can carry; EventSource dispatches by type, so each is listened to. */
export const EVENT_TYPES = ['chaos.http', 'chaos.batch', 'chaos.ingress', 'chaos.flood', 'comment.created'];
const OTHER_TYPES = ['message', 'expired', 'inbox.read', 'topics'];
const CONNECT_TIMEOUT_MS = 15_000;

export class Tab {
  constructor({ id, user, mode, base, token, late = false, log }) {
    this.id = id;
    this.user = user;
    this.mode = mode;
    this.base = base;
    this.token = token;
    this.late = late;
    this.log = log;
    /** Event frames: {key, id, at, conn}. */
    this.events = [];
    this.resets = [];
    this.readies = 0;
    this.firstReadyAt = null;
    this.lastFrameAt = 0;
    /** When the last event frame (not a `ready`) arrived. */
    this.lastEventAt = 0;
    /** The id of the last frame with one: what a reconnect must send. */
    this.lastId = null;
    /** The last event (or reset) id, for the strictly-increasing check. */
    this.lastEventId = null;
    this.idViolations = [];
    this.readyMismatches = [];
    this.sentMismatches = [];
    this.unparsable = 0;
    this.foreignTypes = 0;
    this.connectAttempts = 0;
    this.eventSources = 0;
    this.errors = {};
    this.connected = false;
    this.closed = false;
    this.paused = null;
    this.stalls = 0;
    this.reopenFailures = 0;
    this.pendingSent = undefined;
    this.conn = 0;
    /** What happened to the tab's connection, for a failed run's tabs.json: {at, what, …}. */
    this.timeline = [];
  }

  note(what, detail = {}) {
    this.timeline.push({ at: Math.round(now()), what, ...detail });
  }

  /** Opens the first EventSource; resolves on its first `ready`. */
  open() {
    this.firstReady = new Promise((resolve) => (this.onFirstReady = resolve));
    void this.connect();
    return this.firstReady;
  }

  close() {
    this.closed = true;
    this.resume();
    this.es?.close();
  }

  count(what) {
    this.errors[what] = (this.errors[what] ?? 0) + 1;
  }

  async url() {
    const after = this.lastId === null ? '' : `&lastEventId=${encodeURIComponent(this.lastId)}`;
    if (this.mode === 'token') return `${this.base}/v1/stream?access_token=${this.token}${after}`;
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const response = await fetch(`${this.base}/v1/stream-tickets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token}` },
          signal: AbortSignal.timeout(10_000),
        });
        const body = await response.json().catch(() => ({}));
        if (response.status === 201 && body.ticket) return `${this.base}/v1/stream?ticket=${encodeURIComponent(body.ticket)}${after}`;
        this.count(`ticket ${response.status}`);
      } catch {
        this.count('ticket network');
      }
      await sleep(Math.min(2000, 200 * 2 ** attempt) * (0.5 + Math.random()));
    }
    return null;
  }

  async connect() {
    if (this.closed) return;
    const url = await this.url();
    if (url === null || this.closed) return;
    this.eventSources++;
    const es = new EventSource(url, { fetch: (input, init) => this.fetch(input, init) });
    this.es = es;
    for (const type of ['ready', 'reset', ...EVENT_TYPES]) es.addEventListener(type, (e) => this.onFrame(type, e));
    for (const type of OTHER_TYPES) es.addEventListener(type, (e) => this.onOther(type, e));
    es.addEventListener('error', (e) => this.onError(es, e));
  }

  onError(es, e) {
    if (es !== this.es) return;
    this.connected = false;
    this.note('error', { code: e.code, message: e.message, state: es.readyState });
    if (e.code) this.count(`http ${e.code}`);
    else if (e.message) this.count('network error');
    else this.count('stream ended');
    if (es.readyState === EventSource.CLOSED && !this.closed) {
      // EventSource gave up (a non-200 answer): a new one, from the last id seen.
      this.reopenFailures++;
      const wait = Math.min(2000, 250 * 2 ** Math.min(this.reopenFailures, 4)) * (0.5 + Math.random());
      setTimeout(() => void this.connect(), wait);
    }
  }

  /**
   * EventSource's fetch, over node:http (one connection per stream): records
   * the id it resumes from, times out a connect that gets no answer, knows
   * its socket's local port (the proxy can then stall that connection), and
   * lets the tab stop reading its body.
   */
  async fetch(input, init) {
    this.connectAttempts++;
    const header = init.headers?.['Last-Event-ID'];
    const query = new URL(String(input)).searchParams.get('lastEventId');
    const sent = header ?? query ?? null;
    // What EventSource sends must be the id of the last frame this tab saw; a
    // difference would mean a frame the tab did not see (a type not listened to).
    if (sent !== this.lastId) this.sentMismatches.push({ sent, expected: this.lastId });
    this.pendingSent = sent;
    this.note('connect', { sent });
    const response = await httpGet(String(input), init.headers ?? {}, init.signal, (port) => (this.localPort = port));
    if (!response.body) return response;
    const reader = response.body.getReader();
    const tab = this;
    const body = new ReadableStream(
      {
        async pull(stream) {
          if (tab.paused) await tab.paused.promise;
          try {
            const { done, value } = await reader.read();
            if (done) stream.close();
            else stream.enqueue(value);
          } catch (err) {
            stream.error(err);
          }
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }

  onFrame(type, e) {
    const at = now();
    this.lastFrameAt = at;
    const id = e.lastEventId;
    if (type === 'ready') {
      this.note('ready', { id, port: this.localPort });
      this.conn++;
      this.readies++;
      this.connected = true;
      this.reopenFailures = 0;
      // `ready` carries the id the client sent (the replay follows), or the user's newest when it sent none.
      if (this.pendingSent != null && id !== this.pendingSent) this.readyMismatches.push({ sent: this.pendingSent, ready: id });
      this.pendingSent = undefined;
      this.lastId = id;
      if (this.firstReadyAt === null) {
        this.firstReadyAt = at;
        this.onFirstReady();
      }
      return;
    }
    this.checkIncreasing(id, type);
    this.lastId = id;
    if (type === 'reset') {
      this.resets.push({ at, id, data: e.data });
      this.log(`${this.id}: reset (${e.data}) at id ${id}`);
      return;
    }
    let envelope;
    try {
      envelope = JSON.parse(e.data);
    } catch {
      this.unparsable++;
      return;
    }
    if (envelope.id !== id) this.idViolations.push(`frame id ${id} but event id ${envelope.id}`);
    const key = keyOf(envelope);
    if (key === null) {
      this.unparsable++;
      return;
    }
    this.events.push({ key, id, at, conn: this.conn });
    this.lastEventAt = at;
  }

  onOther(type, e) {
    this.lastFrameAt = now();
    this.foreignTypes++;
    if (e.lastEventId) {
      this.checkIncreasing(e.lastEventId, type);
      this.lastId = e.lastEventId;
    }
  }

  checkIncreasing(id, type) {
    if (this.lastEventId !== null && compareIds(id, this.lastEventId) <= 0) {
      this.idViolations.push(`${type} id ${id} after ${this.lastEventId}`);
    }
    this.lastEventId = id;
  }

  /**
   * Stops reading the stream for `ms`, then reads on. The tab stops reading
   * its body, and the proxy stops reading from the hub for the tab's
   * connection, so that what the hub sends backs up into the hub within
   * seconds rather than filling the buffers of four sockets first.
   */
  stall(ms, proxy) {
    if (this.paused) return;
    this.stalls++;
    this.stalledAtProxy = proxy?.stallClient(this.localPort, ms) ?? false;
    this.note('stall', { ms, atProxy: this.stalledAtProxy });
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    this.paused = { promise, resolve, timer: setTimeout(() => this.resume(), ms) };
  }

  resume() {
    if (!this.paused) return;
    clearTimeout(this.paused.timer);
    const { resolve } = this.paused;
    this.paused = null;
    resolve();
  }
}

/** Orders ids `<ms>-<seq>`; negative when a < b. */
export function compareIds(a, b) {
  const [am, as = '0'] = String(a).split('-');
  const [bm, bs = '0'] = String(b).split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq < 0n ? -1 : seq > 0n ? 1 : 0;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * A GET as a web Response, on a connection of its own; rejects like fetch
 * (a TypeError) on a network error or when no answer comes within
 * CONNECT_TIMEOUT_MS, and on an abort with an AbortError (which EventSource
 * takes for its own close()).
 */
function httpGet(url, headers, signal, onPort) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const request = http.request(url, { method: 'GET', headers, agent: false });
    const timer = setTimeout(() => request.destroy(new TypeError('connect timed out')), CONNECT_TIMEOUT_MS);
    const onAbort = () => request.destroy(new DOMException('aborted', 'AbortError'));
    signal?.addEventListener('abort', onAbort, { once: true });
    request.once('socket', (socket) => socket.once('connect', () => onPort(socket.localPort)));
    request.once('error', (err) => {
      clearTimeout(timer);
      reject(err.name === 'AbortError' ? err : new TypeError(`fetch failed: ${err.message}`));
    });
    request.once('response', (res) => {
      clearTimeout(timer);
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
      }
      res.once('close', () => signal?.removeEventListener('abort', onAbort));
      const body = NULL_BODY.has(res.statusCode) ? null : Readable.toWeb(res);
      resolve(new Response(body, { status: res.statusCode, statusText: res.statusMessage, headers: responseHeaders }));
    });
    request.end();
  });
}
