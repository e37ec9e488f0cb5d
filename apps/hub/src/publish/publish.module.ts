import { Module } from '@nestjs/common';
import { IntakeModule } from '../intake/intake.module.js';
import { EventsController } from './events.controller.js';

@Module({ imports: [IntakeModule], controllers: [EventsController] })
export class PublishModule {}
