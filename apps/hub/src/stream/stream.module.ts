import { Module } from '@nestjs/common';
import { TopicsModule } from '../topics/topics.module.js';
import { StreamController } from './stream.controller.js';
import { StreamDrain } from './stream.drain.js';
import { StreamRegistry } from './stream.registry.js';
import { StreamService } from './stream.service.js';
import { StreamTimers } from './stream.timers.js';

@Module({
  imports: [TopicsModule],
  controllers: [StreamController],
  providers: [StreamRegistry, StreamService, StreamTimers, StreamDrain],
  exports: [StreamRegistry, StreamDrain],
})
export class StreamModule {}
