/**
 * The inbox end to end (API.md "Inbox" and `persist` under "Publish"; issue
 * 4), on the embedded SQLite and on PostgreSQL: notifications are stored by
 * `POST /v1/events` with `persist` (the default), listed newest first with
 * opaque cursors that stay stable while new ones arrive, counted unread,
 * marked read one at a time (only the caller's) or all at once, and every
 * open stream of the user hears of it (`inbox.read`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BACKENDS, startHubOn } from './support/backends.js';
import { call, CallOptions, expectError, ISO, Json } from './support/http.js';
import type { TestHub } from './support/hub.js';
import { Recorder } from './support/recorder.js';
import { newUser } from './support/users.js';

// ---------------------------------------------------------------- helpers

/** Longer than a hand-over from the outbox takes (a kick after commit, else the relay's 1 s poll). */
const SETTLE_MS = 1300;
const TYPE = 'test.note';

// ---------------------------------------------------------------- tests

describe.each(BACKENDS)('inbox on $name', (backend) => {
  let hub: TestHub;
  const recorders: Recorder[] = [];

  const subscribe = async (user: string) => {
    // Envelopes with the frame's id as `frameId`, to compare with the envelope's own.
    const recorder = await Recorder.open(hub, user, { frameIds: true });
    recorders.push(recorder);
    return recorder;
  };
  /** Publishes a persisted event with data {n, ...extra}; 202. */
  const notify = async (recipients: string[], n: number, extra: Record<string, unknown> = {}) => {
    const response = await hub.publish({ type: TYPE, recipients, data: { n, ...extra } });
    expect(response.status).toBe(202);
  };
  const notifyMany = async (user: string, count: number, from = 0) => {
    for (let n = from; n < from + count; n++) await notify([user], n);
  };
  const inbox = async (user: string, query = '') => {
    const reply = await call(hub, 'GET', `/v1/notifications${query}`, { as: user });
    expect(reply.status).toBe(200);
    return reply.body as { items: Json[]; unreadCount: number; nextCursor: string | null };
  };
  const markRead = (user: string, id: string) => call(hub, 'POST', `/v1/notifications/${id}/read`, { as: user });
  const readAll = (user: string) => call(hub, 'POST', '/v1/notifications/read-all', { as: user });
  /** Every page from the start, following nextCursor. */
  const allPages = async (user: string, limit: number) => {
    const pages: Json[] = [];
    let cursor: string | null = null;
    do {
      const page = await inbox(user, `?limit=${limit}${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`);
      pages.push(page);
      cursor = page.nextCursor;
      if (pages.length > 1000) throw new Error('the cursors never end');
    } while (cursor !== null);
    return pages;
  };

  beforeAll(async () => {
    hub = await startHubOn(backend, { HEARTBEAT_MS: '3600000' });
  });
  afterEach(() => Recorder.closeAll(recorders));
  afterAll(() => hub?.close());

  describe('listing', () => {
    it('is empty for a user with no notifications', async () => {
      expect(await inbox(newUser('nobody'))).toEqual({ items: [], unreadCount: 0, nextCursor: null });
    });

    it('lists newest first, page by page with cursors; every item once; the last page has no cursor', async () => {
      const alice = newUser('alice');
      const before = Date.now();
      await notifyMany(alice, 25);

      const pages = await allPages(alice, 5);
      expect(pages).toHaveLength(5);
      for (const page of pages) {
        expect(page.items).toHaveLength(5);
        expect(page.unreadCount).toBe(25);
      }
      expect(pages.map((p) => p.nextCursor === null)).toEqual([false, false, false, false, true]);
      const items = pages.flatMap((p) => p.items);
      expect(items.map((i) => i.data.n)).toEqual(Array.from({ length: 25 }, (_, i) => 24 - i));
      expect(new Set(items.map((i) => i.id)).size).toBe(25);
      for (const item of items) {
        expect(item).toEqual({ id: expect.any(String), type: TYPE, data: { n: expect.any(Number) }, createdAt: expect.stringMatching(ISO), readAt: null });
        expect(Date.parse(item.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      }
      // createdAt never grows down the list.
      const times = items.map((i) => Date.parse(i.createdAt));
      expect(times).toEqual([...times].sort((a, b) => b - a));

      // Default limit 20; limit 100 takes everything; limit 25 exactly has no next page.
      const first = await inbox(alice);
      expect(first.items.map((i: Json) => i.id)).toEqual(items.slice(0, 20).map((i) => i.id));
      expect(first.nextCursor).toEqual(expect.any(String));
      const rest = await inbox(alice, `?before=${encodeURIComponent(first.nextCursor!)}`);
      expect(rest.items.map((i: Json) => i.id)).toEqual(items.slice(20).map((i) => i.id));
      expect(rest.nextCursor).toBeNull();
      expect((await inbox(alice, '?limit=100')).items).toEqual(items);
      expect(await inbox(alice, '?limit=25')).toEqual({ items, unreadCount: 25, nextCursor: null });
      expect((await inbox(alice, '?limit=1')).items).toEqual(items.slice(0, 1));
      // An empty `before` is the first page.
      expect((await inbox(alice, '?limit=3&before=')).items).toEqual(items.slice(0, 3));
    });

    it('keeps pages stable while new notifications arrive: no item repeated or skipped', async () => {
      const alice = newUser('alice');
      await notifyMany(alice, 30);
      const seen: Json[] = [];
      let cursor: string | null = null;
      let added = 0;
      let pages = 0;
      do {
        // New notifications while this page is being read, and between pages.
        const arriving = Array.from({ length: 3 }, () => notify([alice], 1000 + added++, { late: true }));
        const [page]: [Awaited<ReturnType<typeof inbox>>, ...unknown[]] = await Promise.all([
          inbox(alice, `?limit=4${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`),
          ...arriving,
        ]);
        seen.push(...page.items);
        cursor = page.nextCursor;
        if (++pages > 100) throw new Error('the cursors never end');
      } while (cursor !== null);

      const ids = seen.map((i) => i.id);
      expect(ids.length - new Set(ids).size).toBe(0); // nothing twice
      const originals = seen.filter((i) => !i.data.late).map((i) => i.data.n);
      expect(originals).toEqual(Array.from({ length: 30 }, (_, i) => 29 - i)); // all, once, newest first
      // Late ones can only be on the first page, which was read while they arrived.
      const lateOnLaterPages = seen.slice(4).filter((i) => i.data.late);
      expect(lateOnLaterPages).toEqual([]);
      // And from the start again, everything is there.
      const now = await inbox(alice, '?limit=100');
      expect(now.items).toHaveLength(30 + added);
      expect(now.unreadCount).toBe(30 + added);
    });
  });

  describe('reading', () => {
    it('marks one read (204): readAt is set, unreadCount drops, marking again keeps the first readAt', async () => {
      const alice = newUser('alice');
      await notifyMany(alice, 3);
      const [newest, middle, oldest] = (await inbox(alice)).items;

      const before = Date.now();
      const reply = await markRead(alice, middle.id);
      expect(reply.status).toBe(204);
      expect(reply.body).toBeUndefined();
      const after = await inbox(alice);
      expect(after.unreadCount).toBe(2);
      expect(after.items.map((i: Json) => [i.id, i.readAt === null])).toEqual([
        [newest.id, true],
        [middle.id, false],
        [oldest.id, true],
      ]);
      const readAt = after.items[1].readAt as string;
      expect(readAt).toMatch(ISO);
      expect(Date.parse(readAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(readAt)).toBeLessThanOrEqual(Date.now() + 1000);

      await sleep(20);
      expect((await markRead(alice, middle.id)).status).toBe(204);
      const again = await inbox(alice);
      expect(again.items[1].readAt).toBe(readAt);
      expect(again.unreadCount).toBe(2);
    });

    it("answers 404 for another user's notification and for ids that are none, and changes nothing", async () => {
      const [alice, mallory] = [newUser('alice'), newUser('mallory')];
      await notify([alice], 1);
      await notify([mallory], 2);
      const [item] = (await inbox(alice)).items;
      const [mine] = (await inbox(mallory)).items;
      const aliceStream = await subscribe(alice);

      expectError(await markRead(mallory, item.id), 404);
      for (const id of ['abc', '0', '-1', '1.5', '99999999999', '123456789012345678901234567890', '%20', item.id + 'x']) {
        expectError(await markRead(alice, id), 404);
      }
      // A 404 in the path is not mistaken for another route either.
      expectError(await call(hub, 'GET', `/v1/notifications/${item.id}`, { as: alice }), 404);

      expect(await inbox(alice)).toEqual({ items: [item], unreadCount: 1, nextCursor: null });
      expect(await inbox(mallory)).toEqual({ items: [mine], unreadCount: 1, nextCursor: null });
      await sleep(300);
      expect(aliceStream.envelopes('inbox.read')).toEqual([]);
    });

    it("read-all (204) marks every item of the caller, keeps earlier readAt, and leaves others' alone", async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      await notifyMany(alice, 4);
      await notify([alice, bob], 99); // one notification in two inboxes
      const items = (await inbox(alice)).items;
      expect(items).toHaveLength(5);
      expect((await markRead(alice, items[2].id)).status).toBe(204);
      const firstReadAt = (await inbox(alice)).items[2].readAt;
      await sleep(20);

      const reply = await readAll(alice);
      expect(reply.status).toBe(204);
      expect(reply.body).toBeUndefined();
      const after = await inbox(alice);
      expect(after.unreadCount).toBe(0);
      expect(after.items.map((i: Json) => i.id)).toEqual(items.map((i: Json) => i.id));
      for (const item of after.items) expect(item.readAt).toMatch(ISO);
      expect(after.items[2].readAt).toBe(firstReadAt);

      // bob's copy of the shared notification is still unread, under the same id.
      const bobs = await inbox(bob);
      expect(bobs.unreadCount).toBe(1);
      expect(bobs.items).toEqual([{ ...items[0], readAt: null }]);

      // Nothing left to read: still 204.
      expect((await readAll(alice)).status).toBe(204);
      // New notifications after read-all are unread.
      await notify([alice], 100);
      expect((await inbox(alice)).unreadCount).toBe(1);
    });

    it('reads a shared notification per user', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      await notify([alice, bob], 1);
      const [aliceItem] = (await inbox(alice)).items;
      const [bobItem] = (await inbox(bob)).items;
      expect(bobItem).toEqual(aliceItem);
      expect((await markRead(bob, bobItem.id)).status).toBe(204);
      expect((await inbox(bob)).unreadCount).toBe(0);
      expect(await inbox(alice)).toEqual({ items: [aliceItem], unreadCount: 1, nextCursor: null });
    });

    it("tells every open stream of the user (inbox.read), and no one else's", async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      await notifyMany(alice, 3);
      await notify([bob], 7);
      const items = (await inbox(alice)).items;
      const tabs = [await subscribe(alice), await subscribe(alice)];
      const bobStream = await subscribe(bob);

      expect((await markRead(alice, items[1].id)).status).toBe(204);
      for (const tab of tabs) {
        const [event] = await tab.waitFor('inbox.read', 1);
        expect(event).toEqual({
          id: event.frameId,
          frameId: expect.any(String),
          type: 'inbox.read',
          data: { notificationId: items[1].id, unreadCount: 2 },
          createdAt: expect.stringMatching(ISO),
        });
      }

      expect((await readAll(alice)).status).toBe(204);
      for (const tab of tabs) {
        const events = await tab.waitFor('inbox.read', 2);
        expect(events[1].data).toEqual({ all: true, unreadCount: 0 });
        // Ids keep growing, so a reconnect with Last-Event-ID does not replay them again.
        expect(events[1].frameId).not.toBe(events[0].frameId);
      }
      // Both tabs saw the same two events, with the same ids.
      expect(tabs[0].envelopes('inbox.read')).toEqual(tabs[1].envelopes('inbox.read'));

      await sleep(300);
      expect(bobStream.frames.filter((f) => f.event !== 'ready')).toEqual([]);
      expect((await inbox(bob)).unreadCount).toBe(1);
    });
  });

  describe('validation and authentication', () => {
    const cursorOf = (text: string) => Buffer.from(text).toString('base64url');

    it.each([
      ['0', 'limit=0'],
      ['101', 'limit=101'],
      ['-1', 'limit=-1'],
      ['1.5', 'limit=1.5'],
      ['abc', 'limit=abc'],
      ['1e2', 'limit=1e2'],
      ['empty', 'limit='],
      ['given twice', 'limit=1&limit=2'],
    ])('GET /v1/notifications refuses limit %s: 400 naming "limit"', async (_what, query) => {
      expectError(await call(hub, 'GET', `/v1/notifications?${query}`, { as: newUser('alice') }), 400, 'limit');
    });

    it.each([
      ['garbage', 'before=not-a-cursor!'],
      ['base64 of something else', `before=${cursorOf('hello')}`],
      ['a cursor naming no number', `before=${cursorOf('n:abc')}`],
      ['a cursor of another kind', `before=${cursorOf('x:12')}`],
      ['a cursor with a number too large', `before=${cursorOf(`n:${'9'.repeat(30)}`)}`],
      ['a raw id', 'before=12'],
      ['given twice', `before=${cursorOf('n:5')}&before=${cursorOf('n:6')}`],
    ])('GET /v1/notifications refuses before= %s: 400 naming "before"', async (_what, query) => {
      expectError(await call(hub, 'GET', `/v1/notifications?${query}`, { as: newUser('alice') }), 400, 'before');
    });

    it('accepts limit 1 and 100, and a cursor it gave out', async () => {
      const alice = newUser('alice');
      await notifyMany(alice, 2);
      const one = await inbox(alice, '?limit=1');
      expect(one.items).toHaveLength(1);
      expect((await inbox(alice, `?limit=100&before=${encodeURIComponent(one.nextCursor!)}`)).items).toHaveLength(1);
    });

    it('every inbox endpoint answers 401 without a token, with a bad one, or with the token in the query or a cookie', async () => {
      const alice = newUser('alice');
      await notify([alice], 1);
      const [item] = (await inbox(alice)).items;
      const token = hub.userToken(alice);
      const variants: [string, CallOptions][] = [
        ['', { authorization: null }],
        ['', { authorization: 'Bearer not.a.jwt' }],
        ['', { authorization: `Bearer ${hub.userToken(alice, -10)}` }],
        [`?access_token=${token}`, { authorization: null }],
        ['', { authorization: null, headers: { cookie: `herald_token=${token}` } }],
      ];
      for (const [query, options] of variants) {
        expectError(await call(hub, 'GET', `/v1/notifications${query}`, options), 401);
        expectError(await call(hub, 'POST', `/v1/notifications/${item.id}/read${query}`, options), 401);
        expectError(await call(hub, 'POST', `/v1/notifications/read-all${query}`, options), 401);
      }
      expect(await inbox(alice)).toEqual({ items: [item], unreadCount: 1, nextCursor: null });
    });
  });

  describe('POST /v1/events persist', () => {
    it('stores a persisted event in each recipient inbox under the notificationId its frame names; persist:false does not', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const stream = await subscribe(alice);

      const kept = await hub.publish({ type: 'kept', recipients: [alice, bob, alice], data: { nested: { a: [1, 'two', null] } }, persist: true });
      expect(kept.status).toBe(202);
      expect(await kept.json()).toEqual({ accepted: 2 });
      const dflt = await hub.publish({ type: 'kept.by.default', recipients: [alice], data: { x: 1 } });
      expect(dflt.status).toBe(202);
      const fleeting = await hub.publish({ type: 'fleeting', recipients: [alice, bob], data: { y: 2 }, persist: false });
      expect(fleeting.status).toBe(202);

      await stream.waitFor('fleeting', 1);
      const [keptFrame] = await stream.waitFor('kept', 1);
      const [dfltFrame] = await stream.waitFor('kept.by.default', 1);
      const [fleetingFrame] = stream.envelopes('fleeting');
      expect(keptFrame).toEqual({
        id: keptFrame.frameId,
        frameId: expect.any(String),
        type: 'kept',
        data: { nested: { a: [1, 'two', null] } },
        createdAt: expect.stringMatching(ISO),
        notificationId: expect.any(String),
      });
      expect(dfltFrame.notificationId).toEqual(expect.any(String));
      expect(fleetingFrame).not.toHaveProperty('notificationId');

      const aliceInbox = await inbox(alice);
      expect(aliceInbox).toEqual({
        items: [
          { id: dfltFrame.notificationId, type: 'kept.by.default', data: { x: 1 }, createdAt: dfltFrame.createdAt, readAt: null },
          { id: keptFrame.notificationId, type: 'kept', data: { nested: { a: [1, 'two', null] } }, createdAt: keptFrame.createdAt, readAt: null },
        ],
        unreadCount: 2,
        nextCursor: null,
      });
      // The duplicate recipient got it once; bob has the shared one, not the fleeting one.
      expect((await inbox(bob)).items.map((i: Json) => i.id)).toEqual([keptFrame.notificationId]);

      // The notificationId is what marks it read.
      expect((await markRead(alice, keptFrame.notificationId)).status).toBe(204);
      expect((await inbox(alice)).unreadCount).toBe(1);

      await sleep(SETTLE_MS);
      expect(stream.envelopes('kept')).toHaveLength(1);
      expect(stream.envelopes('kept.by.default')).toHaveLength(1);
      expect(stream.envelopes('fleeting')).toHaveLength(1);
    });

    it('stores nothing for a rejected publish', async () => {
      const alice = newUser('alice');
      const stream = await subscribe(alice);
      const rejected: [unknown, number, string | undefined][] = [
        [{ type: 'x', recipients: [alice], persist: 'yes' }, 400, 'persist'],
        [{ type: 'x', recipients: [alice], persist: true, extra: 1 }, 400, 'extra'],
        [{ type: 'ready', recipients: [alice], persist: true }, 400, 'type'],
        [{ type: 'x', recipients: [alice, 'bad user'], persist: true }, 400, 'recipients[1]'],
        [{ type: 'x', recipients: [alice], data: [], persist: true }, 400, 'data'],
      ];
      for (const [body, status, field] of rejected) {
        const response = await hub.publish(body);
        expect({ status: response.status, field: ((await response.json()) as Json).field }).toEqual({ status, field });
      }
      const forbidden = await hub.publish({ type: 'x', recipients: [alice] }, hub.userToken('not-a-service'));
      expect(forbidden.status).toBe(403);
      await sleep(SETTLE_MS);
      expect(await inbox(alice)).toEqual({ items: [], unreadCount: 0, nextCursor: null });
      expect(stream.frames.filter((f) => f.event !== 'ready')).toEqual([]);
    });
  });
});
