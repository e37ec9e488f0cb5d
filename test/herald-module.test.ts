// HeraldModule from libs/publisher in a Nest app of its own: a service that
// injects HeraldPublisher publishes with one call, over HTTP to a real hub or
// into its Redis ingress, configured by forRoot or forRootAsync.
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { PublishRejected } from '@herald/publisher';
import { HeraldModule, type HeraldModuleOptions, HeraldPublisher } from '@herald/publisher/nest';
import { startHub, TestHub } from './support/hub.js';
import { RedisServer, startRedis } from './support/processes.js';
import { openPastReady, RawStream } from './support/sse.js';
import { newUser } from './support/users.js';
import { waitFor } from './support/wait.js';

/** The app's events and their data: publishing anything else does not compile. */
interface AppEvents {
  'comment.created': { postId: string };
  'post.liked': { postId: string; by: string };
}

/** A service of the app that uses Herald: it only knows HeraldPublisher, typed with its events. */
@Injectable()
class CommentNotifier {
  constructor(private readonly herald: HeraldPublisher<AppEvents>) {}

  commented(postAuthor: string, postId: string): Promise<void> {
    return this.herald.publish({ type: 'comment.created', recipients: [postAuthor], data: { postId } });
  }
}

/** Checked by `npm run typecheck`, never run: what typed events refuse. */
export function typedEventsRefuse(herald: HeraldPublisher<AppEvents>): void {
  // @ts-expect-error an event type the app does not have
  void herald.publish({ type: 'comment.deleted', recipients: ['alice'], data: { postId: '1' } });
  // @ts-expect-error data of another event's shape
  void herald.publish({ type: 'post.liked', recipients: ['alice'], data: { postId: '1' } });
  void herald.publish({ type: 'post.liked', recipients: ['alice'], data: { postId: '1', by: 'bob' } });
}

/** Where forRootAsync gets its options from, as an app's config service would give them. */
const SETTINGS = 'SETTINGS';

async function appWith(herald: ReturnType<typeof HeraldModule.forRoot>) {
  @Module({ imports: [herald], providers: [CommentNotifier] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  return { app, notifier: app.get(CommentNotifier) };
}

describe('HeraldModule', () => {
  let redis: RedisServer;
  let hub: TestHub;
  const streams: RawStream[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    hub = await startHub({ REDIS_URL: redis.url, HEARTBEAT_MS: '3600000' });
    await waitFor('the hub to be ready on its Redis', async () => (await fetch(`${hub.url}/health/ready`)).status === 200);
  });
  afterEach(() => streams.splice(0).forEach((stream) => stream.close()));
  afterAll(async () => {
    await hub?.close();
    await redis?.stop();
  });

  const subscribe = (user: string) => openPastReady(hub, streams, user);

  it.each<[string, () => HeraldModuleOptions]>([
    ['over HTTP', () => ({ url: hub.url, token: hub.serviceToken() })],
    ['into the Redis ingress', () => ({ redis: new Redis(redis.url) })],
  ])('forRoot, %s: an injected HeraldPublisher publishes with one call', async (_how, options) => {
    const alice = newUser('alice');
    const stream = await subscribe(alice);
    const settings = options();
    const { app, notifier } = await appWith(HeraldModule.forRoot(settings));
    try {
      await notifier.commented(alice, '42');
      const frame = await stream.next(5000);
      expect(frame.event).toBe('comment.created');
      expect(JSON.parse(frame.data!)).toMatchObject({ type: 'comment.created', data: { postId: '42' } });
      await expect((app.get(HeraldPublisher) as HeraldPublisher).publish({ type: 'ready', recipients: [alice] })).rejects.toThrow(PublishRejected);
    } finally {
      await app.close();
      // The ingress option is a Redis client of the test's own: an ioredis one, to close.
      if ('redis' in settings) (settings.redis as Redis).disconnect();
    }
  });

  it('forRootAsync: options from another provider', async () => {
    const bob = newUser('bob');
    const stream = await subscribe(bob);
    @Module({ providers: [{ provide: SETTINGS, useValue: { hubUrl: hub.url, token: hub.serviceToken() } }], exports: [SETTINGS] })
    class SettingsModule {}
    const herald = HeraldModule.forRootAsync({
      imports: [SettingsModule],
      inject: [SETTINGS],
      useFactory: (settings: { hubUrl: string; token: string }) => ({ url: settings.hubUrl, token: settings.token }),
    });
    const { app, notifier } = await appWith(herald);
    try {
      await notifier.commented(bob, '7');
      expect((await stream.next(5000)).event).toBe('comment.created');
    } finally {
      await app.close();
    }
  });
});
