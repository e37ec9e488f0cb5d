import { Module } from '@nestjs/common';
import { InboxModule } from '../inbox/inbox.module.js';
import { EventsController } from './events.controller.js';

@Module({ imports: [InboxModule], controllers: [EventsController] })
export class PublishModule {}
