// Herald's demo page: sign in as anyone (dev tokens), see notifications arrive
// live on the browser's own EventSource, and write posts and comments.
// No framework and no build step: what a page needs to use Herald is here.

const $ = (id) => document.getElementById(id);
const STREAM_EVENTS = ['comment.created'];

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

/** A dev token for the user, kept per tab (a cookie would be shared by alice's and bob's windows). */
async function authenticate(user) {
  const { token } = await api('/v1/dev/token', { method: 'POST', body: { sub: user } });
  state.token = token;
}

// ---- the stream ----------------------------------------------------------

function setStatus(status) {
  const element = $('status');
  element.dataset.state = status;
  element.textContent = status;
}

/**
 * Opens the stream. EventSource reconnects by itself after a network blip,
 * sending Last-Event-ID; it only gives up on an error answer (a token the
 * hub no longer accepts, say after a restart with a new secret). Then the
 * page gets a fresh token and reconnects itself with the last id it saw.
 */
function connect() {
  state.stream?.close();
  // EventSource cannot send headers: the token goes in the query, which the
  // hub never logs in clear. Its own reconnects send Last-Event-ID, which wins
  // over the lastEventId here.
  const query = new URLSearchParams({ access_token: state.token });
  if (state.lastEventId) query.set('lastEventId', state.lastEventId);
  const stream = new EventSource(`/v1/stream?${query}`);
  state.stream = stream;
  setStatus(state.lastEventId ? 'reconnecting' : 'connecting');

  const track = (event) => {
    if (event.lastEventId) state.lastEventId = event.lastEventId;
  };
  stream.addEventListener('ready', (event) => {
    track(event);
    setStatus('live');
    retryDelay = FIRST_RETRY_MS;
    quietly(loadInbox());
    quietly(loadPosts());
  });
  stream.addEventListener('reset', (event) => {
    track(event);
    quietly(loadInbox());
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
    if (stream.readyState === EventSource.CLOSED) void recover();
    else setStatus('reconnecting');
  });
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
  if (envelope.type === 'comment.created' && envelope.data.postId === state.openPostId) quietly(openPost(state.openPostId));
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
      li.append(button(post.title, () => openPost(post.id), 'link'));
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = ` by ${post.authorId}`;
      li.append(meta);
      return li;
    }),
  );
}

async function openPost(id) {
  const post = await api(`/v1/posts/${encodeURIComponent(id)}`);
  state.openPostId = post.id;
  $('post').hidden = false;
  $('post-title').textContent = post.title;
  $('post-meta').textContent = `by ${post.authorId}`;
  $('post-body').textContent = post.body;
  $('comments').replaceChildren(
    ...post.comments.map((comment) => {
      const li = document.createElement('li');
      const who = document.createElement('strong');
      who.textContent = `${comment.authorId}: `;
      li.append(who, comment.body);
      return li;
    }),
  );
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
  Object.assign(state, { user: null, token: null, stream: null, lastEventId: null, items: new Map(), unread: 0, openPostId: null });
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
  await api(`/v1/posts/${state.openPostId}/comments`, { method: 'POST', body: { body: form.body.value } });
  await openPost(state.openPostId);
});
$('signout').addEventListener('click', signOut);
$('refresh-posts').addEventListener('click', () => void loadPosts().catch(report));
$('read-all').addEventListener('click', () => void api('/v1/notifications/read-all', { method: 'POST' }).catch(report));

const remembered = sessionStorage.getItem('herald.user');
if (remembered) signIn(remembered).catch(report);
