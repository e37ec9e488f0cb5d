/**
 * `@herald/client`: a Herald stream and inbox in a browser page or a Node
 * process, with what every app would otherwise write by hand around
 * `EventSource` (see docs/api.md, "Subscribe" and "Inbox"):
 *
 * - typed `on(type, handler)` for published events, and the connection's own
 *   events (`state`, `ready`, `reset`, `expired`, `topics`, `error`, and
 *   `frame` when it reads the stream with fetch);
 * - stream tickets instead of tokens in URLs: every open trades a token for a
 *   single-use ticket, so the client reopens the stream itself (a ticket cannot
 *   be used twice, so `EventSource`'s own reconnect would be refused), always
 *   with the last event id it saw: nothing is lost across reconnects;
 * - `expired`: a fresh token and a reconnect from the last id;
 * - `reset`: a callback to refetch what the replay could not bring back;
 * - back-off with jitter while opens are refused or fail;
 * - topics that survive reconnects, changed in place while the stream is live;
 * - the inbox (list, unread count, mark read) over `fetch`.
 *
 * One file with no imports and nothing but platform APIs (`fetch`,
 * `EventSource`, `URLSearchParams`, `setTimeout`), so that its compiled
 * `client.js` loads as is from a `<script type="module">`. Node has no
 * `EventSource`: pass one in (the `eventsource` package's class), or read the
 * stream with `fetch` (`transport: 'fetch'`), which also shows every frame
 * (`frame`): heartbeats and events no handler listens to.
 */

// ---- types -----------------------------------------------------------------

/**
 * Event types mapped to the shape of their `data`, for typed handlers:
 * `new HeraldClient<{ 'comment.created': { postId: string } }>(…)`. The
 * default takes any type, with `data` of unknown fields.
 */
export type EventMap = Record<string, object>;

/** The JSON of each event frame (docs/api.md, "Events"). */
export interface EventEnvelope<TData = Record<string, unknown>, TType extends string = string> {
  /** The event's id in its source (the user's, or the topic's). */
  id: string;
  /** The event type, the same as the frame's `event`. */
  type: TType;
  /** Only on an event that came through a topic: which one. */
  topic?: string;
  /** The object the publisher sent (`{}` when it sent none). */
  data: TData;
  /** When Herald accepted the event (ISO 8601, UTC). */
  createdAt: string;
  /** Only on a persisted event: its item in the recipient's inbox, for `inbox.markRead`. */
  notificationId?: string;
}

/** The data of `inbox.read`, which the hub sends to all of a user's streams when items are marked read. */
export interface InboxReadData {
  /** The item marked read; absent when all were (`all: true`). */
  notificationId?: string;
  all?: true;
  /** The user's unread count after the change: every tab can show the same badge. */
  unreadCount: number;
}

/** Events the hub itself sends to a user's streams, typed whatever the app's event map says. */
export interface HubEvents {
  'inbox.read': InboxReadData;
}

/**
 * - `connecting`: the first open after `connect()`;
 * - `live`: the stream sent `ready`; events flow;
 * - `reconnecting`: the stream ended or an open failed; the client is opening a
 *   new one (at once after a stream that was live, with back-off while opens fail);
 * - `closed`: before `connect()` and after `close()`.
 */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** The `ready` of each stream opened. */
export interface ReadyInfo {
  userId: string;
  /** Names this stream (for support, and for changing its topics). */
  connectionId: string;
  /** The topics this stream follows. */
  topics: string[];
  /**
   * Whether this client had a stream before (a reconnect: what was missed is
   * replayed, or a `reset` follows). False on a client's first stream, also
   * one that resumes from a stored `lastEventId`: the page has shown nothing
   * yet, so load the inbox (and what it shows of its topics) after this.
   */
  resumed: boolean;
}

/** A `reset`: the stream missed more than the hub keeps for replay, and continues live from now. */
export interface ResetInfo {
  /** The topic whose events were missed; absent when it is the user's own (then refetch the inbox). */
  topic?: string;
  /** Why (`replay-window-exceeded`). */
  reason: string;
}

/** The client's own events, for `on`: these names are never event types of the map. */
export interface ClientEvents {
  /** The connection's state changed. */
  state: ConnectionState;
  /** A stream opened (after every reconnect too). */
  ready: ReadyInfo;
  /** A stream could not replay what was missed (after `onReset` was called). */
  reset: ResetInfo;
  /** The token that opened the stream expired; the client is reconnecting with a fresh one, from the last id. */
  expired: { reason: string };
  /** The stream follows these topics now (after `setTopics` while live). */
  topics: { topics: string[] };
  /** Something went wrong: a refused or failed open (the client retries by itself), a handler that threw, a frame that was not JSON. */
  error: HeraldError;
  /**
   * A frame of the stream as it arrived, before the client handles it: every
   * event (of any type, `ready`, `reset`, `expired` and `topics` included) and
   * every comment line (the hub's `: ping` heartbeats). Only with
   * `transport: 'fetch'`: an `EventSource` shows a page neither.
   */
  frame: StreamFrame;
}

/** One frame of the stream as the hub wrote it: an event, or a comment line. */
export interface StreamFrame {
  /** The event's type (its `event:` field, `message` when it has none); absent on a comment. */
  event?: string;
  /** Its `id:`, the position to resume from; absent on a comment. */
  id?: string;
  /** Its `data:` (the envelope's JSON for a published event); absent on a comment. */
  data?: string;
  /** A comment line's text (`ping` for the heartbeat); only on a comment. */
  comment?: string;
}

/** Names of the client's own events; an app's event map may not use them. */
type ClientEventName = keyof ClientEvents;

/**
 * A user's event map, checked: data shapes are objects, and no type is one of
 * the client's own event names (`ready`, `reset`, `expired`, `topics` and
 * `error` cannot be published; `state` and `frame` can, but this client
 * reports its connection state and the stream's frames under those names).
 */
export type CheckedEventMap<Events> = { [K in keyof Events]: K extends ClientEventName ? never : object };

/** The data of each event type the stream may carry: the app's, and the hub's own. */
type StreamEvents<Events> = Omit<Events, keyof HubEvents> & HubEvents;
/** The event types `on` takes for the stream. */
export type StreamEventType<Events> = Exclude<keyof StreamEvents<Events>, ClientEventName> & string;
/** The `data` of events of type `K`. */
export type StreamEventData<Events, K> = K extends keyof StreamEvents<Events> ? StreamEvents<Events>[K] : never;

/** An item of the inbox (`GET /v1/notifications`). */
export type InboxItem<Events = EventMap> = {
  [K in keyof Events & string]: {
    /** The same as the `notificationId` of its stream event. */
    id: string;
    type: K;
    data: Events[K];
    createdAt: string;
    /** When it was first marked read; null while unread. */
    readAt: string | null;
  };
}[keyof Events & string];

/** A page of the inbox, newest first. */
export interface InboxPage<Events = EventMap> {
  items: InboxItem<Events>[];
  /** The user's unread items, all pages. */
  unreadCount: number;
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** The inbox of the user the token names. */
export interface Inbox<Events = EventMap> {
  /** A page of the inbox, newest first: `limit` 1-100 (default 20), `before` a `nextCursor` from an earlier page. */
  list(options?: { limit?: number; before?: string }): Promise<InboxPage<Events>>;
  /** How many items are unread. */
  unreadCount(): Promise<number>;
  /** Marks one item read (its `id`, the event's `notificationId`); every stream of the user gets `inbox.read`. */
  markRead(id: string): Promise<void>;
  /** Marks every item read; every stream of the user gets `inbox.read` with `all: true`. */
  markAllRead(): Promise<void>;
}

/** What `token` is told about the call. */
export interface TokenRequest {
  /**
   * True after the hub refused the last token (a 401) or the stream said
   * `expired`: a cached token will not do, get a new one.
   */
  refresh: boolean;
}

/** The part of a `MessageEvent` the client reads (an `error` event of the `eventsource` package carries `code`). */
export interface StreamEventLike {
  readonly data?: unknown;
  readonly lastEventId?: string;
  /** The HTTP status of a refused open (the `eventsource` package and `transport: 'fetch'`; a browser's `EventSource` does not tell). */
  readonly code?: number;
}

/** The part of an `EventSource` the client uses. */
export interface EventSourceLike {
  addEventListener(type: string, listener: (event: StreamEventLike) => void): void;
  close(): void;
}

/** An `EventSource` class: the browser's, or the `eventsource` package's in Node. */
export type EventSourceClass = new (url: string) => EventSourceLike;

/** The part of a `fetch` response the client reads. */
export interface FetchResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  /** The body as it arrives: read by `transport: 'fetch'`. */
  readonly body?: ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
}

/** The part of `fetch` the client uses: the platform's fits. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<FetchResponseLike>;

export interface HeraldClientOptions {
  /**
   * The hub's base URL (`https://hub.example`), or `''` for the page's own
   * origin. Another origin must be listed in the hub's `CORS_ORIGINS`.
   */
  url: string;
  /**
   * A user token (JWT) for the hub. Called for every stream open and every
   * API call, and with `refresh: true` after the stream said `expired` or the
   * hub answered 401; return a cached token otherwise if you like. The token
   * only goes in `Authorization` headers, never in a URL.
   */
  token: (request: TokenRequest) => string | Promise<string>;
  /** Topics to follow on the stream (`post:42`); `setTopics` changes them. The token's `topics` claim or the hub's `PUBLIC_TOPICS` must admit each. */
  topics?: readonly string[];
  /**
   * Called when the stream missed more than the hub keeps for replay: with no
   * `topic`, refetch the inbox (`inbox.list()`); with one, reload what the
   * page shows of that topic. Also emitted as the `reset` event.
   */
  onReset?: (info: ResetInfo) => void;
  /** Resume from this event id (one this client's `lastEventId` gave earlier, say kept in `sessionStorage`). */
  lastEventId?: string;
  /** The `EventSource` class; default `globalThis.EventSource` (browsers). In Node pass the `eventsource` package's. */
  EventSource?: EventSourceClass;
  /** The `fetch` to call the hub with (and to read the stream with, under `transport: 'fetch'`); default `globalThis.fetch`. */
  fetch?: FetchLike;
  /**
   * How the stream is read: `'eventsource'` (the default) with the
   * `EventSource` class, or `'fetch'`, reading its bytes with `fetch`. Only
   * `'fetch'` sees every frame: comment lines (heartbeats) and events of types
   * no handler listens to, which it reports as `frame` events and whose ids it
   * tracks; it also tells the status of a refused stream, and needs no
   * `EventSource` in Node.
   */
  transport?: 'eventsource' | 'fetch';
  /**
   * Waits between opens that keep failing (the ticket refused or unreachable,
   * 401/403/429/503, a stream that errs before `ready`): `initialMs` (default
   * 1000) after the first failure, doubling up to `maxMs` (default 30000), each
   * wait jittered to 50-100 % of that; a `Retry-After` is honoured. A stream
   * that was live reconnects at once.
   */
  backoff?: { initialMs?: number; maxMs?: number };
}

/** A refused or failed request (`status` absent when the hub was not reached), or a handler that threw. */
export class HeraldError extends Error {
  /** The HTTP status of the hub's answer; absent when it was not reached. */
  readonly status?: number;
  /** The hub's error JSON (`{statusCode, error, message, field?, …}`). */
  readonly body?: unknown;
  /** How long the hub asked to wait (`Retry-After`), in ms. */
  readonly retryAfterMs?: number;

  constructor(message: string, details: { status?: number; body?: unknown; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, 'cause' in details ? { cause: details.cause } : undefined);
    this.name = 'HeraldError';
    this.status = details.status;
    this.body = details.body;
    this.retryAfterMs = details.retryAfterMs;
  }
}

// ---- the client ------------------------------------------------------------

/** Events the hub sends of its own: always listened to, so that their ids are tracked. */
const HUB_EVENTS = ['inbox.read'];
const CLIENT_EVENTS: ReadonlySet<string> = new Set<ClientEventName>(['state', 'ready', 'reset', 'expired', 'topics', 'error', 'frame']);
/**
 * A stream that ends sooner than this after its `ready` counts as a failed
 * open (back-off), so that a hub that accepts and drops streams at once is not
 * hammered; one that lived longer is reopened at once.
 */
const STABLE_MS = 1000;

type Handler = (...args: never[]) => void;
type AnyHandler = (...args: unknown[]) => void;

/**
 * A Herald stream and inbox for one user. Create it, register handlers with
 * `on`, then `connect()`:
 *
 * ```ts
 * const herald = new HeraldClient<{ 'comment.created': { postId: string } }>({ url: '', token: () => getToken() });
 * herald.on('comment.created', (data, envelope) => show(data.postId, envelope.notificationId));
 * herald.on('state', (state) => setStatus(state));
 * herald.connect();
 * ```
 */
export class HeraldClient<Events extends CheckedEventMap<Events> = Record<string, Record<string, unknown>>> {
  /** The inbox of the token's user. */
  readonly inbox: Inbox<Events>;

  private readonly base: string;
  private readonly tokenSource: (request: TokenRequest) => string | Promise<string>;
  private readonly onReset?: (info: ResetInfo) => void;
  private readonly EventSourceImpl?: EventSourceClass;
  private readonly fetchImpl?: FetchLike;
  private readonly transport: 'eventsource' | 'fetch';
  private readonly initialMs: number;
  private readonly maxMs: number;

  private readonly handlers = new Map<string, Set<AnyHandler>>();
  private currentState: ConnectionState = 'closed';
  private lastId: string | undefined;
  private wantedTopics: readonly string[];
  /** The topics the live stream follows, as its `ready`, its `topics` or a change said. */
  private streamTopics: readonly string[] = [];
  private source: EventSourceLike | undefined;
  /** Event types with a listener on `source`. */
  private sourceTypes = new Set<string>();
  private sourceResumed = false;
  /** Whether a stream of this client has sent `ready`: later ones are reconnects. */
  private hadStream = false;
  private currentConnectionId: string | undefined;
  private liveSince: number | undefined;
  /** Bumped by every open and by close(): an answer for an older one is dropped. */
  private generation = 0;
  private failures = 0;
  private refreshToken = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Changes of topics, one after another. */
  private topicChanges: Promise<void> = Promise.resolve();

  constructor(options: HeraldClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.tokenSource = options.token;
    this.onReset = options.onReset;
    this.EventSourceImpl = options.EventSource;
    this.fetchImpl = options.fetch;
    this.transport = options.transport ?? 'eventsource';
    this.initialMs = options.backoff?.initialMs ?? 1000;
    this.maxMs = Math.max(options.backoff?.maxMs ?? 30_000, this.initialMs);
    this.wantedTopics = unique(options.topics ?? []);
    this.lastId = options.lastEventId || undefined;
    this.inbox = {
      list: async ({ limit, before } = {}) => {
        const query = new URLSearchParams();
        if (limit !== undefined) query.set('limit', String(limit));
        if (before !== undefined) query.set('before', before);
        const suffix = query.toString() === '' ? '' : `?${query}`;
        return (await this.request('GET', `/v1/notifications${suffix}`)) as InboxPage<Events>;
      },
      unreadCount: async () => ((await this.request('GET', '/v1/notifications?limit=1')) as InboxPage<Events>).unreadCount,
      markRead: async (id) => {
        await this.request('POST', `/v1/notifications/${encodeURIComponent(id)}/read`);
      },
      markAllRead: async () => {
        await this.request('POST', '/v1/notifications/read-all');
      },
    };
  }

  /** The connection's state; the `state` event tells each change. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** The id of the last frame received: every reopen resumes from it. Keep it to resume in a later `HeraldClient` (option `lastEventId`). */
  get lastEventId(): string | undefined {
    return this.lastId;
  }

  /** The `connectionId` of the live stream; undefined while there is none. */
  get connectionId(): string | undefined {
    return this.currentConnectionId;
  }

  /** The topics followed: on the live stream, and on every later (re)connect. */
  get topics(): readonly string[] {
    return this.wantedTopics;
  }

  /**
   * Registers a handler for one of the client's own events (`state`, `ready`,
   * `reset`, `expired`, `topics`, `error`, `frame`) or for an event type on the stream,
   * which gets the event's `data` and its whole envelope. Handlers may be
   * added before or after `connect()`; one that throws is reported as an
   * `error` event (or on the console), never to the client.
   * @returns a function that removes the handler.
   */
  on<K extends ClientEventName>(type: K, handler: (value: ClientEvents[K]) => void): () => void;
  on<K extends StreamEventType<Events>>(
    type: K,
    handler: (data: StreamEventData<Events, K>, envelope: EventEnvelope<StreamEventData<Events, K>, K>) => void,
  ): () => void;
  on(type: string, handler: Handler): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    const listener = handler as unknown as AnyHandler;
    set.add(listener);
    if (!CLIENT_EVENTS.has(type) && this.source) this.listen(this.source, type);
    return () => {
      this.handlers.get(type)?.delete(listener);
    };
  }

  /** Opens the stream (nothing happens while it is open or opening). After `close()`, resumes from `lastEventId`. */
  connect(): void {
    if (this.currentState !== 'closed') return;
    this.failures = 0;
    this.setState('connecting');
    void this.open();
  }

  /** Closes the stream and stops reconnecting. The handlers stay; `connect()` opens it again. */
  close(): void {
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.endSource();
    this.setState('closed');
  }

  /**
   * Follows exactly these topics from now on, and on every later (re)connect.
   * While the stream is live, changes it in place (`PUT /v1/streams/{id}/topics`)
   * and resolves once the hub follows them; otherwise remembers them for the
   * next open. Topics added start at their newest event: load what the page
   * shows of them after this resolves.
   * @throws HeraldError when the hub refuses them (400, 403: not the token's
   *   to follow); then the topics followed before stay.
   */
  setTopics(topics: readonly string[]): Promise<void> {
    this.wantedTopics = unique(topics);
    return this.queueTopics(this.wantedTopics);
  }

  // ---- opening streams -----------------------------------------------------

  /** Trades a token for a ticket and opens a stream with it, from the last id. */
  private async open(): Promise<void> {
    if (this.isClosed()) return;
    const generation = ++this.generation;
    this.timer = undefined;
    let ticket: string;
    try {
      const answer = (await this.request('POST', '/v1/stream-tickets', undefined, this.refreshToken)) as { ticket?: unknown };
      if (typeof answer?.ticket !== 'string') {
        throw new HeraldError('POST /v1/stream-tickets: no ticket in the answer', { status: 201, body: answer });
      }
      ticket = answer.ticket;
    } catch (err) {
      if (generation !== this.generation) return;
      const error = asHeraldError(err, 'could not get a stream ticket');
      if (error.status === 401) this.refreshToken = true;
      this.report(error);
      this.retry(error.retryAfterMs);
      return;
    }
    if (generation !== this.generation) return;
    this.refreshToken = false;

    const query = new URLSearchParams({ ticket });
    if (this.lastId !== undefined) query.set('lastEventId', this.lastId);
    for (const topic of this.wantedTopics) query.append('topic', topic);
    let source: EventSourceLike | undefined;
    try {
      source = this.newSource(`${this.base}/v1/stream?${query}`);
    } catch (err) {
      this.report(asHeraldError(err, 'could not open the stream'));
      this.retry();
      return;
    }
    if (!source) {
      this.report(
        new HeraldError(
          this.transport === 'fetch'
            ? 'no fetch: pass one as the fetch option'
            : "no EventSource: pass one as the EventSource option (in Node, the eventsource package's), or use transport: 'fetch'",
        ),
      );
      this.close();
      return;
    }
    this.source = source;
    this.sourceTypes = new Set();
    this.sourceResumed = this.hadStream;
    source.addEventListener('ready', (event) => this.protocolFrame(source, event, (data) => this.onReady(data)));
    source.addEventListener('reset', (event) => this.protocolFrame(source, event, (data) => this.onResetFrame(data)));
    source.addEventListener('expired', (event) => this.protocolFrame(source, event, (data) => this.onExpired(data)));
    source.addEventListener('topics', (event) =>
      this.protocolFrame(source, event, (data) => {
        this.streamTopics = stringsOf((data as { topics?: unknown }).topics);
        this.emit('topics', { topics: [...this.streamTopics] });
      }),
    );
    source.addEventListener('error', (event) => {
      if (source === this.source) this.onStreamError(event);
    });
    for (const type of HUB_EVENTS) this.listen(source, type);
    for (const type of this.handlers.keys()) if (!CLIENT_EVENTS.has(type)) this.listen(source, type);
  }

  /** A stream from `url`: an `EventSource`, or one read with `fetch` that reports its frames; undefined when the platform lacks what it needs. */
  private newSource(url: string): EventSourceLike | undefined {
    if (this.transport === 'fetch') {
      const fetchImpl = this.fetchFunction();
      return fetchImpl && new FetchEventSource(url, fetchImpl, (source, frame) => this.onFrame(source, frame));
    }
    const EventSourceImpl = this.EventSourceImpl ?? (globalThis as { EventSource?: EventSourceClass }).EventSource;
    return EventSourceImpl && new EventSourceImpl(url);
  }

  /** After a failed open: waits (longer after each), then opens again. */
  private retry(retryAfterMs = 0): void {
    if (this.isClosed()) return; // closed by an error handler
    this.setState('reconnecting');
    if (this.isClosed()) return; // closed by a state handler
    const wait = Math.min(this.initialMs * 2 ** this.failures, this.maxMs);
    this.failures++;
    const delay = Math.max(wait * (0.5 + Math.random() * 0.5), retryAfterMs);
    clearTimeout(this.timer);
    const generation = ++this.generation;
    this.timer = setTimeout(() => {
      if (generation === this.generation) void this.open();
    }, delay);
  }

  /**
   * The stream ended, or was refused. A stream that was live reopens at once
   * (the hub restarted, the stream reached its maximum age, the network
   * blinked); a refused one backs off.
   */
  private onStreamError(event: StreamEventLike): void {
    if (this.liveSince === undefined) {
      const status = typeof event.code === 'number' ? event.code : undefined;
      this.report(new HeraldError(`the stream was refused${status ? ` (${status})` : ''} or could not be reached`, { status }));
      if (this.isClosed()) return; // an error handler closed the client
    }
    this.reopen();
  }

  /**
   * Drops the stream and opens a new one: at once after one that was live for
   * a while, else after a back-off wait.
   */
  private reopen(): void {
    const stable = this.liveSince !== undefined && Date.now() - this.liveSince >= STABLE_MS;
    this.endSource();
    if (!stable) {
      this.retry();
      return;
    }
    this.failures = 0;
    this.setState('reconnecting');
    void this.open(); // nothing when a state handler closed the client
  }

  private onReady(data: unknown): void {
    const ready = data as { userId?: unknown; connectionId?: unknown; topics?: unknown };
    this.currentConnectionId = typeof ready.connectionId === 'string' ? ready.connectionId : undefined;
    this.streamTopics = stringsOf(ready.topics);
    this.liveSince = Date.now();
    this.hadStream = true;
    const source = this.source;
    this.setState('live');
    if (source !== this.source) return; // a state handler closed the client
    this.emit('ready', {
      userId: String(ready.userId ?? ''),
      connectionId: this.currentConnectionId ?? '',
      topics: [...this.streamTopics],
      resumed: this.sourceResumed,
    });
    // setTopics() while this stream was opening: its URL had the old ones.
    if (!sameTopics(this.streamTopics, this.wantedTopics)) {
      this.queueTopics(this.wantedTopics).catch((err: unknown) => this.report(asHeraldError(err, 'could not change topics')));
    }
  }

  private onResetFrame(data: unknown): void {
    const { reason, topic } = data as { reason?: unknown; topic?: unknown };
    const info: ResetInfo = { reason: String(reason ?? 'reset') };
    if (typeof topic === 'string') info.topic = topic;
    if (this.onReset) this.safely(() => this.onReset!({ ...info }));
    this.emit('reset', info);
  }

  /** The token expired: a fresh one, and on from the last id (the `expired` frame's). */
  private onExpired(data: unknown): void {
    this.refreshToken = true;
    this.emit('expired', { reason: String((data as { reason?: unknown }).reason ?? 'token-expired') });
    if (this.isClosed()) return; // an expired handler closed the client
    this.reopen();
  }

  private endSource(): void {
    this.source?.close();
    this.source = undefined;
    this.currentConnectionId = undefined;
    this.liveSince = undefined;
  }

  // ---- frames --------------------------------------------------------------

  /** Every frame a `fetch` stream reads, before it is dispatched: its id is tracked whatever its type. */
  private onFrame(source: EventSourceLike, frame: StreamFrame): void {
    if (source !== this.source) return;
    if (frame.id !== undefined) this.lastId = frame.id;
    this.emit('frame', { ...frame });
  }

  /** Tracks the frame's id, then hands its parsed data to `handle` (frames of a closed source are dropped). */
  private protocolFrame(source: EventSourceLike, event: StreamEventLike, handle: (data: unknown) => void): void {
    if (source !== this.source) return;
    this.track(event);
    const data = this.parse(event);
    handle(typeof data === 'object' && data !== null ? data : {});
  }

  /** Adds a listener for an event type on `source`, once. */
  private listen(source: EventSourceLike, type: string): void {
    if (this.sourceTypes.has(type)) return;
    this.sourceTypes.add(type);
    source.addEventListener(type, (event) => {
      if (source !== this.source) return;
      this.track(event);
      const envelope = this.parse(event) as EventEnvelope | undefined;
      if (typeof envelope !== 'object' || envelope === null) return;
      const handlers = this.handlers.get(type);
      if (!handlers) return;
      for (const handler of [...handlers]) this.safely(() => handler(envelope.data, envelope));
    });
  }

  private track(event: StreamEventLike): void {
    if (event.lastEventId) this.lastId = event.lastEventId;
  }

  private parse(event: StreamEventLike): unknown {
    try {
      return JSON.parse(String(event.data));
    } catch (err) {
      this.report(new HeraldError(`a stream frame that is not JSON: ${String(event.data).slice(0, 200)}`, { cause: err }));
      return undefined;
    }
  }

  // ---- topics --------------------------------------------------------------

  /** Changes of topics go one after another; each gives way to a later one. */
  private queueTopics(wanted: readonly string[]): Promise<void> {
    const change = this.topicChanges.then(() => this.applyTopics(wanted));
    this.topicChanges = change.catch(() => undefined);
    return change;
  }

  private async applyTopics(wanted: readonly string[]): Promise<void> {
    for (;;) {
      // A later call took over, or there is no live stream: the next open's URL has them.
      if (this.wantedTopics !== wanted) return;
      const connectionId = this.currentConnectionId;
      if (this.currentState !== 'live' || connectionId === undefined) return;
      if (sameTopics(this.streamTopics, wanted)) return;
      try {
        await this.request('PUT', `/v1/streams/${encodeURIComponent(connectionId)}/topics`, { topics: wanted });
        if (this.currentConnectionId === connectionId) this.streamTopics = wanted;
        return;
      } catch (err) {
        const error = asHeraldError(err, 'could not change topics');
        // The stream is not live yet, or catching up after an outage (409): again shortly.
        if (error.status === 409) {
          await pause(error.retryAfterMs ?? 1000);
          continue;
        }
        if (error.status === 400 || error.status === 403) {
          if (this.wantedTopics === wanted) this.wantedTopics = this.streamTopics;
          throw error;
        }
        // Anything else: the hub lost the stream (404), ended it (503), or could not be
        // asked. A new stream carries the topics in its URL, and resumes from the last id.
        if (this.currentConnectionId === connectionId && this.wantedTopics === wanted) {
          this.report(error);
          this.reopen();
        }
        return;
      }
    }
  }

  // ---- requests ------------------------------------------------------------

  /**
   * One API call with the token in `Authorization`. A 401 is tried again once
   * with a fresh token, a network error once (the request may have met a
   * connection the hub had just closed); every call the client makes may be
   * repeated safely.
   */
  private async request(method: string, path: string, body?: unknown, refresh = false): Promise<unknown> {
    const fetchImpl = this.fetchFunction();
    if (!fetchImpl) throw new HeraldError('no fetch: pass one as the fetch option');
    let refreshed = refresh;
    let networkRetried = false;
    for (;;) {
      const token = await this.tokenSource({ refresh: refreshed });
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      let response: FetchResponseLike;
      try {
        response = await fetchImpl(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (err) {
        if (!networkRetried) {
          networkRetried = true;
          continue;
        }
        throw new HeraldError(`${method} ${path}: ${errorMessage(err)}`, { cause: err });
      }
      if (response.status === 401 && !refreshed) {
        refreshed = true;
        await response.text().catch(() => '');
        continue;
      }
      const text = await response.text().catch(() => '');
      let payload: unknown;
      try {
        payload = text === '' ? undefined : JSON.parse(text);
      } catch {
        payload = text;
      }
      if (response.ok) return payload;
      const message = (payload as { message?: unknown } | undefined)?.message;
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new HeraldError(`${method} ${path}: ${response.status}${typeof message === 'string' ? ` ${message}` : ''}`, {
        status: response.status,
        body: payload,
        retryAfterMs: retryAfter > 0 ? retryAfter * 1000 : undefined,
      });
    }
  }

  /** Called as a plain function, never as a method of an object: a browser's fetch refuses another `this`. */
  private fetchFunction(): FetchLike | undefined {
    return this.fetchImpl ?? (globalThis as { fetch?: FetchLike }).fetch;
  }

  // ---- the client's own events ---------------------------------------------

  /** A method, not a comparison TypeScript narrows: handlers may close the client between two looks. */
  private isClosed(): boolean {
    return this.currentState === 'closed';
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }

  private emit<K extends ClientEventName>(type: K, value: ClientEvents[K]): void {
    const handlers = this.handlers.get(type);
    if (!handlers) return;
    for (const handler of [...handlers]) {
      if (type === 'error') {
        try {
          handler(value);
        } catch (err) {
          console.error('@herald/client: an error handler threw', err);
        }
      } else {
        this.safely(() => handler(value));
      }
    }
  }

  /** Runs an app's handler; what it throws goes to `error` handlers, or to the console when there are none. */
  private safely(run: () => void): void {
    try {
      run();
    } catch (err) {
      const error = new HeraldError(`a handler threw: ${errorMessage(err)}`, { cause: err });
      if (this.handlers.get('error')?.size) this.emit('error', error);
      else console.error('@herald/client:', error.message, err);
    }
  }

  /** A failure the client copes with by itself: told to `error` handlers only. */
  private report(error: HeraldError): void {
    this.emit('error', error);
  }
}

// ---- reading a stream with fetch ---------------------------------------------

type FrameListener = (event: StreamEventLike) => void;

/**
 * A stream read with `fetch` (`transport: 'fetch'`), behind the part of the
 * `EventSource` interface the client uses. It parses the bytes itself, so it
 * hears what an `EventSource` hides: comment lines, and events of every type,
 * each handed to `onFrame` before its listeners. Like the client's use of
 * `EventSource`, it never reconnects by itself: `error` (with `code`, the
 * status of a refused stream) tells the client the stream is over.
 */
class FetchEventSource implements EventSourceLike {
  private readonly listeners = new Map<string, FrameListener[]>();
  private readonly abort = new AbortController();

  constructor(
    url: string,
    fetchImpl: FetchLike,
    private readonly onFrame: (source: FetchEventSource, frame: StreamFrame) => void,
  ) {
    void this.run(url, fetchImpl);
  }

  addEventListener(type: string, listener: FrameListener): void {
    const list = this.listeners.get(type);
    if (list) list.push(listener);
    else this.listeners.set(type, [listener]);
  }

  close(): void {
    this.abort.abort();
  }

  private async run(url: string, fetchImpl: FetchLike): Promise<void> {
    let code: number | undefined;
    try {
      const response = await fetchImpl(url, { method: 'GET', headers: { accept: 'text/event-stream' }, signal: this.abort.signal });
      if (response.ok && response.body) await this.read(response.body);
      else {
        code = response.status;
        await response.text().catch(() => '');
      }
    } catch {
      // Cut off, or unreachable: either way the stream is over, as when it ends.
    }
    if (!this.abort.signal.aborted) this.dispatch('error', { code });
  }

  /** Lines end with LF or CRLF (the hub writes LF); a blank line ends an event, a comment line stands alone. */
  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let event: StreamFrame = {};
    for (;;) {
      const { done, value } = await reader.read();
      if (done || this.abort.signal.aborted) return;
      text += decoder.decode(value, { stream: true });
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const raw of lines) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line === '') {
          if (event.data !== undefined) this.deliver({ ...event, event: event.event || 'message' });
          event = {};
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
        if (field === '') this.deliver({ comment: value });
        else if (field === 'data') event.data = event.data === undefined ? value : `${event.data}\n${value}`;
        else if (field === 'event' || field === 'id') event[field] = value;
      }
    }
  }

  private deliver(frame: StreamFrame): void {
    if (this.abort.signal.aborted) return;
    this.onFrame(this, frame);
    if (frame.event !== undefined) this.dispatch(frame.event, { data: frame.data, lastEventId: frame.id });
  }

  private dispatch(type: string, event: StreamEventLike): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

// ---- helpers ---------------------------------------------------------------

function unique(topics: readonly string[]): readonly string[] {
  return [...new Set(topics)];
}

function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((topic) => set.has(topic));
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

function asHeraldError(err: unknown, what: string): HeraldError {
  return err instanceof HeraldError ? err : new HeraldError(`${what}: ${errorMessage(err)}`, { cause: err });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
