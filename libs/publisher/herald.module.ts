import { DynamicModule, InjectionToken, Module, ModuleMetadata } from '@nestjs/common';
import { HeraldHttpPublisher, HttpPublisherOptions } from './http-publisher.js';
import { EventMap, HeraldIngressPublisher, IngressRedis, PublishInput, PublisherOptions } from './publisher.js';

/** Over HTTP (`url` and a service `token`), or into the Redis ingress (`redis`). */
export type HeraldModuleOptions = HttpPublisherOptions | ({ redis: IngressRedis } & PublisherOptions);

/**
 * What a Nest service injects to publish, whichever way the module was
 * configured: `constructor(private readonly herald: HeraldPublisher) {}`, then
 * `await this.herald.publish({ type, recipients, data })`. Typed with the
 * app's events: `HeraldPublisher<MyEvents>` (an EventMap).
 */
export abstract class HeraldPublisher<Events extends object = EventMap> {
  /** Resolves once the hub (or the ingress) has the event. @throws PublishRejected for an invalid one. */
  abstract publish(input: PublishInput<Events>): Promise<void>;
}

/** Either client behind the one injectable: each resolves once the event is taken. */
class Delegating extends HeraldPublisher {
  constructor(private readonly client: { publish(input: PublishInput): Promise<unknown> }) {
    super();
  }

  async publish(input: PublishInput): Promise<void> {
    await this.client.publish(input);
  }
}

function publisherFor(options: HeraldModuleOptions): HeraldPublisher {
  return new Delegating('redis' in options ? new HeraldIngressPublisher(options.redis, options) : new HeraldHttpPublisher(options));
}

export interface HeraldModuleAsyncOptions {
  imports?: ModuleMetadata['imports'];
  inject?: InjectionToken[];
  useFactory: (...args: never[]) => HeraldModuleOptions | Promise<HeraldModuleOptions>;
}

/** Makes `HeraldPublisher` injectable everywhere in a Nest app (a global module). */
@Module({})
export class HeraldModule {
  static forRoot(options: HeraldModuleOptions): DynamicModule {
    return {
      module: HeraldModule,
      global: true,
      providers: [{ provide: HeraldPublisher, useValue: publisherFor(options) }],
      exports: [HeraldPublisher],
    };
  }

  /** Options from other providers, e.g. `inject: [ConfigService]`. */
  static forRootAsync(options: HeraldModuleAsyncOptions): DynamicModule {
    return {
      module: HeraldModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        {
          provide: HeraldPublisher,
          inject: options.inject ?? [],
          useFactory: async (...args: never[]) => publisherFor(await options.useFactory(...args)),
        },
      ],
      exports: [HeraldPublisher],
    };
  }
}
