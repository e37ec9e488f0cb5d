// Herald's demo page: sign in as anyone (dev tokens), see notifications arrive
// live, write posts and comments, and watch an open post's thread grow as
// anyone comments (its topic, `post:<id>`). The stream and the inbox go
// through Herald's browser client, `@herald/client`, which the hub serves next
// to this page. No framework and no build step: what a page needs to use Herald
// is here.
import { HeraldClient } from './herald-client.js';

const $ = (id) => document.getElementById(id);
/** The topic of a post's thread: every viewer of the post follows it. */
const postTopic = (postId) => `post:${postId}`;

/**
 * Background refreshes may fail while the hub is away; the client reconnects
 * by itself, and its next `ready` (or `reset`) loads what is needed again.
 */
const quietly = (promise) => void promise.catch(() => undefined);

/** Shows what went wrong with something the user did, in the alert region. */
function report(err) {
  $('notice').textContent = err.message;
}

const state = {
  user: null,
  /** `({ refresh }) => token`: the signed-in user's tokens (see devTokens). */
  token: null,
  /** The user's Herald stream and inbox. */
  herald: null,
  /** Inbox items by notification id, newest first when rendered. */
  items: new Map(),
  unread: 0,
  /** Whether the inbox was loaded since sign-in (a failed load is tried again on the next `ready`). */
  inboxLoaded: false,
  openPostId: null,
  /** The ids of the comments shown in the open post's thread. */
  shownComments: new Set(),
};

// ---- the API -------------------------------------------------------------

async function call(path, { method = 'GET', body, token } = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
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
 * A user's dev tokens, kept per tab (a cookie would be shared by alice's and
 * bob's windows). Their `topics` claim lets the stream follow any post's
 * thread. `refresh`: the hub refused the last one (it restarted with a new
 * secret, or the token expired), so mint another.
 */
function devTokens(user) {
  let token = null;
  return async ({ refresh }) => {
    if (token === null || refresh) {
      ({ token } = await call('/v1/dev/token', { method: 'POST', body: { sub: user, topics: ['post:*'] } }));
    }
    return token;
  };
}

/** The posts API (the hub's sample producer) as the user; a refused token is minted again once, as the client does. */
async function api(path, options) {
  try {
    return await call(path, { ...options, token: await state.token({ refresh: false }) });
  } catch (err) {
    if (err.status !== 401) throw err;
    return call(path, { ...options, token: await state.token({ refresh: true }) });
  }
}

// ---- the stream ----------------------------------------------------------

function setStatus(status, text = status) {
  const element = $('status');
  element.dataset.state = status;
  element.textContent = text;
}

/**
 * The user's stream, through the client. It trades the token for a
 * single-use ticket at every open (no token in a URL), and reconnects by
 * itself with the last event id it saw: after a hub restart (a new dev secret
 * included: it asks for a fresh token), a stream's maximum age, an `expired`
 * token, with back-off while the hub refuses it. It follows the open post's
 * topic on every reconnect too.
 */
function connect() {
  const herald = new HeraldClient({
    url: '', // this page's own origin
    token: state.token,
    // The stream missed more than the hub keeps for replay: read again what it could not bring back.
    onReset: ({ topic }) => {
      if (topic === undefined) quietly(loadInbox());
      else if (state.openPostId !== null && topic === postTopic(state.openPostId)) quietly(refreshThread(state.openPostId));
    },
  });
  herald.on('state', (connection) => setStatus(connection === 'closed' ? 'offline' : connection));
  herald.on('ready', ({ resumed, topics }) => {
    // A new stream starts now: load the inbox after its `ready`, so nothing falls in between.
    // A resumed one replays what was missed instead (unless the first load failed: then again).
    if (!resumed || !state.inboxLoaded) quietly(loadInbox());
    catchUpThread(topics);
  });
  herald.on('topics', ({ topics }) => catchUpThread(topics));
  herald.on('comment.created', receive);
  herald.on('inbox.read', applyRead);
  herald.on('comment.added', (comment) => {
    if (comment.postId === state.openPostId) showComments([comment], { live: true });
  });
  herald.connect();
  return herald;
}

/**
 * A topic starts where it is when the stream starts following it: a comment
 * made after the thread was loaded and before that came on no stream. Merging
 * the thread again (by comment id) fills that gap, and any a reconnect left.
 */
function catchUpThread(topics) {
  if (state.openPostId !== null && topics.includes(postTopic(state.openPostId))) quietly(refreshThread(state.openPostId));
}

/** The stream follows the open post's thread, or none: at once while live, and on every reconnect. */
function followOpenPost() {
  state.herald.setTopics(state.openPostId === null ? [] : [postTopic(state.openPostId)]).catch(report);
}

// ---- the inbox -----------------------------------------------------------

async function loadInbox() {
  const page = await state.herald.inbox.list({ limit: 50 });
  state.items = new Map(page.items.map((item) => [item.id, item]));
  state.unread = page.unreadCount;
  state.inboxLoaded = true;
  renderInbox();
}

/** A live event: into the inbox at the top, once (an event right after `ready` may also be in the loaded page). */
function receive(data, { notificationId: id, type, createdAt }) {
  if (!id || state.items.has(id)) return;
  state.items = new Map([[id, { id, type, data, createdAt, readAt: null }], ...state.items]);
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
      if (!item.readAt) li.append(button('Mark read', () => state.herald.inbox.markRead(item.id), 'link'));
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
  const attempt = ++opening;
  const post = await api(`/v1/posts/${encodeURIComponent(id)}`);
  if (attempt !== opening || !state.user) return;
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

/** The open post's comments again, merged into its thread (a gap after following its topic, a topic's reset). */
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
  const token = devTokens(user);
  await token({ refresh: false }); // a name the hub refuses stops here, in the alert region
  Object.assign(state, { user, token, inboxLoaded: false });
  sessionStorage.setItem('herald.user', user);
  $('me').textContent = user;
  $('signin').hidden = true;
  $('session').hidden = false;
  $('app').hidden = false;
  state.herald = connect();
  await loadPosts();
}

function signOut() {
  state.herald?.close();
  opening++;
  Object.assign(state, { user: null, token: null, herald: null, items: new Map(), unread: 0, inboxLoaded: false, openPostId: null });
  $('post').hidden = true;
  newThread();
  sessionStorage.removeItem('herald.user');
  $('signin').hidden = false;
  $('session').hidden = true;
  $('app').hidden = true;
  setStatus('offline', 'signed out');
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
$('read-all').addEventListener('click', () => void state.herald.inbox.markAllRead().catch(report));

const remembered = sessionStorage.getItem('herald.user');
if (remembered) signIn(remembered).catch(report);
