/**
 * The comments producer end to end (API.md "Comments", issue 4), on the
 * embedded SQLite and on PostgreSQL: posts and comments over HTTP with the
 * users' streams open. A comment notifies the post's author and every earlier
 * distinct commenter, never the commenter, on their streams and in their
 * inboxes; every body is validated (400 naming the field, nothing stored),
 * a missing post is a 404, and every endpoint needs a bearer token.
 */
import jwt from 'jsonwebtoken';
import { setTimeout as sleep } from 'node:timers/promises';
import { BACKENDS, startHubOn } from './support/backends.js';
import { call, CallOptions, expectError, ISO, Json } from './support/http.js';
import type { TestHub } from './support/hub.js';
import { Recorder } from './support/recorder.js';
import { newUser } from './support/users.js';

// ---------------------------------------------------------------- helpers

const DIGITS = /^[1-9]\d*$/;
/** A UTF-16 string with a half of a surrogate pair on its own. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Longer than a hand-over from the outbox takes (a kick after commit, else the relay's 1 s poll). */
const SETTLE_MS = 1300;

// ---------------------------------------------------------------- tests

describe.each(BACKENDS)('comments on $name', (backend) => {
  let hub: TestHub;
  const recorders: Recorder[] = [];

  const subscribe = async (user: string) => {
    const recorder = await Recorder.open(hub, user);
    recorders.push(recorder);
    return recorder;
  };
  const createPost = async (author: string, title = 'Hello', body = 'The first post.') => {
    const reply = await call(hub, 'POST', '/v1/posts', { as: author, body: { title, body } });
    expect(reply.status).toBe(201);
    return reply.body as { id: string; authorId: string; title: string; body: string; createdAt: string };
  };
  const comment = async (postId: string, author: string, body: string) => {
    const reply = await call(hub, 'POST', `/v1/posts/${postId}/comments`, { as: author, body: { body } });
    expect(reply.status).toBe(201);
    return reply.body as { id: string; postId: string; authorId: string; body: string; createdAt: string };
  };
  const inbox = async (user: string, query = '') => {
    const reply = await call(hub, 'GET', `/v1/notifications${query}`, { as: user });
    expect(reply.status).toBe(200);
    return reply.body as { items: Json[]; unreadCount: number; nextCursor: string | null };
  };
  const countPosts = async (user: string) => (await call(hub, 'GET', '/v1/posts?limit=100', { as: user })).body.length;

  beforeAll(async () => {
    hub = await startHubOn(backend, { HEARTBEAT_MS: '3600000' });
  });
  afterEach(() => Recorder.closeAll(recorders));
  afterAll(() => hub?.close());

  it('notifies the post author and every earlier distinct commenter, never the commenter, on streams and in inboxes', async () => {
    const [alice, bob, carol] = [newUser('alice'), newUser('bob'), newUser('carol')];
    const post = await createPost(alice, 'Release notes', 'What changed in 2.0');
    const streams = { alice: await subscribe(alice), bob: await subscribe(bob), carol: await subscribe(carol) };

    // bob comments: alice (the author) is told, bob is not.
    const c1 = await comment(post.id, bob, 'Nice post 👍');
    expect(c1).toEqual({ id: expect.stringMatching(DIGITS), postId: post.id, authorId: bob, body: 'Nice post 👍', createdAt: expect.stringMatching(ISO) });
    const [frame] = await streams.alice.waitFor('comment.created', 1);
    const wire = streams.alice.frames.find((f) => f.event === 'comment.created')!;
    expect(frame).toEqual({
      id: wire.id,
      type: 'comment.created',
      data: { postId: post.id, commentId: c1.id, authorId: bob, excerpt: 'Nice post 👍' },
      createdAt: expect.stringMatching(ISO),
      notificationId: expect.stringMatching(DIGITS),
    });
    const aliceInbox = await inbox(alice);
    expect(aliceInbox).toEqual({
      items: [{ id: frame.notificationId, type: 'comment.created', data: frame.data, createdAt: frame.createdAt, readAt: null }],
      unreadCount: 1,
      nextCursor: null,
    });
    expect(await inbox(bob)).toEqual({ items: [], unreadCount: 0, nextCursor: null });

    // carol comments next: alice and bob are told, carol is not.
    const c2 = await comment(post.id, carol, 'Agreed.');
    const [fromCarolToBob] = await streams.bob.waitFor('comment.created', 1);
    expect(fromCarolToBob.data).toEqual({ postId: post.id, commentId: c2.id, authorId: carol, excerpt: 'Agreed.' });
    expect((await streams.alice.waitFor('comment.created', 2))[1].data).toEqual(fromCarolToBob.data);

    // alice comments on her own post: bob and carol are told, alice is not.
    const c3 = await comment(post.id, alice, 'Thanks, both!');
    expect((await streams.bob.waitFor('comment.created', 2))[1].data.commentId).toBe(c3.id);
    expect((await streams.carol.waitFor('comment.created', 1))[0].data.commentId).toBe(c3.id);

    // bob again: alice and carol, each once although bob commented before.
    const c4 = await comment(post.id, bob, 'One more thing.');
    expect((await streams.alice.waitFor('comment.created', 3))[2].data.commentId).toBe(c4.id);
    expect((await streams.carol.waitFor('comment.created', 2))[1].data.commentId).toBe(c4.id);

    await sleep(SETTLE_MS);
    const received = (r: Recorder) => r.envelopes('comment.created').map((e) => e.data.commentId);
    expect({ alice: received(streams.alice), bob: received(streams.bob), carol: received(streams.carol) }).toEqual({
      alice: [c1.id, c2.id, c4.id],
      bob: [c2.id, c3.id],
      carol: [c3.id, c4.id],
    });
    // The inboxes hold the same, newest first, all unread, each under the id its stream frame named.
    for (const [user, recorder] of [[alice, streams.alice], [bob, streams.bob], [carol, streams.carol]] as const) {
      const page = await inbox(user);
      const frames = recorder.envelopes('comment.created');
      expect(page.unreadCount).toBe(frames.length);
      expect(page.items.map((i) => [i.id, i.data.commentId, i.readAt])).toEqual(
        frames.reverse().map((f) => [f.notificationId, f.data.commentId, null]),
      );
    }

    // The post with its comments, oldest first.
    const got = await call(hub, 'GET', `/v1/posts/${post.id}`, { as: carol });
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ ...post, comments: [c1, c2, c3, c4] });
  });

  it('cuts the excerpt at 140 code points, never inside a surrogate pair', async () => {
    const [alice, bob] = [newUser('alice'), newUser('bob')];
    const post = await createPost(alice);
    const stream = await subscribe(alice);
    const bodies = [
      `${'a'.repeat(139)}😀😀😀`, // the 140th character is a pair
      '😀'.repeat(200), // 400 UTF-16 units
      `${'b'.repeat(138)}👍🏽`, // exactly 140 code points (a pair and a pair)
      'Short and sweet 🎉',
    ];
    const expected = [`${'a'.repeat(139)}😀`, '😀'.repeat(140), `${'b'.repeat(138)}👍🏽`, 'Short and sweet 🎉'];
    for (const body of bodies) await comment(post.id, bob, body);
    const excerpts = (await stream.waitFor('comment.created', bodies.length)).map((e) => e.data.excerpt as string);
    expect(excerpts).toEqual(expected);
    for (const excerpt of excerpts) {
      expect(LONE_SURROGATE.test(excerpt)).toBe(false);
      expect(Array.from(excerpt).length).toBeLessThanOrEqual(140);
    }
    // The inbox has the same excerpts; the comments themselves are stored whole.
    expect((await inbox(alice)).items.map((i) => i.data.excerpt).reverse()).toEqual(expected);
    expect((await call(hub, 'GET', `/v1/posts/${post.id}`, { as: bob })).body.comments.map((c: Json) => c.body)).toEqual(bodies);
  });

  it('notifies every earlier commenter also when comments arrive at the same time', async () => {
    const alice = newUser('alice');
    const commenters = Array.from({ length: 8 }, () => newUser('fan'));
    const post = await createPost(alice);
    const made = await Promise.all(commenters.map((user, i) => comment(post.id, user, `comment ${i}`)));
    expect(made.map((c) => c.authorId)).toEqual(commenters);
    await sleep(SETTLE_MS);

    // "Earlier" is the post's own order (GET /v1/posts/:id, oldest first).
    const ordered: Json[] = (await call(hub, 'GET', `/v1/posts/${post.id}`, { as: alice })).body.comments;
    expect(ordered.map((c) => c.id).sort()).toEqual(made.map((c) => c.id).sort());
    const expected: Record<string, string[]> = { [alice]: ordered.map((c) => c.id) };
    ordered.forEach((c, i) => {
      expected[c.authorId] = ordered.slice(i + 1).map((later) => later.id);
    });
    const actual: Record<string, string[]> = {};
    for (const user of [alice, ...commenters]) {
      actual[user] = (await inbox(user, '?limit=100')).items.map((item) => item.data.commentId).reverse();
    }
    expect(actual).toEqual(expected);
  });

  describe('posts', () => {
    it('creates a post (201) and gets it with its comments; 404 for one that does not exist', async () => {
      const alice = newUser('alice');
      const before = Date.now();
      const post = await createPost(alice, '  Spaces are kept  ', 'Body\nwith lines');
      expect(post).toEqual({
        id: expect.stringMatching(DIGITS),
        authorId: alice,
        title: '  Spaces are kept  ',
        body: 'Body\nwith lines',
        createdAt: expect.stringMatching(ISO),
      });
      expect(Date.parse(post.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(post.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);

      const got = await call(hub, 'GET', `/v1/posts/${post.id}`, { as: newUser('reader') });
      expect(got.status).toBe(200);
      expect(got.body).toEqual({ ...post, comments: [] });

      for (const missing of ['999999999', '0', 'abc', '1.5', '-1', '99999999999999999999999']) {
        expectError(await call(hub, 'GET', `/v1/posts/${missing}`, { as: alice }), 404);
      }
    });

    it('lists posts newest first (GET /v1/posts?limit=)', async () => {
      const alice = newUser('alice');
      const made = [await createPost(alice, 'one'), await createPost(alice, 'two'), await createPost(alice, 'three')];
      const reply = await call(hub, 'GET', '/v1/posts?limit=2', { as: alice });
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual([made[2], made[1]]);
      for (const limit of ['0', '101', 'abc', '-1', '1.5']) {
        expectError(await call(hub, 'GET', `/v1/posts?limit=${limit}`, { as: alice }), 400, 'limit');
      }
    });

    it('accepts a title of 200 and a body of 10000 characters', async () => {
      const post = await createPost(newUser('alice'), 't'.repeat(200), 'b'.repeat(10_000));
      expect([post.title.length, post.body.length]).toEqual([200, 10_000]);
    });

    it('counts lengths in characters (code points), as the excerpt does', async () => {
      const alice = newUser('alice');
      const post = await call(hub, 'POST', '/v1/posts', { as: alice, body: { title: '😀'.repeat(200), body: '🎉'.repeat(10_000) } });
      expect(post.status).toBe(201);
      expect(Array.from(post.body.title as string)).toHaveLength(200);
      const c = await call(hub, 'POST', `/v1/posts/${post.body.id}/comments`, { as: newUser('bob'), body: { body: '👍'.repeat(5000) } });
      expect(c.status).toBe(201);
      expectError(await call(hub, 'POST', '/v1/posts', { as: alice, body: { title: '😀'.repeat(201), body: 'x' } }), 400, 'title');
    });

    it.each([
      ['no title', 'title', { body: 'x' }],
      ['no body', 'body', { title: 'x' }],
      ['an empty title', 'title', { title: '', body: 'x' }],
      ['a blank title', 'title', { title: ' \t\n ', body: 'x' }],
      ['a title of 201 characters', 'title', { title: 't'.repeat(201), body: 'x' }],
      ['a number as title', 'title', { title: 42, body: 'x' }],
      ['null as title', 'title', { title: null, body: 'x' }],
      ['an array as title', 'title', { title: ['x'], body: 'x' }],
      ['an empty body', 'body', { title: 'x', body: '' }],
      ['a blank body', 'body', { title: 'x', body: '   ' }],
      ['a body of 10001 characters', 'body', { title: 'x', body: 'b'.repeat(10_001) }],
      ['an object as body', 'body', { title: 'x', body: { text: 'x' } }],
      ['a boolean as body', 'body', { title: 'x', body: true }],
      ['an unknown field', 'tags', { title: 'x', body: 'x', tags: ['a'] }],
      ['an authorId (not the caller\'s to choose)', 'authorId', { title: 'x', body: 'x', authorId: 'mallory' }],
      ['an id', 'id', { title: 'x', body: 'x', id: '1' }],
      ['an array', 'body', [{ title: 'x', body: 'x' }]],
      ['a JSON string', 'body', '"hello"'],
      ['JSON null', 'body', 'null'],
      ['broken JSON', 'body', '{"title": "x", "body": '],
    ])('POST /v1/posts refuses %s: 400 naming "%s", nothing stored', async (_what, field, body) => {
      const alice = newUser('alice');
      const before = await countPosts(alice);
      expectError(await call(hub, 'POST', '/v1/posts', { as: alice, body }), 400, field);
      expect(await countPosts(alice)).toBe(before);
    });

    it('refuses a post sent as something other than JSON: 400 naming "body"', async () => {
      const alice = newUser('alice');
      const before = await countPosts(alice);
      const reply = await call(hub, 'POST', '/v1/posts', {
        as: alice,
        body: 'title=x&body=y',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expectError(reply, 400, 'body');
      expect(await countPosts(alice)).toBe(before);
    });
  });

  describe('comments', () => {
    it('accepts a comment of 5000 characters and keeps it whole', async () => {
      const post = await createPost(newUser('alice'));
      const made = await comment(post.id, newUser('bob'), 'c'.repeat(5000));
      expect(made.body).toHaveLength(5000);
    });

    it.each([
      ['no body', 'body', {}],
      ['an empty body', 'body', { body: '' }],
      ['a blank body', 'body', { body: ' \n\t ' }],
      ['a body of 5001 characters', 'body', { body: 'c'.repeat(5001) }],
      ['a number as body', 'body', { body: 5 }],
      ['null as body', 'body', { body: null }],
      ['an unknown field', 'mood', { body: 'x', mood: 'happy' }],
      ['a postId (it is in the path)', 'postId', { body: 'x', postId: '1' }],
      ['an authorId', 'authorId', { body: 'x', authorId: 'mallory' }],
      ['an array', 'body', [{ body: 'x' }]],
      ['a JSON string', 'body', '"x"'],
      ['broken JSON', 'body', '{"body":'],
    ])('POST /v1/posts/:id/comments refuses %s: 400 naming "%s"; no comment, no notification', async (_what, field, body) => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const post = await createPost(alice);
      const stream = await subscribe(alice);
      expectError(await call(hub, 'POST', `/v1/posts/${post.id}/comments`, { as: bob, body }), 400, field);
      await sleep(200);
      expect((await call(hub, 'GET', `/v1/posts/${post.id}`, { as: alice })).body.comments).toEqual([]);
      expect(await inbox(alice)).toEqual({ items: [], unreadCount: 0, nextCursor: null });
      expect(stream.envelopes('comment.created')).toEqual([]);
    });

    it('answers 404 for a comment on a post that does not exist, and notifies no one', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const post = await createPost(alice);
      await comment(post.id, alice, 'first');
      const stream = await subscribe(alice);
      for (const missing of [String(Number(post.id) + 1_000_000), '0', 'abc', '99999999999999999999999']) {
        expectError(await call(hub, 'POST', `/v1/posts/${missing}/comments`, { as: bob, body: { body: 'hello?' } }), 404);
      }
      await sleep(SETTLE_MS);
      expect(stream.envelopes('comment.created')).toEqual([]);
      expect((await inbox(alice)).items).toEqual([]);
      expect((await call(hub, 'GET', `/v1/posts/${post.id}`, { as: alice })).body.comments).toHaveLength(1);
    });
  });

  describe('authentication', () => {
    const otherSecret = 'another-secret-that-is-long-enough-for-production-use';
    const cases: [string, (hub: TestHub) => CallOptions][] = [
      ['no token', () => ({ authorization: null })],
      ['a token signed with another secret', () => ({ authorization: `Bearer ${jwt.sign({ sub: 'eve' }, otherSecret, { expiresIn: 3600 })}` })],
      ['an expired token', (h) => ({ authorization: `Bearer ${h.userToken('eve', -10)}` })],
      ['a malformed header', () => ({ authorization: 'Basic ZXZlOmV2ZQ==' })],
      ['the token in ?access_token= (streams only)', () => ({ authorization: null })],
      ['the token in the herald_token cookie (streams only)', (h) => ({ authorization: null, headers: { cookie: `herald_token=${h.userToken('eve')}` } })],
    ];

    it.each(cases)('every endpoint answers 401 to %s, and stores nothing', async (what, options) => {
      const alice = newUser('alice');
      const post = await createPost(alice);
      const before = await countPosts(alice);
      const query = what.includes('access_token') ? `?access_token=${hub.userToken('eve')}` : '';
      const requests: [string, string, unknown][] = [
        ['POST', '/v1/posts', { title: 'x', body: 'y' }],
        ['GET', '/v1/posts', undefined],
        ['GET', `/v1/posts/${post.id}`, undefined],
        ['POST', `/v1/posts/${post.id}/comments`, { body: 'z' }],
      ];
      for (const [method, path, body] of requests) {
        const reply = await call(hub, method, `${path}${query}`, { ...options(hub), body });
        expectError(reply, 401);
      }
      expect(await countPosts(alice)).toBe(before);
      expect((await call(hub, 'GET', `/v1/posts/${post.id}`, { as: alice })).body.comments).toEqual([]);
      expect((await inbox(alice)).items).toEqual([]);
    });
  });
});
