import { Global, Module } from '@nestjs/common';
import { Draining } from './draining.js';
import { Instance } from './instance.js';

@Global()
@Module({ providers: [Draining, Instance], exports: [Draining, Instance] })
export class LifecycleModule {}
