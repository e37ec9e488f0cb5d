// Herald's demo page: sign in as anyone (dev tokens), see notifications of
// any event type arrive live, write posts and comments, and watch the list of
// posts (the topic `posts`) and an open post's thread (its topic, `post:<id>`)
// grow as anyone writes. The stream and the inbox go through Herald's browser
// client, `@herald/client`, which the hub serves next to this page; it reads
// the stream with fetch, so the event inspector sees every frame. No framework
// and no build step: what a page needs to use Herald is here.
import { HeraldClient } from './herald-client.js';
import { ApiError, authorized, devTokens } from './api.js';
import { compact, timeOf } from './format.js';
import { HubPanel } from './hub-panel.js';
import { Inspector, PROTOCOL } from './inspector.js';

const $ = (id) => document.getElementById(id);
/** The topic of a post's thread: every viewer of the post follows it. */
const postTopic = (postId) => `post:${postId}`;
/** The topic of the list of posts: the hub publishes `post.created` to it. */
const POSTS_TOPIC = 'posts';
/** Who is signed in, shared by every tab of this browser (a `storage` event tells the others). */
const SIGNED_IN = 'herald.user';

/**
 * Background refreshes may fail while the hub is away; the client reconnects
 * by itself, and its next `ready` (or `reset`) loads what is needed again.
 */
const quietly = (promise) => void promise.catch(() => undefined);

/** Shows what went wrong with something the user did, in the alert region. */
function report(err) {
  $('notice').textContent = err.message;
}

/** What went wrong is over: the action succeeded, or the page is live again. */
function clearNotice() {
  $('notice').textContent = '';
}

const state = {
  user: null,
  /** `({ refresh }) => token`: the signed-in user's tokens (see devTokens). */
  token: null,
  /** The user's Herald stream and inbox. */
  herald: null,
  /** What the page shows in the notification list, by inbox item id (or `live:<event id>` for an event kept in no inbox). */
  items: new Map(),
  unread: 0,
  /** Whether the inbox was loaded since sign-in (a failed load is tried again on the next `ready`). */
  inboxLoaded: false,
  openPostId: null,
  /** The ids of the comments shown in the open post's thread. */
  shownComments: new Set(),
  /** Posts by id as far as the page knows them: `{ title, authorId }`, or undefined when asking for one failed. */
  posts: new Map(),
};

/** The page acts as a service for the publish form and the drop: a token with `events:publish`, minted on first use. */
const serviceTokens = devTokens({ sub: 'demo-page', scope: 'events:publish' });
const publish = (event) => authorized(serviceTokens, '/v1/events', { method: 'POST', body: event });
/** The sample producer's API (posts, comments) as the signed-in user. */
const api = (path, options) => authorized(state.token, path, options);

const inspector = new Inspector();
const hubPanel = new HubPanel(() => state.herald?.state === 'live' && !document.hidden);

// ---- the stream ----------------------------------------------------------

function setStatus(status, text = status) {
  const element = $('status');
  element.dataset.state = status;
  element.textContent = text;
}

/** The list of posts, and the open post's thread. */
const followed = () => (state.openPostId === null ? [POSTS_TOPIC] : [POSTS_TOPIC, postTopic(state.openPostId)]);

/**
 * The user's stream, through the client. It trades the token for a
 * single-use ticket at every open (no token in a URL), and reconnects by
 * itself with the last event id it saw: after a hub restart (a new dev secret
 * included: it asks for a fresh token), a stream's maximum age, an `expired`
 * token, with back-off while the hub refuses it. It follows the list of posts
 * and the open post's topic on every reconnect too.
 */
function connect() {
  const herald = new HeraldClient({
    url: '', // this page's own origin
    token: state.token,
    // Every frame, heartbeats and events of any type: for the inspector, and for events the page has no rendering of its own for.
    transport: 'fetch',
    topics: followed(),
    // The stream missed more than the hub keeps for replay: read again what it could not bring back.
    onReset: ({ topic }) => {
      if (topic === undefined) quietly(loadInbox());
      else if (topic === POSTS_TOPIC) quietly(loadPosts());
      else if (state.openPostId !== null && topic === postTopic(state.openPostId)) quietly(refreshThread(state.openPostId));
    },
  });
  inspector.watch(herald);
  herald.on('state', (connection) => {
    setStatus(connection === 'closed' ? 'offline' : connection);
    if (connection !== 'live') return;
    clearNotice();
    // The panel shows the hub as it is now, not up to 2 s later.
    void hubPanel.read();
  });
  herald.on('ready', ({ resumed, topics }) => {
    // A new stream starts now: load the inbox and the posts after its `ready`, so nothing falls in between.
    // A resumed one replays what was missed instead (unless the first load failed: then again).
    if (!resumed || !state.inboxLoaded) quietly(loadInbox());
    if (!resumed) quietly(loadPosts());
    catchUpThread(topics);
  });
  herald.on('topics', ({ topics }) => catchUpThread(topics));
  // Events to the user, of any type: the notification list shows each one.
  herald.on('frame', (frame) => {
    if (frame.event === undefined || PROTOCOL.has(frame.event)) return;
    const envelope = JSON.parse(frame.data);
    if (envelope.topic === undefined && envelope.type !== 'inbox.read') receive(envelope);
  });
  herald.on('inbox.read', applyRead);
  herald.on('comment.added', (comment) => {
    if (comment.postId === state.openPostId) showComments([comment], { live: true });
  });
  herald.on('post.created', (post) => showPosts([post], { live: true }));
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

/** The stream follows the list of posts and the open post's thread: at once while live, and on every reconnect. */
function followOpenPost() {
  state.herald.setTopics(followed()).catch(report);
}

/** Cuts the stream and opens it again at once: it resumes from the last event id. */
function reconnectNow() {
  state.herald.close();
  state.herald.connect();
}

/**
 * Cuts the stream, publishes an event to the user while it is down, then
 * reconnects: the hub replays it, and the inspector marks it so.
 */
async function simulateDrop() {
  const herald = state.herald;
  herald.close();
  inspector.dropped();
  try {
    await publish({
      type: 'demo.while-away',
      recipients: [state.user],
      data: { note: 'published while this page had no stream' },
      persist: false,
    });
  } finally {
    if (state.herald === herald) herald.connect();
  }
}

// ---- the inbox -----------------------------------------------------------

async function loadInbox() {
  const page = await state.herald.inbox.list({ limit: 50 });
  // Events kept in no inbox are only here: a reload of the inbox keeps them.
  const live = [...state.items].filter(([, item]) => item.live);
  state.items = new Map([...page.items.map((item) => [item.id, item]), ...live]);
  state.unread = page.unreadCount;
  state.inboxLoaded = true;
  renderInbox();
}

/**
 * An event to the user: into the list, once (an event right after `ready`
 * may also be in the loaded page). One with a `notificationId` is an inbox
 * item; one without (`persist: false`) is shown until the page reloads.
 */
function receive({ id: eventId, notificationId, type, data, createdAt }) {
  const key = notificationId ?? `live:${eventId}`;
  if (state.items.has(key)) return;
  const item = { id: notificationId ?? null, type, data, createdAt, readAt: null, live: notificationId === undefined };
  state.items = new Map([[key, item], ...state.items]);
  if (!item.live) state.unread += 1;
  renderInbox();
}

/** Another tab (or this one) marked items read: every tab shows the same badge. */
function applyRead({ notificationId, all, unreadCount }) {
  const now = new Date().toISOString();
  for (const item of state.items.values()) {
    if (!item.live && (all || item.id === notificationId)) item.readAt ??= now;
  }
  state.unread = unreadCount;
  renderInbox();
}

/** The post an event names in its `data.postId`, if it does. */
function postIdOf(item) {
  const postId = item.data?.postId;
  return typeof postId === 'string' || typeof postId === 'number' ? String(postId) : null;
}

/**
 * A notification of the comments producer: its post exists, so the page
 * names it and offers to open it. Any other event may name a post that is
 * not on this hub at all (the README's curl example names post 42), so the
 * page only names a post of one that it knows already, and never asks.
 */
function isComment(item) {
  const { authorId, excerpt } = item.data ?? {};
  return item.type === 'comment.created' && typeof authorId === 'string' && typeof excerpt === 'string';
}

/** Asks the hub for a post the page does not know yet; the list shows the items about it once it knows. */
const lookups = new Set();
function lookUp(postId) {
  if (state.posts.has(postId) || lookups.has(postId)) return;
  lookups.add(postId);
  api(`/v1/posts/${encodeURIComponent(postId)}`)
    .then(know, () => state.posts.set(postId, undefined))
    .finally(() => {
      lookups.delete(postId);
      renderInbox();
    });
}

function know(post) {
  state.posts.set(String(post.id), { title: post.title, authorId: post.authorId });
}

/**
 * The comments producer's `comment.created` in words; any other event (the
 * README's curl example included, whose data is only a `postId`) as its type
 * and a compact view of its data.
 */
function describe(item) {
  if (isComment(item)) return { text: `${item.data.authorId} commented: “${item.data.excerpt}”`, data: null };
  const empty = item.data === null || typeof item.data !== 'object' || Object.keys(item.data).length === 0;
  return { text: item.type, data: empty ? null : compact(item.data) };
}

function renderInbox() {
  const shown = [...state.items.values()]
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : compareIds(b.id ?? '', a.id ?? '')))
    .filter((item) => {
      // A comment notification waits until the page knows its post: it names it.
      const postId = postIdOf(item);
      if (!isComment(item) || postId === null || state.posts.has(postId)) return true;
      lookUp(postId);
      return false;
    });
  $('notifications').replaceChildren(...shown.map(notification));
  for (const badge of [$('badge'), $('header-badge')]) {
    badge.textContent = String(state.unread);
    badge.dataset.count = String(state.unread);
  }
  $('empty').hidden = state.items.size > 0;
}

function notification(item) {
  const li = document.createElement('li');
  li.className = item.live ? 'live' : item.readAt ? 'read' : 'unread';
  if (item.id) li.dataset.id = item.id;
  const { text, data } = describe(item);
  const line = document.createElement('p');
  if (data === null) line.textContent = text;
  else {
    const type = document.createElement('code');
    type.textContent = text;
    line.append(type);
  }
  li.append(line);
  if (data !== null) {
    const detail = document.createElement('pre');
    detail.className = 'data';
    detail.textContent = data;
    li.append(detail);
  }
  const postId = postIdOf(item);
  const post = postId === null ? undefined : state.posts.get(postId);
  if (post || (isComment(item) && postId !== null)) {
    const about = document.createElement('p');
    about.className = 'about';
    about.textContent = post ? `on “${post.title}”` : `on post ${postId}`;
    li.append(about);
  }
  const meta = document.createElement('p');
  meta.className = 'meta';
  meta.textContent = `${timeOf(item.createdAt)} · ${item.live ? 'live only, kept in no inbox' : item.readAt ? 'read' : 'new'}`;
  li.append(meta);
  if (post) li.append(button('Open post', () => openPost(postId), 'link'), ' ');
  if (!item.live && !item.readAt) li.append(button('Mark read', () => state.herald.inbox.markRead(item.id), 'link'));
  return li;
}

// ---- posts and comments --------------------------------------------------

/** A button whose action, if it fails, says why in the alert region; one that succeeds clears it. */
function button(label, onClick, className) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  if (className) element.className = className;
  element.addEventListener('click', () => void Promise.resolve(onClick()).then(clearNotice, report));
  return element;
}

async function loadPosts() {
  showPosts(await api('/v1/posts?limit=20'));
}

/**
 * Puts posts in the list, each once, newest (highest id) first.
 * @param live it came on the topic `posts`: marked as new for a moment, unless it is the user's own.
 */
function showPosts(posts, { live = false } = {}) {
  const list = $('posts');
  for (const post of posts) {
    know(post);
    const buttons = [...list.querySelectorAll('button[data-post-id]')];
    if (buttons.some((b) => b.dataset.postId === post.id)) continue;
    const li = document.createElement('li');
    li.dataset.id = post.id;
    if (live && post.authorId !== state.user) li.className = 'arrived';
    const open = button(post.title, () => openPost(post.id), 'link');
    open.dataset.postId = post.id;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = ` by ${post.authorId}`;
    li.append(open, meta);
    const after = [...list.children].find((other) => compareIds(other.dataset.id, post.id) < 0);
    list.insertBefore(li, after ?? null);
  }
  // Names of posts the notifications were waiting for may be known now.
  renderInbox();
}

/** Counts post loads, so that only the last post asked for is shown when answers cross. */
let opening = 0;

/** Shows a post with its thread, and follows its topic so the thread stays live. */
async function openPost(id) {
  const attempt = ++opening;
  const post = await api(`/v1/posts/${encodeURIComponent(id)}`);
  if (attempt !== opening || !state.user) return;
  know(post);
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

/** Ids of posts, comments and notifications are decimal strings: shorter is smaller, then by characters. */
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

// ---- publishing any event ------------------------------------------------

const PUBLISH_FIELDS = { type: 'event-type', recipients: 'event-recipients', topics: 'event-topics', data: 'event-data', persist: 'event-persist' };
const names = (text) => text.split(/[\s,]+/).filter(Boolean);

/** Publishes what the form says, as a service, and shows the hub's answer: its JSON, or its JSON error. */
async function publishFromForm() {
  for (const id of Object.values(PUBLISH_FIELDS)) $(id).removeAttribute('aria-invalid');
  let data;
  try {
    data = $('event-data').value.trim() === '' ? {} : JSON.parse($('event-data').value);
  } catch (err) {
    showAnswer('not sent', { field: 'data', message: `data: is not valid JSON (${err.message})` });
    return;
  }
  const event = { type: $('event-type').value.trim(), recipients: names($('event-recipients').value), data, persist: $('event-persist').checked };
  const topics = names($('event-topics').value);
  if (topics.length > 0) event.topics = topics;
  try {
    showAnswer('202 Accepted', await publish(event));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showAnswer(`${err.status} ${err.body?.error ?? ''}`.trim(), err.body);
  }
}

/** The answer under the form; the field an error names is marked invalid. */
function showAnswer(status, json) {
  const field = typeof json?.field === 'string' ? json.field.replace(/[[.].*$/, '') : null;
  const input = field !== null && Object.hasOwn(PUBLISH_FIELDS, field) ? $(PUBLISH_FIELDS[field]) : null;
  input?.setAttribute('aria-invalid', 'true');
  const line = document.createElement('p');
  line.textContent = status;
  const body = document.createElement('pre');
  body.textContent = JSON.stringify(json);
  $('publish-result').replaceChildren(line, body);
}

// ---- signing in, in every tab --------------------------------------------

/** Bumped by every sign-in and sign-out: a sign-in that finishes after a later one started is dropped. */
let session = 0;

function showSignedIn(signedIn) {
  $('signin').hidden = signedIn;
  $('intro').hidden = signedIn;
  $('session').hidden = !signedIn;
  $('unread-link').hidden = !signedIn;
  $('app').hidden = !signedIn;
}

/** Signs this tab in, and with it every tab of the browser that is not signed in as `user` yet. */
async function signIn(user) {
  const attempt = ++session;
  // Its `topics` claim lets the stream follow the list of posts and any post's thread.
  const token = devTokens({ sub: user, topics: ['post:*', POSTS_TOPIC] }, (expiresAt) => inspector.tokenExpires(expiresAt));
  await token({ refresh: false }); // a name the hub refuses stops here, in the alert region
  if (attempt !== session) return;
  localStorage.setItem(SIGNED_IN, user);
  Object.assign(state, { user, token, inboxLoaded: false });
  $('me').textContent = user;
  $('event-recipients').value = user;
  showSignedIn(true);
  state.herald = connect();
}

/** Signs this tab out (and, through the shared sign-in, every other). */
function signOut() {
  localStorage.removeItem(SIGNED_IN);
  leave();
}

/** This tab shows nobody signed in. */
function leave() {
  session++;
  state.herald?.close();
  opening++;
  Object.assign(state, { user: null, token: null, herald: null, items: new Map(), unread: 0, inboxLoaded: false, openPostId: null });
  $('post').hidden = true;
  newThread();
  $('posts').replaceChildren();
  $('publish-result').replaceChildren();
  renderInbox();
  inspector.clear();
  clearNotice();
  showSignedIn(false);
  setStatus('offline', 'signed out');
}

// Another tab signed in or out: this one follows.
window.addEventListener('storage', (event) => {
  if (event.key !== SIGNED_IN && event.key !== null) return;
  const user = localStorage.getItem(SIGNED_IN);
  if (user === state.user) return;
  leave();
  if (user) signIn(user).catch(report);
});

// ---- wiring --------------------------------------------------------------

function onSubmit(id, handler) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    clearNotice();
    void handler(form).then(() => form.reset(), report);
  });
}

onSubmit('signin', (form) => signIn(form.user.value.trim()));
onSubmit('new-post', async (form) => {
  const post = await api('/v1/posts', { method: 'POST', body: { title: form.title.value, body: form.body.value } });
  showPosts([post]);
  await openPost(post.id);
});
onSubmit('new-comment', async (form) => {
  const comment = await api(`/v1/posts/${state.openPostId}/comments`, { method: 'POST', body: { body: form.body.value } });
  // Shown at once; the same comment coming back on the topic is not shown again.
  if (comment.postId === state.openPostId) showComments([comment]);
});
// A field marked invalid by the last answer is not any more once it is edited.
$('publish').addEventListener('input', (event) => event.target.removeAttribute('aria-invalid'));
$('publish').addEventListener('submit', (event) => {
  event.preventDefault();
  void publishFromForm().then(clearNotice, report);
});
$('signout').addEventListener('click', signOut);
$('close-post').addEventListener('click', closePost);
$('read-all').addEventListener('click', () => void state.herald.inbox.markAllRead().then(clearNotice, report));
$('reconnect').addEventListener('click', reconnectNow);
$('drop').addEventListener('click', () => void simulateDrop().then(clearNotice, report));

const remembered = localStorage.getItem(SIGNED_IN);
if (remembered) signIn(remembered).catch(report);
