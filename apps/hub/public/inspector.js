// The event inspector: every frame of the page's stream as it arrives (the
// client reads the stream with fetch, so it sees them all, heartbeats
// included), where the stream is, and what a reconnect brought back.
import { compact, timeOf } from './format.js';

const $ = (id) => document.getElementById(id);
/** Frames kept on screen: the newest, so a page left open for hours stays small. */
const MAX_FRAMES = 100;
/** The stream's own frames; every other frame is a published event (or the hub's `inbox.read`). */
export const PROTOCOL = new Set(['ready', 'reset', 'expired', 'topics']);

export class Inspector {
  constructor() {
    this.clear();
  }

  /** Forgets everything shown: nobody is signed in, or someone else is now. */
  clear() {
    this.heartbeats = 0;
    this.lastHeartbeat = null;
    this.connectionId = null;
    this.readyId = null;
    this.lastEventId = null;
    this.expiresAt = null;
    this.replay = null;
    $('frames').replaceChildren();
    $('drop-status').textContent = '';
    this.render();
  }

  /** Shows what `herald` receives from now on, and where its stream is. */
  watch(herald) {
    herald.on('frame', (frame) => this.frame(frame, herald.lastEventId));
    herald.on('ready', ({ connectionId, resumed }) => this.ready(connectionId, resumed));
    herald.on('state', (state) => {
      if (state !== 'live') this.connectionId = null;
      this.render();
    });
  }

  /** The user's token was minted again: it expires then. */
  tokenExpires(expiresAt) {
    this.expiresAt = expiresAt;
    this.render();
  }

  /** The page cut its stream on purpose, and publishes meanwhile: the reconnect shows what it replays. */
  dropped() {
    $('drop-status').textContent = 'Stream dropped. An event is published while it is down; then the page reconnects…';
  }

  frame(frame, lastEventId) {
    this.lastEventId = lastEventId ?? null;
    if (frame.comment !== undefined) {
      this.heartbeats += 1;
      this.lastHeartbeat = new Date();
    } else {
      this.log(frame);
    }
    this.render();
  }

  /**
   * A stream opened. A resumed one first replays what was published while
   * the page had none: events created before this moment. (Compared on the
   * page's clock with the hub's `createdAt`: the demo runs both on one
   * machine, and an event can only be marked wrongly within the clocks' skew.)
   */
  ready(connectionId, resumed) {
    this.connectionId = connectionId;
    this.replay = resumed ? { before: Date.now(), after: this.readyId, count: 0, reset: false } : null;
    if (resumed) this.sayReplayed();
    this.render();
  }

  log(frame) {
    const item = document.createElement('li');
    item.className = 'frame';
    const type = document.createElement('strong');
    type.className = 'frame-type';
    type.textContent = frame.event;
    item.append(type, ' ');
    const envelope = PROTOCOL.has(frame.event) ? null : parse(frame.data);
    if (envelope?.topic !== undefined) item.append(`on ${envelope.topic} `);
    if (frame.event === 'ready') this.readyId = frame.id;
    if (frame.event === 'reset' && this.replay) {
      this.replay.reset = true;
      this.sayReplayed();
    }
    if (envelope && this.replay && Date.parse(envelope.createdAt) <= this.replay.before) {
      item.dataset.replayed = 'true';
      const flag = document.createElement('span');
      flag.className = 'frame-flag';
      flag.textContent = 'replayed';
      item.append(flag, ' ');
      this.replay.count += 1;
      this.sayReplayed();
    }
    const when = document.createElement('time');
    when.textContent = timeOf(new Date());
    const id = document.createElement('code');
    id.className = 'frame-id';
    id.textContent = `id ${frame.id ?? '–'}`;
    const detail = document.createElement('code');
    detail.className = 'frame-data';
    // An event's own data; the stream's own frames as they came.
    detail.textContent = compact(envelope?.data ?? frame.data);
    item.append(when, ' ', id, ' ', detail);
    const list = $('frames');
    list.prepend(item);
    while (list.children.length > MAX_FRAMES) list.lastElementChild.remove();
  }

  sayReplayed() {
    const { after, count, reset } = this.replay;
    const what = [
      count > 0 && `${count} event${count === 1 ? '' : 's'} replayed, published while it was down`,
      reset && 'the hub no longer kept all that was missed (reset), so the page loaded what it shows again',
    ].filter(Boolean);
    $('drop-status').textContent = `Reconnected, resuming after id ${after}: ${what.join('; ') || 'nothing was missed'}.`;
  }

  render() {
    $('inspect-connection').textContent = this.connectionId ?? 'none';
    $('inspect-last-id').textContent = this.lastEventId ?? 'none';
    $('inspect-expiry').textContent = this.expiresAt
      ? `${timeOf(this.expiresAt)} (in ${Math.max(0, Math.round((this.expiresAt - Date.now()) / 60_000))} min)`
      : '–';
    $('inspect-heartbeats').textContent = this.lastHeartbeat
      ? `${this.heartbeats}, the last at ${timeOf(this.lastHeartbeat)}`
      : String(this.heartbeats);
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
