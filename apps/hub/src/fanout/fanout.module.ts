import { Global, Module } from '@nestjs/common';
import { Fanout } from './fanout.js';
import { InProcessFanout } from './in-process.fanout.js';

@Global()
@Module({
  providers: [{ provide: Fanout, useClass: InProcessFanout }],
  exports: [Fanout],
})
export class FanoutModule {}
