// Herald's demo page: sign in as anyone (dev tokens), see notifications arrive
// live on the browser's own EventSource, write posts and comments, and watch
// an open post's thread grow as anyone comments (its topic, `post:<id>`).
// No framework and no build step: what a page needs to use Herald is here.

const $ = (id) => document.getElementById(id);
const STREAM_EVENTS = ['comment.created'];
/** The topic of a post's thread: every viewer of the post follows it. */
const postTopic = (postId) => `post:${postId}`;
/** What the page's tokens may follow: any post's thread. */
const TOPIC_PATTERNS = ['post:*'];

/**
 * Background refreshes may fail while the hub is away; the next `ready`
 * reloads everything, so their failures need no more than that.
 */
const quietly = (promise) => void promise.catch(() => undefined);

/** Shows what went wrong with something the user did, in the alert region. */
function report(err) {
  $('notice').textContent = err.message;
}

const state = {
  user: null,
  token: null,
  stream: null,
  /** The id of the last event received: sent when the page has to reconnect by itself. */
  lastEventId: null,
  /** Inbox items by notification id, newest first when rendered. */
  items: new Map(),
  unread: 0,
  openPostId: null,
  /** The ids of the comments shown in the open post's thread. */
  shownComments: new Set(),
  /** The topic in the URL of the current stream (null: none): what EventSource's own reconnects follow. */
  streamTopic: null,
  /** Whether the current stream sent `ready` (and is not reconnecting). */
  live: false,
};

// ---- the API -------------------------------------------------------------

async function api(path, { method = 'GET', body } = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      ...(state.token ? { authorization: `Bearer ${state.token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(payload?.message ?? `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return payload;
}

/**
 * A dev token for the user, kept per tab (a cookie would be shared by alice's
 * and bob's windows). Its `topics` claim lets the stream follow any post's thread.
 */
async function authenticate(user) {
  const { token } = await api('/v1/dev/token', { method: 'POST', body: { sub: user, topics: TOPIC_PATTERNS } });
  state.token = token;
}

// ---- the stream ----------------------------------------------------------

function setStatus(status) {
  const element = $('status');
  element.dataset.state = status;
  element.textContent = status;
}

/**
 * Opens the stream, following the open post's topic if there is one.
 * EventSource reconnects by itself after a network blip, sending
 * Last-Event-ID; it only gives up on an error answer (a token the hub no
 * longer accepts, say after a restart with a new secret). Then the page gets
 * a fresh token and reconnects itself with the last id it saw.
 *
 * @param switching the stream is replaced only to follow another topic: if
 *   the old one was live, nothing was missed (the new one replays the user's
 *   events after lastEventId), so the status stays and nothing is reloaded.
 */
function connect({ switching = false } = {}) {
  const quiet = switching && state.live && state.lastEventId !== null;
  state.stream?.close();
  state.live = false;
  // EventSource cannot send headers: the token goes in the query, which the
  // hub never logs in clear. Its own reconnects send Last-Event-ID, which wins
  // over the lastEventId here.
  const query = new URLSearchParams({ access_token: state.token });
  if (state.lastEventId) query.set('lastEventId', state.lastEventId);
  const topic = state.openPostId === null ? null : postTopic(state.openPostId);
  if (topic) query.append('topic', topic);
  const stream = new EventSource(`/v1/stream?${query}`);
  state.stream = stream;
  state.streamTopic = topic;
  if (!quiet) setStatus(state.lastEventId ? 'reconnecting' : 'connecting');

  const track = (event) => {
    if (event.lastEventId) state.lastEventId = event.lastEventId;
  };
  // Only the first `ready` of a quiet switch: a later one is EventSource's own reconnect.
  let switched = quiet;
  stream.addEventListener('ready', (event) => {
    track(event);
    state.live = true;
    setStatus('live');
    retryDelay = FIRST_RETRY_MS;
    // A topic starts where it is when the stream subscribes: a comment made
    // between loading the thread and this `ready` came on no stream. Merging
    // the thread again (by comment id) fills that gap, and any other gap a
    // reconnect left.
    if (topic && state.openPostId !== null && postTopic(state.openPostId) === topic) quietly(refreshThread(state.openPostId));
    if (switched) {
      switched = false;
      return;
    }
    quietly(loadInbox());
    quietly(loadPosts());
  });
  stream.addEventListener('reset', (event) => {
    track(event);
    // A topic's reset: the thread missed more than the hub keeps; read it again.
    const { topic: resetTopic } = JSON.parse(event.data || '{}');
    if (resetTopic === undefined) quietly(loadInbox());
    else if (state.openPostId !== null && postTopic(state.openPostId) === resetTopic) quietly(refreshThread(state.openPostId));
  });
  // After a change of topics (PUT /v1/streams/{id}/topics, which this page
  // does not use): its id carries the positions in the topics.
  stream.addEventListener('topics', track);
  stream.addEventListener('comment.added', (event) => {
    track(event);
    const comment = JSON.parse(event.data).data;
    if (comment.postId === state.openPostId) showComments([comment], { live: true });
  });
  stream.addEventListener('expired', (event) => {
    track(event);
    void recover();
  });
  stream.addEventListener('inbox.read', (event) => {
    track(event);
    applyRead(JSON.parse(event.data).data);
  });
  for (const type of STREAM_EVENTS) {
    stream.addEventListener(type, (event) => {
      track(event);
      receive(JSON.parse(event.data));
    });
  }
  stream.addEventListener('error', () => {
    if (state.stream !== stream) return;
    state.live = false;
    if (stream.readyState === EventSource.CLOSED) void recover();
    else setStatus('reconnecting');
  });
}

/**
 * Makes the stream follow the open post's thread (or no thread), by opening
 * a new stream with the topic in its URL and the last event id.
 *
 * Why not PUT /v1/streams/{connectionId}/topics: EventSource reconnects by
 * itself with the URL it was opened with, so after a PUT its next reconnect
 * (a blip, the stream's maximum age, an instance draining) would quietly
 * follow the old topic again; and the PUT gets 409 until the stream is live.
 * A new stream's URL is always what
 * the page follows, and its lastEventId replays the user's events, so the
 * inbox misses nothing. The cost: one stream open per post opened (and a user
 * already at STREAMS_PER_USER_MAX may be refused once, until the hub counts
 * the old stream out; the page then recovers as from any refused stream).
 */
function followOpenPost() {
  const wanted = state.openPostId === null ? null : postTopic(state.openPostId);
  // Signed out, or waiting to reconnect: the next connect() takes the open post's topic.
  if (!state.user || !state.stream || recovering || wanted === state.streamTopic) return;
  connect({ switching: true });
}

const FIRST_RETRY_MS = 3000;
const MAX_RETRY_MS = 30000;
let retryDelay = FIRST_RETRY_MS;
let recovering = false;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The hub refused the stream (an old token, too many tabs, an instance
 * shutting down) or the token expired: wait, longer after each failure, then
 * get a fresh token and reconnect from the last event seen. The wait resets
 * once a stream is live again.
 */
async function recover() {
  if (recovering || !state.user) return;
  recovering = true;
  state.stream?.close();
  setStatus('reconnecting');
  try {
    for (;;) {
      await pause(retryDelay);
      retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
      if (!state.user) return;
      try {
        await authenticate(state.user);
        break;
      } catch {
        // the hub is not back yet: wait longer
      }
    }
    connect();
  } finally {
    recovering = false;
  }
}

// ---- the inbox -----------------------------------------------------------

async function loadInbox() {
  const page = await api('/v1/notifications?limit=50');
  state.items = new Map(page.items.map((item) => [item.id, item]));
  state.unread = page.unreadCount;
  renderInbox();
}

/** A live event: into the inbox at the top, once (a replayed event may arrive again). */
function receive(envelope) {
  const id = envelope.notificationId;
  if (!id || state.items.has(id)) return;
  state.items = new Map([[id, { id, type: envelope.type, data: envelope.data, createdAt: envelope.createdAt, readAt: null }], ...state.items]);
  state.unread += 1;
  renderInbox();
  // The open post's thread shows the comment itself: it follows the post's topic.
}

/** Another tab (or this one) marked items read: every tab shows the same badge. */
function applyRead({ notificationId, all, unreadCount }) {
  const now = new Date().toISOString();
  for (const item of state.items.values()) {
    if (all || item.id === notificationId) item.readAt ??= now;
  }
  state.unread = unreadCount;
  renderInbox();
}

function describe(item) {
  if (item.type === 'comment.created') {
    return { text: `${item.data.authorId} commented: “${item.data.excerpt}”`, postId: item.data.postId };
  }
  return { text: `${item.type}: ${JSON.stringify(item.data)}`, postId: null };
}

function renderInbox() {
  const list = $('notifications');
  list.replaceChildren(
    ...[...state.items.values()].map((item) => {
      const li = document.createElement('li');
      li.className = item.readAt ? 'read' : 'unread';
      li.dataset.id = item.id;
      const { text, postId } = describe(item);
      const line = document.createElement('p');
      line.textContent = text;
      const meta = document.createElement('p');
      meta.className = 'meta';
      meta.textContent = `${new Date(item.createdAt).toLocaleTimeString()}${item.readAt ? ' · read' : ' · new'}`;
      li.append(line, meta);
      if (postId) li.append(button('Open post', () => openPost(postId), 'link'), ' ');
      if (!item.readAt) li.append(button('Mark read', () => api(`/v1/notifications/${item.id}/read`, { method: 'POST' }), 'link'));
      return li;
    }),
  );
  const badge = $('badge');
  badge.textContent = String(state.unread);
  badge.dataset.count = String(state.unread);
  $('empty').hidden = state.items.size > 0;
}

// ---- posts and comments --------------------------------------------------

function button(label, onClick, className) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  if (className) element.className = className;
  element.addEventListener('click', () => void Promise.resolve(onClick()).catch(report));
  return element;
}

async function loadPosts() {
  const posts = await api('/v1/posts?limit=20');
  $('posts').replaceChildren(
    ...posts.map((post) => {
      const li = document.createElement('li');
      const open = button(post.title, () => openPost(post.id), 'link');
      open.dataset.postId = post.id;
      li.append(open);
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = ` by ${post.authorId}`;
      li.append(meta);
      return li;
    }),
  );
}

/** Counts post loads, so that only the last post asked for is shown when answers cross. */
let opening = 0;

/** Shows a post with its thread, and follows its topic so the thread stays live. */
async function openPost(id) {
  const ticket = ++opening;
  const post = await api(`/v1/posts/${encodeURIComponent(id)}`);
  if (ticket !== opening || !state.user) return;
  const other = post.id !== state.openPostId;
  state.openPostId = post.id;
  $('post').hidden = false;
  $('post-title').textContent = post.title;
  $('post-meta').textContent = `by ${post.authorId}`;
  $('post-body').textContent = post.body;
  if (other) newThread();
  showComments(post.comments);
  followOpenPost();
}

/** Leaves the open post: its thread is no longer followed. Focus goes back to the post in the list. */
function closePost() {
  const closed = state.openPostId;
  opening++;
  state.openPostId = null;
  $('post').hidden = true;
  newThread();
  followOpenPost();
  const back = [...$('posts').querySelectorAll('button')].find((b) => b.dataset.postId === closed);
  (back ?? $('post-title-input')).focus();
}

/** The open post's comments again, merged into its thread (a gap after a reconnect, a topic's reset). */
async function refreshThread(postId) {
  const post = await api(`/v1/posts/${encodeURIComponent(postId)}`);
  if (post.id === state.openPostId) showComments(post.comments);
}

/**
 * An empty thread list, a new element: the list is a polite live region, and
 * a live region announces what is added to it, not what it holds when it
 * appears, so opening a post does not read its whole thread aloud while each
 * comment that arrives later is announced once.
 */
function newThread() {
  const list = $('comments').cloneNode(false);
  $('comments').replaceWith(list);
  state.shownComments = new Set();
}

/** Comment ids are decimal strings: shorter is smaller, then by characters. */
const compareIds = (a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/**
 * Puts comments in the thread, each once (by id: the commenter's own comment
 * comes both in the answer to its POST and on the topic; a refresh repeats
 * what the topic sent), in the order of their ids whatever order they came in.
 * @param live they arrived on the stream: marked as new for a moment.
 */
function showComments(comments, { live = false } = {}) {
  const list = $('comments');
  for (const comment of comments) {
    const id = String(comment.id);
    if (state.shownComments.has(id)) continue;
    state.shownComments.add(id);
    const li = document.createElement('li');
    li.dataset.id = id;
    if (live && comment.authorId !== state.user) li.className = 'arrived';
    const who = document.createElement('strong');
    who.textContent = `${comment.authorId}: `;
    li.append(who, comment.body);
    const after = [...list.children].find((other) => compareIds(other.dataset.id, id) > 0);
    list.insertBefore(li, after ?? null);
  }
}

// ---- wiring --------------------------------------------------------------

async function signIn(user) {
  await authenticate(user);
  state.user = user;
  sessionStorage.setItem('herald.user', user);
  $('me').textContent = user;
  $('signin').hidden = true;
  $('session').hidden = false;
  $('app').hidden = false;
  connect();
  await loadPosts();
}

function signOut() {
  state.stream?.close();
  opening++;
  Object.assign(state, {
    user: null, token: null, stream: null, lastEventId: null, items: new Map(), unread: 0,
    openPostId: null, streamTopic: null, live: false,
  });
  $('post').hidden = true;
  newThread();
  sessionStorage.removeItem('herald.user');
  $('signin').hidden = false;
  $('session').hidden = true;
  $('app').hidden = true;
  setStatus('offline');
  $('status').textContent = 'signed out';
}

function onSubmit(id, handler) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    $('notice').textContent = '';
    void handler(form).then(() => form.reset(), report);
  });
}

onSubmit('signin', (form) => signIn(form.user.value.trim()));
onSubmit('new-post', async (form) => {
  const post = await api('/v1/posts', { method: 'POST', body: { title: form.title.value, body: form.body.value } });
  await loadPosts();
  await openPost(post.id);
});
onSubmit('new-comment', async (form) => {
  const comment = await api(`/v1/posts/${state.openPostId}/comments`, { method: 'POST', body: { body: form.body.value } });
  // Shown at once; the same comment coming back on the topic is not shown again.
  if (comment.postId === state.openPostId) showComments([comment]);
});
$('signout').addEventListener('click', signOut);
$('close-post').addEventListener('click', closePost);
$('refresh-posts').addEventListener('click', () => void loadPosts().catch(report));
$('read-all').addEventListener('click', () => void api('/v1/notifications/read-all', { method: 'POST' }).catch(report));

const remembered = sessionStorage.getItem('herald.user');
if (remembered) signIn(remembered).catch(report);
