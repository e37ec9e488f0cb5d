// The demo page at `/` in real Chromium (issues 5 and 13): two users in two
// browser contexts, the list of posts and notifications live with the unread
// badge, the inbox on load, "mark read" reaching every tab, recovery from a
// hub restart on its own with no error left on screen (also the `npm start`
// way, restarted with a new dev JWT secret), keyboard use, labels, contrast,
// and a clean console. An open post's thread, live for every viewer through
// the post's topic: each comment once on every page, and the topic left
// behind when the viewer leaves the post. And the tour: the signed-out intro,
// the README's curl example shown as what it is, the publish form, the event
// inspector with a replay after a cut, the hub panel, one sign-in per
// browser, and the layout at 375 and 1440 px (screenshots in test/artifacts).
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Browser, BrowserContext, chromium, Page } from 'playwright-core';
import { HubProcess, lowPort, startHubProcess } from './support/processes.js';

// The page's DOM, seen from Node: tsconfig has no DOM lib, so in-page code is typed loosely.
type Dom = any;
declare const document: Dom;
declare const window: Dom;
declare function getComputedStyle(element: Dom): Dom;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = path.join(ROOT, 'dist/apps/hub/src/main.js');
const ARTIFACTS = path.join(ROOT, 'test/artifacts');

const RESTART_TIMEOUT_MS = 40_000;

// ---- processes -------------------------------------------------------------

/** The hub as a child process (startHubProcess) on a port below 32768. */
const startLowHub = async (env: Record<string, string> = {}): Promise<HubProcess> =>
  startHubProcess({ PORT: String(await lowPort()), ...env });

interface NpmStartHub {
  url: string;
  output: string[];
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * The hub as `npm start` runs it: no JWT_SECRET (a dev secret, kept beside the
 * SQLite file), no NODE_ENV, dev auth on. startHubProcess always sets JWT_SECRET,
 * so this is a small copy of it that leaves the secret out.
 */
async function startNpmStartHub(port: number, sqlitePath: string): Promise<NpmStartHub> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: String(port), SQLITE_PATH: sqlitePath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const hub: NpmStartHub = {
    url,
    output,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hub exited with ${child.exitCode}: ${output.join('')}`);
    if (await fetch(`${url}/health/ready`).then((r) => r.ok, () => false)) return hub;
    if (Date.now() > deadline) {
      await hub.kill('SIGKILL');
      throw new Error(`hub on ${port} did not become ready: ${output.join('')}`);
    }
    await sleep(50);
  }
}

// ---- API helpers (outside the browser) ---------------------------------------

async function devToken(url: string, sub: string): Promise<string> {
  const response = await fetch(`${url}/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

async function apiAs(url: string, token: string, route: string, body?: unknown): Promise<Response> {
  return fetch(`${url}${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function commentAs(url: string, token: string, postTitle: string, text: string): Promise<void> {
  const posts = (await (await apiAs(url, token, '/v1/posts?limit=20')).json()) as { id: string; title: string }[];
  const post = posts.find((p) => p.title === postTitle);
  expect(post?.title).toBe(postTitle);
  const response = await apiAs(url, token, `/v1/posts/${post!.id}/comments`, { body: text });
  expect(response.status).toBe(201);
}

// ---- browser helpers -----------------------------------------------------------

const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
};

/** Everything a page said that a user should never have to see. */
interface Problems {
  lines: string[];
}

function watch(page: Page, name: string, problems: Problems): Page {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.lines.push(`${name} console.error: ${message.text()} @ ${message.location().url}`);
  });
  page.on('pageerror', (error) => problems.lines.push(`${name} pageerror: ${error.message}`));
  // app.js reports a failed form with alert(): that is a failure of the flow.
  page.on('dialog', (dialog) => {
    problems.lines.push(`${name} dialog (${dialog.type()}): ${dialog.message()}`);
    void dialog.dismiss();
  });
  return page;
}

/** Reads `read()` until `ok` holds or the time is up, and returns the last value (for a readable expect). */
async function settle<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(50);
    value = await read();
  }
  return value;
}

async function signIn(page: Page, url: string, user: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('User name').fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  expect(await settle(() => status(page), (s) => s.state === 'live')).toEqual({ state: 'live', text: 'live' });
  expect(await page.locator('#me').textContent()).toBe(user);
}

/** The alert region: what went wrong with something the user did. */
const notice = (page: Page) => page.locator('#notice').textContent();

const status = (page: Page) =>
  page.locator('#status').evaluate((el: Dom) => ({ state: el.dataset.state, text: el.textContent?.trim() }));

const badge = (page: Page) =>
  page.locator('#badge').evaluate((el: Dom) => ({ text: el.textContent?.trim(), count: el.dataset.count }));

/** The notification list as the user sees it. */
const notifications = (page: Page) =>
  page.locator('#notifications > li').evaluateAll((items: Dom[]) =>
    items.map((li) => ({
      state: li.className,
      text: li.querySelector('p')?.textContent ?? '',
      buttons: [...li.querySelectorAll('button')].map((b: Dom) => b.textContent as string),
    })),
  );

async function publishPost(page: Page, title: string, body: string): Promise<void> {
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Text').fill(body);
  await page.getByRole('button', { name: 'Publish post' }).click();
  expect(await settle(() => page.locator('#post-title').textContent(), (t) => t === title)).toBe(title);
}

async function commentOnPost(page: Page, author: string, title: string, text: string): Promise<void> {
  await page.getByRole('button', { name: title, exact: true }).click();
  expect(await settle(() => page.locator('#post-title').textContent(), (t) => t === title)).toBe(title);
  await page.getByLabel('Your comment').fill(text);
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  const comments = () => page.locator('#comments > li').allTextContents();
  expect(await settle(comments, (list) => list.includes(`${author}: ${text}`))).toContain(`${author}: ${text}`);
}

/** A marker that a reload would wipe: proves a page was updated in place. */
const mark = (page: Page) => page.evaluate(() => ((window.heraldMark = 42)));
const marked = (page: Page) => page.evaluate(() => (window.heraldMark as number | undefined) ?? null);

/** Presses Tab until the focused element matches, at most `max` times; returns the focus trail. */
async function tabTo(page: Page, wanted: (desc: string) => boolean, max = 12): Promise<string[]> {
  const trail: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const desc = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return 'body';
      return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}:${(el.textContent ?? '').trim()}`;
    });
    trail.push(desc);
    if (wanted(desc)) return trail;
  }
  return trail;
}

// ---- contrast (WCAG 2.x) --------------------------------------------------------

interface Contrast {
  what: string;
  fg: string;
  bg: string;
  ratio: number;
}

/**
 * Runs in the page (Playwright sends its source): for the main text, the
 * buttons, the badge in both its states and the status in all four, the text
 * colour against the first opaque background behind it, and the WCAG 2.x
 * contrast ratio from relative luminance.
 */
function measureContrast(): Contrast[] {
  const parse = (color: string): number[] => {
    const m = color.match(/rgba?\(([^)]+)\)/);
    if (!m) throw new Error(`unparsed colour ${color}`);
    const parts = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const luminance = ([r, g, b]: number[]) => {
    const lin = (c: number) => {
      const s = c / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const background = (el: Dom): number[] => {
    for (let node = el; node; node = node.parentElement) {
      const bg = parse(getComputedStyle(node).backgroundColor);
      if (bg[3] > 0) return bg;
    }
    return [255, 255, 255, 1];
  };
  const contrast = (el: Dom): Contrast => {
    const fgRaw = parse(getComputedStyle(el).color);
    const bg = background(el);
    // A translucent text colour is blended over its background.
    const fg = [0, 1, 2].map((i) => fgRaw[i] * fgRaw[3] + bg[i] * (1 - fgRaw[3]));
    const [l1, l2] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const id = el.id ? `#${el.id}` : '';
    const cls = typeof el.className === 'string' && el.className ? `.${el.className.split(' ').join('.')}` : '';
    const state = el.dataset.state ?? el.dataset.count;
    return {
      what: `${el.tagName.toLowerCase()}${id}${cls}${state !== undefined ? `[${state}]` : ''} "${(el.textContent ?? '').trim().slice(0, 30)}"`,
      fg: `rgb(${fg.map(Math.round).join(',')})`,
      bg: `rgb(${bg.slice(0, 3).join(',')})`,
      ratio: Math.round(((l1 + 0.05) / (l2 + 0.05)) * 100) / 100,
    };
  };
  const all = (selector: string): Dom[] => [...document.querySelectorAll(selector)];
  const out: Contrast[] = [
    ...all(
      'h1, h2, h3, h4, label, #me, #post-body, #comments li, #post-meta, #notifications li p, #notifications pre, #posts .meta, ' +
        '.unread-link, .intro p, .intro li, .stats dt, .stats dd, .facts dt, .facts dd, .frame time, .frame code, .frame-flag, ' +
        '#drop-status, .result p, .result pre, .tools .meta',
    ),
    ...all('button'),
  ]
    .filter((el) => el.getClientRects().length > 0)
    .map(contrast);
  const badgeEl = document.getElementById('badge');
  const count = badgeEl.dataset.count;
  for (const value of ['0', '3']) {
    badgeEl.dataset.count = value;
    out.push(contrast(badgeEl));
  }
  badgeEl.dataset.count = count;
  const statusEl = document.getElementById('status');
  const state = statusEl.dataset.state;
  for (const value of ['connecting', 'live', 'reconnecting', 'offline']) {
    statusEl.dataset.state = value;
    out.push(contrast(statusEl));
  }
  statusEl.dataset.state = state;
  return out;
}

// ---- the normal flow ------------------------------------------------------------

describe('demo page: two users, live notifications, every tab in step', () => {
  let hub: HubProcess;
  let browser: Browser;
  let aliceContext: BrowserContext;
  let bobContext: BrowserContext;
  let carolContext: BrowserContext;
  let alice: Page;
  let alice2: Page;
  let bob: Page;
  const problems: Problems = { lines: [] };
  const postTitle = `Lunch on Friday ${Date.now().toString(36)}`;
  const firstComment = 'Count me in, I will bring the salad';
  const secondComment = 'Also: shall we book a table for six?';

  beforeAll(async () => {
    [hub, browser] = await Promise.all([startLowHub(), chromium.launch(LAUNCH)]);
    aliceContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    bobContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    carolContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  });

  afterAll(async () => {
    for (const context of [aliceContext, bobContext, carolContext]) await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await hub?.kill('SIGKILL');
  });

  it('alice’s new post appears in bob’s list, bob comments, and alice’s page shows it live, with the badge at 1', async () => {
    alice = watch(await aliceContext.newPage(), 'alice', problems);
    bob = watch(await bobContext.newPage(), 'bob', problems);

    await signIn(alice, hub.url, 'alice');
    await signIn(bob, hub.url, 'bob');
    await mark(bob);
    await publishPost(alice, postTitle, 'Who is coming? Reply below.');
    expect(await badge(alice)).toEqual({ text: '0', count: '0' });
    await mark(alice);

    // The list of posts is live (the topic `posts`): no reload, no button to press.
    const posts = () => bob.locator('#posts button').allTextContents();
    expect(await settle(posts, (titles) => titles.includes(postTitle))).toEqual([postTitle]);
    expect(await marked(bob)).toBe(42);
    await commentOnPost(bob, 'bob', postTitle, firstComment);

    const live = await settle(() => notifications(alice), (list) => list.length === 1);
    expect(live).toEqual([
      { state: 'unread', text: `bob commented: “${firstComment}”`, buttons: ['Open post', 'Mark read'] },
    ]);
    // It names its post.
    expect(await alice.locator('#notifications > li .about').allTextContents()).toEqual([`on “${postTitle}”`]);
    // The header carries the count too, where a narrow screen shows it.
    expect(await alice.locator('#unread-link').textContent()).toBe('1 unread');
    expect(await settle(() => badge(alice), (b) => b.text === '1')).toEqual({ text: '1', count: '1' });
    expect(await marked(alice)).toBe(42); // no reload: it came over the stream
    expect(await alice.locator('#empty').isHidden()).toBe(true);

    // The commenter is not notified of his own comment.
    expect(await badge(bob)).toEqual({ text: '0', count: '0' });
    expect(await notifications(bob)).toEqual([]);
    expect(await status(alice)).toEqual({ state: 'live', text: 'live' });
    expect(await status(bob)).toEqual({ state: 'live', text: 'live' });
  });

  it('shows what is already in the inbox on load: after a reload, and in a new tab', async () => {
    await alice.reload();
    expect(await marked(alice)).toBeNull(); // it really reloaded
    expect(await settle(() => status(alice), (s) => s.state === 'live')).toEqual({ state: 'live', text: 'live' });
    expect(await settle(() => notifications(alice), (list) => list.length === 1)).toEqual([
      { state: 'unread', text: `bob commented: “${firstComment}”`, buttons: ['Open post', 'Mark read'] },
    ]);
    expect(await badge(alice)).toEqual({ text: '1', count: '1' });

    // A new tab of the same browser is signed in already: one sign-in per browser.
    alice2 = watch(await aliceContext.newPage(), 'alice tab 2', problems);
    await alice2.goto(hub.url);
    expect(await settle(() => status(alice2), (s) => s.state === 'live')).toEqual({ state: 'live', text: 'live' });
    expect([await alice2.locator('#me').textContent(), await alice2.locator('#signin').isHidden()]).toEqual(['alice', true]);
    expect(await settle(() => notifications(alice2), (list) => list.length === 1)).toEqual([
      { state: 'unread', text: `bob commented: “${firstComment}”`, buttons: ['Open post', 'Mark read'] },
    ]);
    expect(await badge(alice2)).toEqual({ text: '1', count: '1' });

    // "Open post" from the notification opens the post the comment is on.
    await alice2.getByRole('button', { name: 'Open post' }).click();
    expect(await settle(() => alice2.locator('#post-title').textContent(), (t) => t === postTitle)).toBe(postTitle);
    expect(await alice2.locator('#comments > li').allTextContents()).toEqual([`bob: ${firstComment}`]);
  });

  it('marking read in one tab updates the badge and the items in every tab of the user', async () => {
    await mark(alice);
    await mark(alice2);
    // A second comment reaches both tabs live.
    await commentOnPost(bob, 'bob', postTitle, secondComment);
    for (const page of [alice, alice2]) {
      expect(await settle(() => badge(page), (b) => b.text === '2')).toEqual({ text: '2', count: '2' });
      expect((await notifications(page)).map((n) => [n.state, n.text])).toEqual([
        ['unread', `bob commented: “${secondComment}”`],
        ['unread', `bob commented: “${firstComment}”`],
      ]);
    }

    // "Mark read" on the newest item, in tab 2.
    await alice2.locator('#notifications > li').first().getByRole('button', { name: 'Mark read' }).click();
    for (const page of [alice2, alice]) {
      expect(await settle(() => badge(page), (b) => b.text === '1')).toEqual({ text: '1', count: '1' });
      expect(await notifications(page)).toEqual([
        { state: 'read', text: `bob commented: “${secondComment}”`, buttons: ['Open post'] },
        { state: 'unread', text: `bob commented: “${firstComment}”`, buttons: ['Open post', 'Mark read'] },
      ]);
    }

    // "Mark all read" in tab 1.
    await alice.getByRole('button', { name: 'Mark all read' }).click();
    for (const page of [alice, alice2]) {
      expect(await settle(() => badge(page), (b) => b.text === '0')).toEqual({ text: '0', count: '0' });
      expect((await notifications(page)).map((n) => n.state)).toEqual(['read', 'read']);
    }
    expect([await marked(alice), await marked(alice2)]).toEqual([42, 42]);

    // The hub agrees.
    const inbox = (await (await apiAs(hub.url, await devToken(hub.url, 'alice'), '/v1/notifications')).json()) as { unreadCount: number };
    expect(inbox.unreadCount).toBe(0);
  });

  it('has labels for every field, works from the keyboard, sets lang and role=status', async () => {
    const carol = watch(await carolContext.newPage(), 'carol', problems);
    await carol.goto(hub.url);
    expect(await carol.locator('html').getAttribute('lang')).toMatch(/^[a-z]{2,3}(-[A-Za-z0-9]+)*$/);
    expect(await carol.locator('#status').getAttribute('role')).toBe('status');
    expect(await carol.getByRole('status').evaluate((el) => el.id)).toBe('status');

    // Keyboard: Tab to the name field, type, Enter.
    expect(await tabTo(carol, (d) => d.startsWith('input#user'), 3)).toEqual(['input#user:']);
    await carol.keyboard.type('carol');
    await carol.keyboard.press('Enter');
    expect(await settle(() => status(carol), (s) => s.state === 'live')).toEqual({ state: 'live', text: 'live' });
    expect(await carol.locator('#me').textContent()).toBe('carol');

    // Every input and textarea has a label, and getByLabel finds that very field.
    const fields = await carol.locator('input, textarea').evaluateAll((els) =>
      els.map((el: Dom) => ({
        id: el.id as string,
        labels: [...(el.labels ?? [])].map((l: Dom) => (l.textContent ?? '').trim() as string),
      })),
    );
    expect(fields.map((f) => f.id)).toEqual([
      'user',
      'post-title-input',
      'post-body-input',
      'comment-body',
      'event-type',
      'event-recipients',
      'event-topics',
      'event-data',
      'event-persist',
    ]);
    for (const field of fields) {
      expect({ id: field.id, labelled: field.labels.length > 0 && field.labels[0] !== '' }).toEqual({ id: field.id, labelled: true });
      expect(await carol.getByLabel(field.labels[0], { exact: true }).evaluate((el) => el.id)).toBe(field.id);
    }
    // Every button has a name.
    const unnamed = await carol.locator('button').evaluateAll((els) =>
      els.filter((b) => !(b.textContent ?? '').trim() && !b.getAttribute('aria-label')).map((b) => b.outerHTML),
    );
    expect(unnamed).toEqual([]);

    // Keyboard: write a post with Tab and Enter.
    const ownTitle = 'Keyboard only';
    expect((await tabTo(carol, (d) => d.startsWith('input#post-title-input'))).at(-1)).toBe('input#post-title-input:');
    await carol.keyboard.type(ownTitle);
    expect(await tabTo(carol, () => true, 1)).toEqual(['textarea#post-body-input:']);
    await carol.keyboard.type('Written without a mouse.');
    expect(await tabTo(carol, () => true, 1)).toEqual(['button:Publish post']);
    await carol.keyboard.press('Enter');
    expect(await settle(() => carol.locator('#post-title').textContent(), (t) => t === ownTitle)).toBe(ownTitle);

    // Keyboard: Tab to alice's post in the list, open it with Space, comment with Enter.
    expect((await tabTo(carol, (d) => d === `button:${postTitle}`)).at(-1)).toBe(`button:${postTitle}`);
    await carol.keyboard.press('Space');
    expect(await settle(() => carol.locator('#post-title').textContent(), (t) => t === postTitle)).toBe(postTitle);
    expect((await tabTo(carol, (d) => d.startsWith('textarea#comment-body'))).at(-1)).toBe('textarea#comment-body:');
    await carol.keyboard.type('Typed with the keyboard');
    expect(await tabTo(carol, () => true, 1)).toEqual(['button:Comment']);
    await carol.keyboard.press('Enter');
    expect(
      await settle(() => carol.locator('#comments > li').allTextContents(), (c) => c.length === 3),
    ).toEqual([`bob: ${firstComment}`, `bob: ${secondComment}`, 'carol: Typed with the keyboard']);

    // alice (post author) gets carol's comment live: an unread item, for the contrast check below.
    expect(await settle(() => badge(alice), (b) => b.text === '1')).toEqual({ text: '1', count: '1' });
  });

  it('has text contrast of at least 4.5:1 (main text, buttons, badge, status in every state)', async () => {
    // alice's page now has an unread item (carol's comment) and read ones.
    expect((await notifications(alice)).map((n) => n.state)).toEqual(['unread', 'read', 'read']);
    await alice.locator('#inspector summary').click(); // its facts and frames, too
    const measured = await alice.evaluate(measureContrast);
    // Enough was measured: every kind of text the page has, and text on the unread background.
    const whats = measured.map((m) => m.what);
    for (const kind of ['h1 ', 'h2#inbox-heading ', 'label ', 'button ', 'button#read-all ', 'button.link ', 'p.meta ', 'span.meta ', 'a#unread-link', 'dd#hub-streams', 'dd#inspect-connection', 'code.frame-id']) {
      expect(whats.filter((what) => what.startsWith(kind)).length).toBeGreaterThan(0);
    }
    for (const state of ['span#badge.badge[0]', 'span#badge.badge[3]', 'p#status.status[live]', 'p#status.status[reconnecting]', 'p#status.status[connecting]', 'p#status.status[offline]']) {
      expect(whats.filter((what) => what.startsWith(state))).toHaveLength(1);
    }
    expect(measured.filter((m) => m.bg === 'rgb(255,246,220)').length).toBeGreaterThanOrEqual(3); // li.unread: text, meta, links
    const tooLow = measured.filter((m) => m.ratio < 4.5);
    expect(tooLow).toEqual([]);
  });

  it('exposes the unread count to assistive technology: the Notifications heading’s accessible name includes it', async () => {
    // The badge shows "1" visually; a screen reader user must hear the same number
    // in the heading's accessible name (what is announced when the heading or region is reached).
    expect(await badge(alice)).toEqual({ text: '1', count: '1' });
    const snapshot = await alice.locator('#inbox-heading').ariaSnapshot();
    const name = snapshot.match(/heading "([^"]*)"/)?.[1];
    expect(name).toMatch(/\b1\b/);
  });

  it('saves a screenshot of alice’s page after the flow', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'demo-alice.png');
    await alice.bringToFront();
    await alice.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(10_000);
  });

  it('logged no console errors, page errors or alerts in any page', () => {
    expect(problems.lines).toEqual([]);
  });
});

// ---- a post's thread, live for every viewer -------------------------------------

/** What a page's streams did, recorded by an init script (the page itself is untouched). */
interface StreamLog {
  /**
   * Each stream the page opened, in order: the topics it follows (those in its URL, then
   * as its `ready` and `topics` frames say: the client changes them in place), whether it sent
   * `ready`, whether the page closed it, and which credentials its URL carried.
   */
  streams: { topics: string[]; ready: boolean; closed: boolean; credentials: string[] }[];
  /** Every `comment.added` the page received, with the stream it came on (its index in `streams`). */
  added: { stream: number; id: string; postId: string; authorId: string; body: string }[];
}

/**
 * Runs in each page before app.js (Playwright sends its source): wraps fetch,
 * which the client reads the stream with, so that the test sees what came
 * over each stream (a comment delivered on the post's topic, not read again
 * over HTTP) and what it followed. The page reads one branch of the body,
 * the recorder the other.
 */
function recordStreams(): void {
  const log: StreamLog = { streams: [], added: [] };
  window.heraldStreams = log;
  const fetchOf = window.fetch.bind(window);
  window.fetch = async (input: Dom, init?: Dom) => {
    const response = await fetchOf(input, init);
    const url = new URL(typeof input === 'string' ? input : input.url, window.location.href);
    if (url.pathname !== '/v1/stream' || !response.ok) return response;
    const index = log.streams.length;
    const credentials = ['ticket', 'access_token'].filter((name) => url.searchParams.has(name));
    const entry = { topics: url.searchParams.getAll('topic') as string[], ready: false, closed: false, credentials };
    log.streams.push(entry);
    init?.signal?.addEventListener('abort', () => (entry.closed = true));
    const [page, recorded] = response.body.tee();
    const onEvent = (event: string, data: string) => {
      if (event === 'ready') entry.ready = true;
      if (event === 'ready' || event === 'topics') entry.topics = JSON.parse(data).topics;
      else if (event === 'comment.added') {
        const { id, postId, authorId, body } = JSON.parse(data).data;
        log.added.push({ stream: index, id, postId, authorId, body });
      }
    };
    void (async () => {
      const reader = recorded.getReader();
      const decoder = new TextDecoder();
      let text = '';
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done) return;
        text += decoder.decode(value, { stream: true });
        const blocks = text.split('\n\n');
        text = blocks.pop()!;
        for (const block of blocks) {
          const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
          const event = field('event');
          if (event !== undefined) onEvent(event, field('data') ?? '');
        }
      }
    })();
    return new Response(page, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

const streamLog = (page: Page): Promise<StreamLog> => page.evaluate(() => window.heraldStreams as StreamLog);

/** Waits until the page's newest stream follows exactly `topics` and is live, and every older one is closed. */
async function following(page: Page, topics: string[]): Promise<void> {
  const current = async () => {
    const { streams } = await streamLog(page);
    const last = streams.at(-1);
    return { topics: last?.topics ?? null, ready: last?.ready ?? false, openBefore: streams.slice(0, -1).filter((s) => !s.closed).length };
  };
  const wanted = { topics, ready: true, openBefore: 0 };
  expect(await settle(current, (c) => JSON.stringify(c) === JSON.stringify(wanted))).toEqual(wanted);
}

/** Waits until the page received `comment.added` for this comment over its stream; resolves to how many times it did. */
async function receivedLive(page: Page, commentId: string): Promise<number> {
  const times = async () => (await streamLog(page)).added.filter((a) => a.id === commentId).length;
  return settle(times, (n) => n > 0);
}

/** The thread as the user sees it. */
const thread = (page: Page) => page.locator('#comments > li').allTextContents();

/** Opens a post from the list, and waits until the page follows its thread. */
async function openThread(page: Page, title: string, postId: string): Promise<void> {
  await page.getByRole('button', { name: title, exact: true }).click();
  expect(await settle(() => page.locator('#post-title').textContent(), (t) => t === title)).toBe(title);
  await following(page, ['posts', `post:${postId}`]);
}

/** The newest comment on a post with this text, as the hub has it. */
async function commentIdOf(url: string, token: string, postId: string, text: string): Promise<string> {
  const post = (await (await apiAs(url, token, `/v1/posts/${postId}`)).json()) as { comments: { id: string; body: string }[] };
  const comment = post.comments.findLast((c) => c.body === text);
  expect(comment?.body).toBe(text);
  return comment!.id;
}

/** From the hub's metrics: open streams, and streams per followed topic. */
async function hubStreams(url: string): Promise<{ open: number; topics: Record<string, number> }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const topics: Record<string, number> = {};
  for (const m of text.matchAll(/^herald_topic_streams\{topic="([^"]+)"\} (\d+)$/gm)) topics[m[1]] = Number(m[2]);
  return { open: Number(text.match(/^herald_open_streams (\d+)$/m)?.[1]), topics };
}

describe('demo page: an open post’s thread is live for every viewer', () => {
  let hub: HubProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let alice: Page;
  let bob: Page;
  let carol: Page;
  let postId: string;
  const problems: Problems = { lines: [] };
  const title = `Board games night ${Date.now().toString(36)}`;
  const bobSays = 'I can bring Carcassonne';
  const carolSays = 'And I will bring snacks for everyone';

  async function userPage(name: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    contexts.push(context);
    await context.addInitScript(recordStreams);
    const page = watch(await context.newPage(), name, problems);
    await signIn(page, hub.url, name);
    return page;
  }

  beforeAll(async () => {
    [hub, browser] = await Promise.all([startLowHub(), chromium.launch(LAUNCH)]);
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await hub?.kill('SIGKILL');
  });

  it('bob’s and carol’s comments appear live on each other’s page, exactly once on every page; alice is notified', async () => {
    alice = await userPage('alice');
    await publishPost(alice, title, 'Saturday at mine. Who brings what?');
    const aliceToken = await devToken(hub.url, 'alice');
    const posts = (await (await apiAs(hub.url, aliceToken, '/v1/posts?limit=20')).json()) as { id: string; title: string }[];
    postId = posts.find((p) => p.title === title)!.id;
    // The author's page shows her new post, and follows its thread too.
    await following(alice, ['posts', `post:${postId}`]);

    [bob, carol] = [await userPage('bob'), await userPage('carol')];
    for (const page of [bob, carol]) await openThread(page, title, postId);
    // Announced politely to screen readers as comments come in.
    expect(await carol.locator('#comments').getAttribute('aria-live')).toBe('polite');
    for (const page of [alice, bob, carol]) {
      expect(await thread(page)).toEqual([]);
      await mark(page);
    }

    // bob comments: carol's page shows it without a reload, from the post's topic.
    await commentOnPost(bob, 'bob', title, bobSays);
    const bobComment = await commentIdOf(hub.url, aliceToken, postId, bobSays);
    expect(await settle(() => thread(carol), (t) => t.length > 0)).toEqual([`bob: ${bobSays}`]);
    expect(await receivedLive(carol, bobComment)).toBe(1);
    // On bob's own page it is there once, though it came both in the answer to his POST and on the topic.
    expect(await receivedLive(bob, bobComment)).toBe(1);
    expect(await receivedLive(alice, bobComment)).toBe(1);
    for (const page of [alice, bob, carol]) expect(await thread(page)).toEqual([`bob: ${bobSays}`]);

    // carol comments: bob's page shows it.
    await commentOnPost(carol, 'carol', title, carolSays);
    const carolComment = await commentIdOf(hub.url, aliceToken, postId, carolSays);
    expect(await settle(() => thread(bob), (t) => t.length > 1)).toEqual([`bob: ${bobSays}`, `carol: ${carolSays}`]);
    for (const page of [alice, bob, carol]) expect(await receivedLive(page, carolComment)).toBe(1);
    for (const page of [alice, bob, carol]) expect(await thread(page)).toEqual([`bob: ${bobSays}`, `carol: ${carolSays}`]);
    // Comments that came in live are marked as new for a moment on the other pages, not on the commenter's.
    expect(await bob.locator('#comments > li.arrived').allTextContents()).toEqual([`carol: ${carolSays}`]);
    expect(await carol.locator('#comments > li.arrived').allTextContents()).toEqual([`bob: ${bobSays}`]);

    // alice, the author, got her usual notifications; bob, an earlier commenter, one for carol's.
    expect(await settle(() => notifications(alice), (list) => list.length === 2)).toEqual([
      { state: 'unread', text: `carol commented: “${carolSays}”`, buttons: ['Open post', 'Mark read'] },
      { state: 'unread', text: `bob commented: “${bobSays}”`, buttons: ['Open post', 'Mark read'] },
    ]);
    expect(await badge(alice)).toEqual({ text: '2', count: '2' });
    expect((await settle(() => notifications(bob), (list) => list.length === 1)).map((n) => n.text)).toEqual([
      `carol commented: “${carolSays}”`,
    ]);
    expect(await badge(bob)).toEqual({ text: '1', count: '1' });
    expect(await notifications(carol)).toEqual([]);

    // Nothing was reloaded, every page is live, and the hub holds one stream per page, all on the topic.
    expect([await marked(alice), await marked(bob), await marked(carol)]).toEqual([42, 42, 42]);
    for (const page of [alice, bob, carol]) expect(await status(page)).toEqual({ state: 'live', text: 'live' });
    expect(await hubStreams(hub.url)).toEqual({ open: 3, topics: { posts: 3, [`post:${postId}`]: 3 } });
    // Every stream was opened with a single-use ticket, never with the token in its URL.
    for (const page of [alice, bob, carol]) {
      expect((await streamLog(page)).streams.map((s) => s.credentials)).toEqual([['ticket']]);
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    for (const [name, page] of [['bob', bob], ['carol', carol]] as const) {
      const file = path.join(ARTIFACTS, `demo-thread-${name}.png`);
      await page.bringToFront();
      await page.screenshot({ path: file, fullPage: true });
      expect(statSync(file).size).toBeGreaterThan(10_000);
    }
  });

  it('a viewer who opens another post, or closes it, no longer follows its thread', async () => {
    const otherTitle = `Book club ${Date.now().toString(36)}`;
    await publishPost(alice, otherTitle, 'Next book?');
    const aliceToken = await devToken(hub.url, 'alice');
    const posts = (await (await apiAs(hub.url, aliceToken, '/v1/posts?limit=20')).json()) as { id: string; title: string }[];
    const otherId = posts.find((p) => p.title === otherTitle)!.id;
    await following(alice, ['posts', `post:${otherId}`]);

    // carol opens the other post (her list has it already: the list is live); bob closes the one he had open.
    await openThread(carol, otherTitle, otherId);
    expect(await thread(carol)).toEqual([]);
    await bob.getByRole('button', { name: 'Close post' }).click();
    await following(bob, ['posts']);
    expect(await bob.locator('#post').isHidden()).toBe(true);
    // Focus goes back to the post in the list, not to the top of the page.
    expect(await bob.evaluate(() => document.activeElement?.textContent)).toBe(title);
    // The hub agrees: nobody follows the first post any more, and each page still holds one stream.
    expect(await settle(() => hubStreams(hub.url), (s) => s.open === 3 && !(`post:${postId}` in s.topics))).toEqual({
      open: 3,
      topics: { posts: 3, [`post:${otherId}`]: 2 },
    });

    // dave comments on both posts: the first reaches no page's thread, the second reaches those who follow it.
    const daveToken = await devToken(hub.url, 'dave');
    const before = await Promise.all([alice, bob, carol].map(async (page) => (await streamLog(page)).added.length));
    expect((await apiAs(hub.url, daveToken, `/v1/posts/${postId}/comments`, { body: 'first post, nobody watching' })).status).toBe(201);
    expect((await apiAs(hub.url, daveToken, `/v1/posts/${otherId}/comments`, { body: 'Dune, please' })).status).toBe(201);
    for (const page of [alice, carol]) expect(await settle(() => thread(page), (t) => t.length > 0)).toEqual(['dave: Dune, please']);
    await sleep(300);
    const after = await Promise.all([alice, bob, carol].map(async (page, i) => (await streamLog(page)).added.slice(before[i])));
    expect(after.map((added) => added.map((a) => `${a.postId}: ${a.body}`))).toEqual([
      [`${otherId}: Dune, please`],
      [],
      [`${otherId}: Dune, please`],
    ]);

    // Notifications do not depend on following: all three hear of dave's comment on the first post
    // (alice, the author of both, of both comments).
    const texts = async (page: Page, count: number) => (await settle(() => notifications(page), (list) => list.length === count)).map((n) => n.text);
    expect((await texts(alice, 4)).slice(0, 2)).toEqual(['dave commented: “Dune, please”', 'dave commented: “first post, nobody watching”']);
    expect((await texts(bob, 2))[0]).toBe('dave commented: “first post, nobody watching”');
    expect(await texts(carol, 1)).toEqual(['dave commented: “first post, nobody watching”']);

    // Back to the first post from the notification: its thread is followed again, all of it shown once.
    await bob.locator('#notifications > li').first().getByRole('button', { name: 'Open post' }).click();
    await following(bob, ['posts', `post:${postId}`]);
    expect(await settle(() => thread(bob), (t) => t.length === 3)).toEqual([
      `bob: ${bobSays}`,
      `carol: ${carolSays}`,
      'dave: first post, nobody watching',
    ]);
    for (const page of [alice, bob, carol]) expect(await status(page)).toEqual({ state: 'live', text: 'live' });
    expect([await marked(alice), await marked(bob), await marked(carol)]).toEqual([42, 42, 42]);
  });

  it('logged no console errors, page errors or alerts in any page', () => {
    expect(problems.lines).toEqual([]);
  });
});

// ---- the tour: what a newcomer tries, and what an operator keeps open ------------

/** The README's "Try it in a minute" with curl: the dev token request of its service, and the event it publishes. */
function readmeCurlExample(): { service: Record<string, unknown>; event: Record<string, unknown> } {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Try it in a minute'), readme.indexOf('\n## Publish\n'));
  const bodies = [...section.matchAll(/-d '(\{[^']*\})'/g)].map((m) => JSON.parse(m[1]) as Record<string, unknown>);
  const service = bodies.find((body) => body.scope === 'events:publish');
  const event = bodies.find((body) => 'type' in body);
  if (!service || !event) throw new Error(`README.md, "Try it in a minute": no curl example found in\n${section}`);
  return { service, event };
}

/** The frames the inspector lists, newest first. */
const frames = (page: Page) =>
  page.locator('#frames > li').evaluateAll((items: Dom[]) =>
    items.map((li) => ({ type: li.querySelector('.frame-type').textContent, replayed: li.dataset.replayed === 'true' })),
  );

/** The inspector's facts: connection, last event id, token expiry, heartbeats. */
const facts = (page: Page) =>
  page.evaluate(() => ({
    connection: document.getElementById('inspect-connection').textContent,
    lastId: document.getElementById('inspect-last-id').textContent,
    expiry: document.getElementById('inspect-expiry').textContent,
    heartbeats: Number.parseInt(document.getElementById('inspect-heartbeats').textContent, 10),
  }));

/** What the publish form shows after an attempt: the status line, the JSON, and which fields are marked invalid. */
const publishAnswer = (page: Page) =>
  page.evaluate(() => ({
    status: document.querySelector('#publish-result p')?.textContent ?? null,
    json: JSON.parse(document.querySelector('#publish-result pre')?.textContent ?? 'null'),
    invalid: [...document.querySelectorAll('#publish [aria-invalid="true"]')].map((el: Dom) => el.id),
  }));

/** An element's box on the page. */
const box = async (page: Page, selector: string) => (await page.locator(selector).boundingBox())!;

/** Console lines of refusals the tour asks for on purpose: each is shown to the user as the hub's answer. */
const ASKED_FOR = /console\.error: Failed to load resource: the server responded with a status of 400 \(Bad Request\) @ \S+\/v1\/(events|posts)$/;

describe('demo page: the tour (intro, any event, inspector, publish form, hub panel, layout)', () => {
  let hub: HubProcess;
  let browser: Browser;
  let aliceContext: BrowserContext;
  let alice: Page;
  let bob: Page;
  const problems: Problems = { lines: [] };

  beforeAll(async () => {
    // Heartbeats often, for the inspector to count some.
    [hub, browser] = await Promise.all([startLowHub({ HEARTBEAT_MS: '300' }), chromium.launch(LAUNCH)]);
    aliceContext = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    alice = watch(await aliceContext.newPage(), 'alice', problems);
    bob = watch(await (await browser.newContext({ viewport: { width: 375, height: 800 } })).newPage(), 'bob', problems);
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await hub?.kill('SIGKILL');
  });

  it('says on the signed-out page what Herald is and what to try, linking only to what this hub serves', async () => {
    await alice.goto(hub.url);
    const intro = await alice.locator('#intro').textContent();
    expect(intro).toContain('real-time notification hub');
    expect(intro).toContain('second window as bob');
    expect(intro).toMatch(/docs\/api\.md[\s\S]*README\.md/);
    const links = await alice.locator('a[href]').evaluateAll((as: Dom[]) => as.map((a) => a.href as string));
    expect(links.length).toBeGreaterThanOrEqual(3);
    for (const link of links) {
      expect(new URL(link).origin).toBe(hub.url);
      expect({ link, status: (await fetch(link)).status }).toEqual({ link, status: 200 });
    }
  });

  it('shows the README’s curl example as what it is: its type and data, and no post to open', async () => {
    await signIn(alice, hub.url, 'alice');
    await signIn(bob, hub.url, 'bob');
    const { service, event } = readmeCurlExample();
    const token = ((await (await fetch(`${hub.url}/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(service) })).json()) as { token: string }).token;
    expect((await fetch(`${hub.url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(event) })).status).toBe(202);

    expect(await settle(() => notifications(alice), (list) => list.length === 1)).toEqual([
      { state: 'unread', text: 'comment.created', buttons: ['Mark read'] },
    ]);
    const item = alice.locator('#notifications > li').first();
    expect(await item.locator('pre').textContent()).toBe(JSON.stringify(event.data));
    expect(await item.textContent()).not.toMatch(/undefined|does not exist/);
    expect(await badge(alice)).toEqual({ text: '1', count: '1' });
  });

  it('publishes any event from the form, and shows the hub’s answer or its JSON error naming the field', async () => {
    await alice.getByLabel('Type', { exact: true }).fill('deploy.finished');
    await alice.getByLabel('Recipients (user ids, comma-separated)').fill('bob');
    await alice.getByLabel('Data (JSON)').fill('{"service":"api","version":"2.1"}');
    await alice.getByLabel(/Persist/).uncheck();
    await alice.getByRole('button', { name: 'Publish event' }).click();
    expect(await settle(() => publishAnswer(alice), (a) => a.status !== null)).toEqual({ status: '202 Accepted', json: { accepted: 1 }, invalid: [] });
    // A type bob's page has no words for, kept in no inbox: shown live, as its type and data.
    expect(await settle(() => notifications(bob), (list) => list.length === 1)).toEqual([{ state: 'live', text: 'deploy.finished', buttons: [] }]);
    expect(await bob.locator('#notifications pre').textContent()).toBe('{"service":"api","version":"2.1"}');
    expect(await badge(bob)).toEqual({ text: '0', count: '0' });

    await alice.getByLabel('Recipients (user ids, comma-separated)').fill('bob, no/such/user');
    await alice.getByRole('button', { name: 'Publish event' }).click();
    const refused = await settle(() => publishAnswer(alice), (a) => a.status !== '202 Accepted');
    expect(refused).toEqual({
      status: '400 Bad Request',
      json: { statusCode: 400, error: 'Bad Request', field: 'recipients[1]', message: 'recipients[1]: must be 1-128 characters of A-Z a-z 0-9 _ . : @ -' },
      invalid: ['event-recipients'],
    });

    await alice.getByLabel('Recipients (user ids, comma-separated)').fill('bob');
    await alice.getByLabel('Data (JSON)').fill('{"version": 2.1');
    await alice.getByRole('button', { name: 'Publish event' }).click();
    expect(await settle(() => publishAnswer(alice), (a) => a.status === 'not sent')).toEqual({
      status: 'not sent',
      json: { field: 'data', message: expect.stringMatching(/^data: is not valid JSON/) },
      invalid: ['event-data'],
    });
    await alice.getByLabel('Data (JSON)').fill('{"postId":"42"}');
    await alice.getByLabel(/Persist/).check();
  });

  it('the inspector shows every frame, the connection, the token’s expiry, heartbeats, and a replay closing a cut', async () => {
    // It opens from the keyboard.
    await alice.locator('#inspector summary').focus();
    await alice.keyboard.press('Enter');
    expect(await alice.locator('#inspector').evaluate((el: Dom) => el.open)).toBe(true);
    const seen = await settle(() => facts(alice), (f) => f.heartbeats > 0);
    expect(seen).toEqual({ connection: expect.stringMatching(/^\S+-\d+$/), lastId: expect.not.stringMatching(/^none$/), expiry: expect.stringMatching(/\(in (59|60) min\)$/), heartbeats: expect.any(Number) });
    expect((await frames(alice)).map((f) => f.type)).toEqual(['comment.created', 'ready']);

    // The page cuts its stream, an event is published meanwhile, and the reconnect replays it.
    await alice.getByRole('button', { name: 'Simulate a drop' }).click();
    const replayed = await settle(() => frames(alice), (list) => list[0]?.type === 'demo.while-away');
    expect(replayed.slice(0, 2)).toEqual([
      { type: 'demo.while-away', replayed: true },
      { type: 'ready', replayed: false },
    ]);
    expect(await alice.locator('#drop-status').textContent()).toMatch(/^Reconnected, resuming after id \S+: 1 event replayed/);
    expect((await facts(alice)).connection).not.toBe(seen.connection);
    expect(await status(alice)).toEqual({ state: 'live', text: 'live' });

    // Reconnecting when nothing was published meanwhile replays nothing.
    await alice.getByRole('button', { name: 'Reconnect now' }).click();
    expect(await settle(() => alice.locator('#drop-status').textContent(), (t) => t?.includes('nothing was missed') ?? false)).toMatch(/nothing was missed\.$/);
    expect((await frames(alice))[0]).toEqual({ type: 'ready', replayed: false });
  });

  it('clears an error once an action succeeds, or once the page is live again', async () => {
    const fail = async () => {
      await alice.getByLabel('Title').fill('   ');
      await alice.getByLabel('Text').fill('A blank title is refused.');
      await alice.getByRole('button', { name: 'Publish post' }).click();
      expect(await settle(() => notice(alice), (t) => t !== '')).toMatch(/^title: /);
    };
    await fail();
    await alice.getByRole('button', { name: 'Reconnect now' }).click();
    expect(await settle(() => notice(alice), (t) => t === '')).toBe('');
    await fail();
    await publishPost(alice, 'Fixed', 'With a title.');
    expect(await notice(alice)).toBe('');
  });

  it('shows the hub’s open streams, users and events per second', async () => {
    const panel = () => alice.evaluate(() => ['hub-streams', 'hub-users', 'hub-rate'].map((id) => document.getElementById(id).textContent));
    const [streams, users, rate] = await settle(panel, ([s, u, r]) => s === '2' && u === '2' && r !== '–', 8_000);
    expect([streams, users]).toEqual([String((await hubStreams(hub.url)).open), '2']);
    expect(rate).toMatch(/^\d+\.\d$/);
  });

  it('at 375 px puts the badge in the header and the notifications first; at 1440 px, three columns', async () => {
    const header = await box(bob, 'header');
    const link = await box(bob, '#unread-link');
    expect(link.y + link.height).toBeLessThanOrEqual(header.y + header.height);
    expect((await box(bob, '.inbox')).y).toBeLessThan((await box(bob, '.posts')).y);
    expect(await bob.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);

    const columns = await Promise.all(['.inbox', '.posts', '.tools'].map((selector) => box(alice, selector)));
    expect(columns.map((c) => c.y)).toEqual([columns[0].y, columns[0].y, columns[0].y]);
    expect(columns[0].x < columns[1].x && columns[1].x < columns[2].x).toBe(true);

    mkdirSync(ARTIFACTS, { recursive: true });
    for (const page of [bob, alice]) expect(await settle(() => page.locator('#hub-rate').textContent(), (rate) => rate !== '–')).toMatch(/^\d/);
    for (const [file, page] of [['demo-375.png', bob], ['demo-1440.png', alice]] as const) {
      await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
      expect(statSync(path.join(ARTIFACTS, file)).size).toBeGreaterThan(10_000);
    }
    const tooLow = (await alice.evaluate(measureContrast)).filter((m) => m.ratio < 4.5);
    expect(tooLow).toEqual([]);
  });

  it('shares one sign-in between the tabs of a browser: signing out in one signs out all', async () => {
    const tab = watch(await aliceContext.newPage(), 'alice tab 2', problems);
    await tab.goto(hub.url);
    expect(await settle(() => status(tab), (s) => s.state === 'live')).toEqual({ state: 'live', text: 'live' });
    expect(await tab.locator('#me').textContent()).toBe('alice');
    await tab.getByRole('button', { name: 'Sign out' }).click();
    for (const page of [tab, alice]) {
      expect(await settle(() => status(page), (s) => s.state === 'offline')).toEqual({ state: 'offline', text: 'signed out' });
      expect([await page.locator('#signin').isVisible(), await page.locator('#intro').isVisible(), await page.locator('#app').isVisible()]).toEqual([true, true, false]);
    }
    // Signing in again in one tab signs the other in too.
    await signIn(alice, hub.url, 'carol');
    expect(await settle(() => tab.locator('#me').textContent(), (me) => me === 'carol')).toBe('carol');
  });

  it('logged no console errors, page errors or alerts, but for the refusals it asked for', () => {
    expect(problems.lines.filter((line) => !ASKED_FOR.test(line))).toEqual([]);
  });
});

// ---- restarts -------------------------------------------------------------------

/** How long a hub may take to exit after SIGTERM with one idle browser tab open (its streams end at once). */
const SIGTERM_EXIT_MS = 5_000;

interface RequestLog {
  since(at: number): { total: number; byPath: Record<string, number> };
  between(from: number, to: number): { total: number; byPath: Record<string, number> };
}

/** Counts the page's requests to the hub, by path, from now on. */
function countRequests(page: Page): RequestLog {
  const log: { at: number; path: string }[] = [];
  page.on('request', (request) => log.push({ at: Date.now(), path: new URL(request.url()).pathname }));
  const between = (from: number, to: number) => {
    const byPath: Record<string, number> = {};
    const hits = log.filter((r) => r.at >= from && r.at <= to);
    for (const r of hits) byPath[r.path] = (byPath[r.path] ?? 0) + 1;
    return { total: hits.length, byPath };
  };
  return { since: (at) => between(at, Date.now()), between };
}

/** Console lines, with tokens and tickets cut and repeats counted, for the report. */
function summarise(label: string, lines: string[]): string[] {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const key = line.replace(/(access_token|ticket)=[^&\s]+/g, '$1=…').replace(/:\d{4,5}\//g, ':PORT/');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([line, n]) => `[${label}] ${n > 1 ? `${n} × ` : ''}${line}`);
}

/** Console errors allowed while the hub is down or restarting: network failures of the page's requests to it. */
const RESTART_NOISE = new RegExp(
  [
    // the stream cut off, or refused while the hub is down
    String.raw`net::ERR_[A-Z_]+ @ \S+/v1/stream\?`,
    // any API request of the page (or its hub panel's read of /metrics) cut off by the crash, or sent while the hub is down
    String.raw`net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE) @ \S+(/v1/[\w/.-]+|/metrics)$`,
    // the stream or its ticket refused while the hub drains (503)
    String.raw`the server responded with a status of 503 \([A-Za-z ]+\) @ \S+/v1/(stream\?|stream-tickets$)`,
    // a request with a token from the last boot (401), which the page and the client repeat once with a fresh one
    String.raw`the server responded with a status of 401 \([A-Za-z ]+\) @ \S+/v1/[\w/.-]+$`,
  ]
    .map((pattern) => `^alice console\\.error: Failed to load resource: ${pattern}`)
    .join('|'),
);

describe('demo page: the hub restarts and the page recovers by itself', () => {
  let browser: Browser;
  let dir: string;
  const hubs: { kill(signal: NodeJS.Signals): Promise<unknown> }[] = [];
  const contexts: BrowserContext[] = [];
  const seen: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch(LAUNCH);
    dir = mkdtempSync(path.join(tmpdir(), 'herald-demo-'));
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    for (const hub of hubs) await hub.kill('SIGKILL').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (seen.length) process.stdout.write(`console during restarts:\n  ${seen.join('\n  ')}\n`);
  });

  async function alicePage(url: string, problems: Problems): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    contexts.push(context);
    const page = watch(await context.newPage(), 'alice', problems);
    await signIn(page, url, 'alice');
    return page;
  }

  it('`npm start` (no JWT_SECRET) restarted with a new dev secret: alice’s page reconnects on its own and shows what came while it was down', async () => {
    const port = await lowPort();
    const sqlite = path.join(dir, 'npm-start.sqlite');
    const problems: Problems = { lines: [] };
    const first = await startNpmStartHub(port, sqlite);
    hubs.push(first);
    expect(first.output.join('')).toContain('JWT_SECRET is not set');

    const alice = await alicePage(first.url, problems);
    const title = 'Restart me';
    await publishPost(alice, title, 'Will you see this after a restart?');
    const bobBefore = await devToken(first.url, 'bob');
    await commentAs(first.url, bobBefore, title, 'before the restart');
    expect(await settle(() => badge(alice), (b) => b.text === '1')).toEqual({ text: '1', count: '1' });
    await mark(alice);
    const problemsBefore = [...problems.lines];

    // Stop it the way a person does (Ctrl-C / SIGTERM): the page must say so, and
    // must not keep the hub from stopping.
    const requests = countRequests(alice);
    const stoppedAt = Date.now();
    const exited = first.kill('SIGTERM').then(() => Date.now() - stoppedAt);
    expect(await settle(() => status(alice), (s) => s.state === 'reconnecting')).toEqual({ state: 'reconnecting', text: 'reconnecting' });
    const exitMs = await Promise.race([exited, sleep(SIGTERM_EXIT_MS).then(() => null)]);
    const whileStopping = requests.since(stoppedAt);
    if (exitMs === null) await first.kill('SIGKILL'); // so the rest of the flow can still be checked
    const downAt = Date.now();
    await sleep(1_500);
    expect(await status(alice)).toEqual({ state: 'reconnecting', text: 'reconnecting' });

    // Start it again, same port and database, with a new secret: `npm start` keeps the secret it
    // made beside the database, so that tokens survive a restart; without that file it makes a new one.
    rmSync(path.join(dir, 'dev-jwt-secret'), { force: true });
    const second = await startNpmStartHub(port, sqlite);
    hubs.push(second);
    const bobAfter = await devToken(second.url, 'bob');
    await commentAs(second.url, bobAfter, title, 'while you were away');
    // The old token is dead: the page had to get a new one by itself.
    expect((await apiAs(second.url, bobBefore, '/v1/notifications')).status).toBe(401);
    // alice acts at once, maybe before her stream is back: her token is refused, the page gets a fresh one, and tries again.
    await publishPost(alice, 'Back already', 'Written right after the restart.');

    const recovered = await settle(
      async () => ({ status: await status(alice), badge: await badge(alice), items: await notifications(alice) }),
      // The whole state, badge included: the page may show the new item a moment before its count.
      (v) => v.status.state === 'live' && v.items.length === 2 && v.badge.text === '2',
      15_000,
    );
    expect(recovered).toEqual({
      status: { state: 'live', text: 'live' },
      badge: { text: '2', count: '2' },
      items: [
        { state: 'unread', text: 'bob commented: “while you were away”', buttons: ['Open post', 'Mark read'] },
        { state: 'unread', text: 'bob commented: “before the restart”', buttons: ['Open post', 'Mark read'] },
      ],
    });
    expect(await marked(alice)).toBe(42); // untouched: no reload
    expect(await notice(alice)).toBe(''); // nothing went wrong that the user must hear of
    const liveAt = Date.now();

    // And it is live again, not just refreshed: a third comment arrives over the new stream.
    await commentAs(second.url, bobAfter, title, 'and live again');
    expect(await settle(() => badge(alice), (b) => b.text === '3')).toEqual({ text: '3', count: '3' });
    expect((await notifications(alice))[0]?.text).toBe('bob commented: “and live again”');

    mkdirSync(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: path.join(ARTIFACTS, 'demo-alice-restart.png'), fullPage: true });

    seen.push(...summarise('npm start', problems.lines));
    seen.push(`[npm start] hub exit after SIGTERM: ${exitMs === null ? `not within ${SIGTERM_EXIT_MS} ms (SIGKILLed)` : `${exitMs} ms`}`);
    seen.push(`[npm start] requests from alice's page while the hub was stopping: ${JSON.stringify(whileStopping)}`);
    seen.push(`[npm start] requests from alice's page from then until it was live again: ${JSON.stringify(requests.between(downAt, liveAt))}`);
    expect(problemsBefore).toEqual([]);
    expect(problems.lines.filter((line) => !RESTART_NOISE.test(line))).toEqual([]);
    // The page backs off while the hub is going away (the client waits 1 s, 2 s, 4 s… between
    // failed opens; a handful of attempts is plenty), and the hub, asked to stop, stops.
    expect(whileStopping.total).toBeLessThanOrEqual(10);
    expect(exitMs).not.toBeNull();
  }, RESTART_TIMEOUT_MS);

  it('with a fixed JWT_SECRET and a crash (SIGKILL): the client’s reconnect brings the page back', async () => {
    const port = String(await lowPort());
    const sqlite = path.join(dir, 'secret.sqlite');
    const problems: Problems = { lines: [] };
    const first = await startHubProcess({ PORT: port, SQLITE_PATH: sqlite });
    hubs.push(first);

    const alice = await alicePage(first.url, problems);
    const title = 'Crash me';
    await publishPost(alice, title, 'A crash, not a shutdown.');
    const bobToken = await devToken(first.url, 'bob');
    await commentAs(first.url, bobToken, title, 'before the crash');
    expect(await settle(() => badge(alice), (b) => b.text === '1')).toEqual({ text: '1', count: '1' });
    await mark(alice);
    const problemsBefore = [...problems.lines];

    await first.kill('SIGKILL');
    expect(await settle(() => status(alice), (s) => s.state === 'reconnecting')).toEqual({ state: 'reconnecting', text: 'reconnecting' });

    const second = await startHubProcess({ PORT: port, SQLITE_PATH: sqlite });
    hubs.push(second);
    await second.ready();
    // Same secret: bob's old token still works.
    await commentAs(second.url, bobToken, title, 'after the crash');

    const recovered = await settle(
      async () => ({ status: await status(alice), badge: await badge(alice), items: (await notifications(alice)).map((n) => n.text) }),
      (v) => v.status.state === 'live' && v.items.length === 2 && v.badge.text === '2',
      15_000,
    );
    expect(recovered).toEqual({
      status: { state: 'live', text: 'live' },
      badge: { text: '2', count: '2' },
      items: ['bob commented: “after the crash”', 'bob commented: “before the crash”'],
    });
    expect(await marked(alice)).toBe(42);

    seen.push(...summarise('secret', problems.lines));
    expect(problemsBefore).toEqual([]);
    expect(problems.lines.filter((line) => !RESTART_NOISE.test(line))).toEqual([]);
  }, RESTART_TIMEOUT_MS);

  it('a tab whose stream is refused (429: too many streams for the user) backs off instead of hammering the hub', async () => {
    // STREAMS_PER_USER_MAX is 8 by default: the 9th tab of a user gets 429. One is enough to show it.
    const hub = await startLowHub({ STREAMS_PER_USER_MAX: '1' });
    hubs.push(hub);
    const problems: Problems = { lines: [] };
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    contexts.push(context);
    const first = watch(await context.newPage(), 'alice tab 1', problems);
    await signIn(first, hub.url, 'alice');

    // The second tab is signed in as alice already (one sign-in per browser), and opens her second stream.
    const second = watch(await context.newPage(), 'alice tab 2', problems);
    const requests = countRequests(second);
    await second.goto(hub.url);
    await sleep(1_000);
    const from = Date.now();
    await sleep(3_000);
    const inThreeSeconds = requests.between(from, Date.now());
    seen.push(`[429] requests from the refused tab in 3 s: ${JSON.stringify(inThreeSeconds)}`);
    seen.push(...summarise('429', problems.lines));

    // The tab says it is not live, and the one that is live stays so.
    expect(await status(second)).not.toEqual({ state: 'live', text: 'live' });
    expect(await status(first)).toEqual({ state: 'live', text: 'live' });
    // The client waits 1 s, 2 s, 4 s… (each jittered to 50-100 %) between refused opens: 3 s hold
    // at most two attempts, a ticket and a stream request each. Hundreds is a retry storm.
    expect(inThreeSeconds.total).toBeLessThanOrEqual(4);
    await context.close();
  });
});
