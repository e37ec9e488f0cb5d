import { Module } from '@nestjs/common';
import { InboxModule } from '../inbox/inbox.module.js';
import { IngressConsumer } from './ingress.consumer.js';

/** The Redis ingress; only mounted when REDIS_URL is set. */
@Module({ imports: [InboxModule], providers: [IngressConsumer] })
export class IngressModule {}
