import { Module } from '@nestjs/common';
import { IngressConsumer } from './ingress.consumer.js';

/** The Redis ingress; only mounted when REDIS_URL is set. */
@Module({ providers: [IngressConsumer] })
export class IngressModule {}
