import { Module } from '@nestjs/common';
import { IntakeModule } from '../intake/intake.module.js';
import { TopicsModule } from '../topics/topics.module.js';
import { EventsController } from './events.controller.js';

@Module({ imports: [IntakeModule, TopicsModule], controllers: [EventsController] })
export class PublishModule {}
