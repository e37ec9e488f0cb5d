import { Module } from '@nestjs/common';
import { InboxModule } from '../inbox/inbox.module.js';
import { OutboxModule } from '../outbox/outbox.module.js';
import { CommentsController } from './comments.controller.js';
import { CommentsService } from './comments.service.js';

@Module({
  imports: [InboxModule, OutboxModule],
  controllers: [CommentsController],
  providers: [CommentsService],
})
export class CommentsModule {}
