import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from '#herald/auth/auth.module';
import { HubConfig } from './config/config.js';
import { CommentsModule } from './comments/comments.module.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { DevModule } from './dev/dev.module.js';
import { TransportModule } from './transport/transport.module.js';
import { HealthModule } from './health/health.module.js';
import { InboxModule } from './inbox/inbox.module.js';
import { IngressModule } from './ingress/ingress.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PublishModule } from './publish/publish.module.js';
import { StreamModule } from './stream/stream.module.js';
import { TicketsModule } from './tickets/tickets.module.js';

@Module({})
export class HubModule {
  static forRoot(config: HubConfig): DynamicModule {
    return {
      module: HubModule,
      imports: [
        ConfigModule.forRoot(config),
        AuthModule.forRoot({ secret: config.jwtSecret, maxLifetimeSeconds: config.tokenMaxLifetimeS }),
        LifecycleModule,
        DatabaseModule,
        TransportModule.forRoot(config),
        MetricsModule,
        TicketsModule,
        StreamModule,
        PublishModule,
        InboxModule,
        CommentsModule,
        HealthModule,
        ...(config.redis ? [IngressModule] : []),
        ...(config.devAuth ? [DevModule] : []),
      ],
    };
  }
}
