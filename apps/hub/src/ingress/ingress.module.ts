import { Module } from '@nestjs/common';
import { IntakeModule } from '../intake/intake.module.js';
import { IngressConsumer } from './ingress.consumer.js';

/** The ingress; only mounted when there is one (REDIS_URL is set). */
@Module({ imports: [IntakeModule], providers: [IngressConsumer] })
export class IngressModule {}
