/**
 * Topics end to end on one hub (the embedded default): following topics on
 * the user's one stream, who may follow and publish to which, delivery to the
 * followers only, exact replay per source through one stream id, a topic's
 * own `reset`, changing an open stream's topics, the comments producer's
 * `comment.added` and `post.created`, and the metrics. Several instances: topics-scale-out.test.ts.
 */
import jwt from 'jsonwebtoken';
import { decodeStreamPosition, sourceHash } from '@herald/contracts/stream-position';
import { call, expectError, type Json, replyOf } from './support/http.js';
import { startHub, TEST_SECRET, type TestHub } from './support/hub.js';
import { Recorder } from './support/recorder.js';
import { openRaw } from './support/sse.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

const recorders: Recorder[] = [];
afterEach(() => Recorder.closeAll(recorders));

/** A token whose `topics` claim lists these patterns (a user's, or with a scope a service's). */
const tokenWith = (sub: string, topics: unknown, scope?: string) =>
  jwt.sign({ sub, topics, ...(scope ? { scope } : {}) }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });

const query = (topics: string[], extra = '') => `?${topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&')}${extra}`;

async function follow(hub: TestHub, user: string, topics: string[], options: { lastEventId?: string; patterns?: string[] } = {}) {
  const recorder = await Recorder.open(hub, user, {
    query: query(topics),
    token: tokenWith(user, options.patterns ?? ['post:*', 'team:*']),
    lastEventId: options.lastEventId,
    frameIds: true,
  });
  recorders.push(recorder);
  return recorder;
}

async function publishTo(hub: TestHub, body: Json, token?: string): Promise<Json> {
  const reply = await replyOf(await hub.publish(body, token));
  expect(reply.status).toBe(202);
  return reply.body;
}

const readyOf = (recorder: Recorder): Json => JSON.parse(recorder.frames[0].data!);
const lastId = (recorder: Recorder) => recorder.frames.at(-1)!.id!;
/** What a recorder got of this type: [topic, n] of each event. */
const got = (recorder: Recorder, type = 'test.n') => recorder.envelopes(type).map((e: Json) => [e.topic ?? null, e.data.n]);

describe('topics', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ PUBLIC_TOPICS: 'news:,status:', TOPICS_PER_STREAM_MAX: '3', REPLAY_MAX_EVENTS: '5' });
  });
  afterAll(() => hub.close());

  describe('following', () => {
    it("follows the topics the token's claim admits, and says so in ready", async () => {
      const alice = newUser('alice');
      const stream = await follow(hub, alice, ['post:1', 'team:7', 'post:1']);
      expect(readyOf(stream)).toEqual({ userId: alice, connectionId: expect.any(String), topics: ['post:1', 'team:7'] });
      const position = decodeStreamPosition(stream.frames[0].id!)!;
      expect([...position.topics.keys()].sort()).toEqual([sourceHash('#post:1'), sourceHash('#team:7')].sort());
    });

    it('follows public topics with a token that has no claim', async () => {
      const bob = newUser('bob');
      const stream = await Recorder.open(hub, bob, { query: query(['news:today', 'status:api']) });
      recorders.push(stream);
      expect(readyOf(stream).topics).toEqual(['news:today', 'status:api']);
    });

    it('refuses, before the stream opens, a topic neither the claim nor PUBLIC_TOPICS admits, naming it', async () => {
      const carol = newUser('carol');
      const refused = await call(hub, 'GET', `/v1/stream${query(['post:1', 'team:9'])}`, { authorization: `Bearer ${tokenWith(carol, ['post:*'])}` });
      expectError(refused, 403, 'topic');
      expect(refused.body).toMatchObject({ topic: 'team:9', message: expect.stringContaining('"team:9"') });
      const noClaim = await call(hub, 'GET', `/v1/stream${query(['post:1'])}`, { as: carol });
      expectError(noClaim, 403, 'topic');
      expect(noClaim.body.topic).toBe('post:1');
    });

    it.each([
      ['a malformed topic', query(['post 1'])],
      ['a pattern instead of a topic', query(['post:*'])],
      ['an empty topic', '?topic='],
      ['more topics than TOPICS_PER_STREAM_MAX', query(['post:1', 'post:2', 'post:3', 'post:4'])],
    ])('answers 400 naming topic for %s', async (_name, search) => {
      const reply = await call(hub, 'GET', `/v1/stream${search}`, { authorization: `Bearer ${tokenWith('dave', ['post:*'])}` });
      expectError(reply, 400, 'topic');
    });

    it('refuses a token whose topics claim is not a list of patterns', async () => {
      for (const claim of ['post:*', [7], ['post 1'], ['po*st']]) {
        const reply = await call(hub, 'GET', `/v1/stream${query(['post:1'])}`, { authorization: `Bearer ${tokenWith('erin', claim)}` });
        expectError(reply, 401);
        expect(reply.body.message).toContain('topics claim');
      }
    });
  });

  describe('publishing', () => {
    it('reaches every stream following the topic, through it, and no other', async () => {
      const [alice, bob, carol] = [newUser('alice'), newUser('bob'), newUser('carol')];
      const aliceTabs = [await follow(hub, alice, ['post:10']), await follow(hub, alice, ['post:10', 'team:1'])];
      const bobStream = await follow(hub, bob, ['post:11']);
      const carolStream = await Recorder.open(hub, carol, {});
      recorders.push(carolStream);
      expect(await publishTo(hub, { type: 'test.n', topics: ['post:10'], data: { n: 1 } })).toEqual({ accepted: 0, topics: 1 });
      expect(await publishTo(hub, { type: 'test.n', topics: ['post:11', 'team:1'], recipients: [carol], data: { n: 2 } })).toEqual({ accepted: 1, topics: 2 });
      for (const tab of aliceTabs) await tab.waitFor('test.n', 1);
      await aliceTabs[1].waitFor('test.n', 2);
      await bobStream.waitFor('test.n', 1);
      await carolStream.waitFor('test.n', 1);
      expect(got(aliceTabs[0])).toEqual([['post:10', 1]]);
      expect(got(aliceTabs[1])).toEqual([['post:10', 1], ['team:1', 2]]);
      expect(got(bobStream)).toEqual([['post:11', 2]]);
      expect(got(carolStream)).toEqual([[null, 2]]);
      const envelope = aliceTabs[0].envelopes('test.n')[0];
      expect(envelope).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), topic: 'post:10', type: 'test.n', data: { n: 1 }, createdAt: expect.any(String), frameId: expect.any(String) });
      expect(decodeStreamPosition(envelope.frameId)!.topics.get(sourceHash('#post:10'))).toBe(envelope.id);
    });

    it('gives a stream an event once per source it follows that the event went to', async () => {
      const alice = newUser('alice');
      const stream = await follow(hub, alice, ['post:12']);
      await publishTo(hub, { type: 'test.n', recipients: [alice], topics: ['post:12'], data: { n: 1 }, persist: false });
      await stream.waitFor('test.n', 2);
      expect(got(stream).sort()).toEqual([['post:12', 1], [null, 1]].sort());
    });

    it('stores a persisted event in the recipients\' inboxes only', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const stream = await follow(hub, bob, ['post:13']);
      await publishTo(hub, { type: 'test.n', recipients: [alice], topics: ['post:13'], data: { n: 1 } });
      await publishTo(hub, { type: 'test.n', topics: ['post:13'], data: { n: 2 } });
      await stream.waitFor('test.n', 2);
      expect((await call(hub, 'GET', '/v1/notifications', { as: alice })).body.items).toHaveLength(1);
      expect((await call(hub, 'GET', '/v1/notifications', { as: bob })).body.items).toHaveLength(0);
    });

    it('limits a service whose token has a topics claim to the topics it admits', async () => {
      const limited = tokenWith('team-service', ['team:*'], 'events:publish');
      expect(await publishTo(hub, { type: 'test.n', topics: ['team:7'] }, limited)).toEqual({ accepted: 0, topics: 1 });
      const single = await replyOf(await hub.publish({ type: 'test.n', topics: ['team:7', 'post:1'] }, limited));
      expectError(single, 403, 'topics');
      expect(single.body.topic).toBe('post:1');
      const batch = await call(hub, 'POST', '/v1/events/batch', {
        authorization: `Bearer ${limited}`,
        body: { events: [{ type: 'test.n', topics: ['team:1'] }, { type: 'test.n', recipients: ['x'], topics: ['news:1'] }] },
      });
      expectError(batch, 403, 'events[1].topics');
    });

    it.each([
      [{ type: 'test.n' }, 'recipients'],
      [{ type: 'test.n', topics: [] }, 'topics'],
      [{ type: 'test.n', topics: ['post 1'] }, 'topics[0]'],
      [{ type: 'topics', topics: ['post:1'] }, 'type'],
    ])('refuses %j naming %s', async (body, field) => {
      expectError(await replyOf(await hub.publish(body)), 400, field);
    });
  });

  describe('replay', () => {
    it('replays what each source missed, once, from the one id, and starts a topic new to the id at its head', async () => {
      const alice = newUser('alice');
      const first = await follow(hub, alice, ['post:20', 'team:20']);
      await publishTo(hub, { type: 'test.n', recipients: [alice], topics: ['post:20', 'team:20'], data: { n: 1 }, persist: false });
      await first.waitFor('test.n', 3);
      const resumeFrom = lastId(first);
      await first.close();
      await publishTo(hub, { type: 'test.n', topics: ['post:20'], data: { n: 2 } });
      await publishTo(hub, { type: 'test.n', recipients: [alice], data: { n: 3 }, persist: false });
      await publishTo(hub, { type: 'test.n', topics: ['team:20'], data: { n: 4 } });
      await publishTo(hub, { type: 'test.n', topics: ['post:21'], data: { n: 5 } });
      const again = await follow(hub, alice, ['post:20', 'team:20', 'post:21'], { lastEventId: resumeFrom });
      await again.waitFor('test.n', 3);
      expect(got(again).sort()).toEqual([['post:20', 2], [null, 3], ['team:20', 4]].sort());
      await publishTo(hub, { type: 'test.n', topics: ['post:21'], data: { n: 6 } });
      await again.waitFor('test.n', 4);
      expect(got(again).at(-1)).toEqual(['post:21', 6]);
      expect(again.frames.filter((f) => f.event === 'reset')).toEqual([]);
    });

    it("sends a topic's own reset when its window was exceeded, and still replays the others", async () => {
      const alice = newUser('alice');
      const first = await follow(hub, alice, ['post:30', 'team:30']);
      const resumeFrom = lastId(first);
      await first.close();
      for (let n = 1; n <= 7; n++) await publishTo(hub, { type: 'test.n', topics: ['post:30'], data: { n } });
      await publishTo(hub, { type: 'test.n', topics: ['team:30'], data: { n: 8 } });
      await publishTo(hub, { type: 'test.n', recipients: [alice], data: { n: 9 }, persist: false });
      const again = await follow(hub, alice, ['post:30', 'team:30'], { lastEventId: resumeFrom });
      await again.waitFor('test.n', 2);
      const resets = again.frames.filter((f) => f.event === 'reset').map((f) => JSON.parse(f.data!));
      expect(resets).toEqual([{ reason: 'replay-window-exceeded', topic: 'post:30' }]);
      expect(got(again).sort()).toEqual([['team:30', 8], [null, 9]].sort());
    });

    it('answers 400 for an id that is neither an event id nor a stream position', async () => {
      for (const bad of ['abc', 'zz.0.abcdef', '1.2.abcdef0']) {
        const reply = await call(hub, 'GET', `/v1/stream${query(['post:1'])}`, {
          authorization: `Bearer ${tokenWith('frank', ['post:*'])}`,
          headers: { 'last-event-id': bad },
        });
        expectError(reply, 400, 'Last-Event-ID');
      }
    });
  });

  describe('changing the topics of an open stream', () => {
    const change = (user: string, connectionId: string, body: unknown, token = tokenWith(user, ['post:*', 'team:*'])) =>
      call(hub, 'PUT', `/v1/streams/${encodeURIComponent(connectionId)}/topics`, { authorization: `Bearer ${token}`, body });

    it('follows exactly the new topics, says so on the stream, and a reconnect with the new id replays them', async () => {
      const alice = newUser('alice');
      const stream = await follow(hub, alice, ['post:40']);
      const { connectionId } = readyOf(stream);
      const reply = await change(alice, connectionId, { topics: ['team:40', 'post:41'] });
      expect(reply).toMatchObject({ status: 200, body: { connectionId, topics: ['team:40', 'post:41'] } });
      const topicsFrame = await stream.waitForFrame((f) => f.event === 'topics');
      expect(JSON.parse(topicsFrame.data!)).toEqual({ topics: ['team:40', 'post:41'] });
      expect(decodeStreamPosition(topicsFrame.id!)!.topics.size).toBe(2);
      await publishTo(hub, { type: 'test.n', topics: ['post:40'], data: { n: 1 } });
      await publishTo(hub, { type: 'test.n', topics: ['team:40'], data: { n: 2 } });
      await stream.waitFor('test.n', 1);
      const resumeFrom = lastId(stream);
      await stream.close();
      await publishTo(hub, { type: 'test.n', topics: ['post:41'], data: { n: 3 } });
      const again = await follow(hub, alice, ['team:40', 'post:41'], { lastEventId: resumeFrom });
      await again.waitFor('test.n', 1);
      expect(got(stream)).toEqual([['team:40', 2]]);
      expect(got(again)).toEqual([['post:41', 3]]);
    });

    it('follows no topic after an empty list, and the id is the user\'s again', async () => {
      const alice = newUser('alice');
      const stream = await follow(hub, alice, ['post:42']);
      expect((await change(alice, readyOf(stream).connectionId, { topics: [] })).status).toBe(200);
      const frame = await stream.waitForFrame((f) => f.event === 'topics');
      // A new user has had no event: its position is the start, `0`.
      expect([JSON.parse(frame.data!), frame.id]).toEqual([{ topics: [] }, '0']);
      await publishTo(hub, { type: 'test.n', topics: ['post:42'], data: { n: 1 } });
      await publishTo(hub, { type: 'test.n', recipients: [alice], data: { n: 2 }, persist: false });
      await stream.waitFor('test.n', 1);
      expect(got(stream)).toEqual([[null, 2]]);
    });

    it('answers each bad change with a JSON error, and the stream keeps its topics', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const stream = await follow(hub, alice, ['post:43']);
      const { connectionId } = readyOf(stream);
      const refused = await change(alice, connectionId, { topics: ['post:44', 'admin:1'] });
      expectError(refused, 403, 'topics');
      expect(refused.body.topic).toBe('admin:1');
      expectError(await change(alice, connectionId, { topics: ['post 1'] }), 400, 'topics');
      expectError(await change(alice, connectionId, { topics: ['post:1', 'post:2', 'post:3', 'post:4'] }), 400, 'topics');
      expectError(await change(alice, connectionId, { topics: 'post:1' }), 400, 'topics');
      expectError(await change(alice, connectionId, {}), 400, 'topics');
      expectError(await change(alice, connectionId, { topics: [], extra: 1 }), 400, 'extra');
      expectError(await change(alice, connectionId, [1]), 400, 'body');
      expectError(await change(alice, 'no-such-stream', { topics: [] }), 404);
      expectError(await change(bob, connectionId, { topics: [] }), 404);
      expectError(await change(alice, connectionId, { topics: [] }, hub.serviceToken()), 403);
      expectError(await call(hub, 'PUT', `/v1/streams/${connectionId}/topics`, { body: { topics: [] } }), 401);
      await publishTo(hub, { type: 'test.n', topics: ['post:43'], data: { n: 1 } });
      await stream.waitFor('test.n', 1);
      expect(stream.frames.filter((f) => f.event === 'topics')).toEqual([]);
    });
  });

  it("shows a comment to every viewer of the post, the author's notification as before", async () => {
    const [alice, bob, carol] = [newUser('alice'), newUser('bob'), newUser('carol')];
    const post = (await call(hub, 'POST', '/v1/posts', { as: alice, body: { title: 'T', body: 'B' } })).body;
    const viewers = [await follow(hub, bob, [`post:${post.id}`]), await follow(hub, carol, [`post:${post.id}`])];
    const author = await Recorder.open(hub, alice, {});
    recorders.push(author);
    const comment = (await call(hub, 'POST', `/v1/posts/${post.id}/comments`, { as: carol, body: { body: 'hello' } })).body;
    for (const viewer of viewers) {
      const [added] = await viewer.waitFor('comment.added', 1);
      expect(added).toMatchObject({ topic: `post:${post.id}`, data: { id: comment.id, postId: post.id, authorId: carol, body: 'hello', createdAt: comment.createdAt } });
      expect(added.notificationId).toBeUndefined();
    }
    await author.waitFor('comment.created', 1);
    expect(author.envelopes('comment.added')).toEqual([]);
  });

  it('shows a new post to every viewer of the list of posts (the topic `posts`), its body left out', async () => {
    const [alice, bob] = [newUser('alice'), newUser('bob')];
    const viewers = [await follow(hub, alice, ['posts'], { patterns: ['posts'] }), await follow(hub, bob, ['posts'], { patterns: ['posts'] })];
    const elsewhere = await follow(hub, newUser('carol'), ['post:1']);
    const post = (await call(hub, 'POST', '/v1/posts', { as: alice, body: { title: 'Lunch on Friday', body: 'Who is coming?' } })).body;
    for (const viewer of viewers) {
      const [created] = await viewer.waitFor('post.created', 1);
      expect(created).toEqual({
        id: expect.any(String),
        topic: 'posts',
        type: 'post.created',
        data: { id: post.id, authorId: alice, title: 'Lunch on Friday', createdAt: post.createdAt },
        createdAt: expect.any(String),
        frameId: expect.any(String),
      });
    }
    expect(elsewhere.envelopes('post.created')).toEqual([]);
  });

  it('counts topics followed, the busiest topics and topic events in the metrics', async () => {
    const users = [newUser('m1'), newUser('m2')];
    for (const user of users) await follow(hub, user, ['post:metrics']);
    await publishTo(hub, { type: 'test.n', topics: ['post:metrics'] });
    const text = (await call(hub, 'GET', '/metrics')).body as string;
    expect(text).toMatch(/^herald_topics_followed [1-9]\d*$/m);
    expect(text).toMatch(/^herald_topic_streams\{topic="post:metrics"\} 2$/m);
    expect(text).toMatch(/^herald_topic_events_published_total [1-9]\d*$/m);
  });
});

describe('a stream with no topics', () => {
  it('keeps the plain event id and an empty topic list', async () => {
    const hub = await startHub();
    try {
      const alice = newUser('alice');
      const raw = await openRaw(`${hub.url}/v1/stream`, { headers: { authorization: `Bearer ${hub.userToken(alice)}` } });
      const ready = await raw.next(3000);
      raw.close();
      expect(ready.id).toBe('0');
      expect(JSON.parse(ready.data!)).toEqual({ userId: alice, connectionId: expect.any(String), topics: [] });
      await waitFor('the stream to close', () => hub.registry.size === 0);
    } finally {
      await hub.close();
    }
  });
});
