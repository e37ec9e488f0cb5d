import { Module } from '@nestjs/common';
import { OutboxModule } from '../outbox/outbox.module.js';
import { InboxController } from './inbox.controller.js';
import { InboxService } from './inbox.service.js';
import { InboxStore } from './inbox.store.js';

@Module({
  imports: [OutboxModule],
  controllers: [InboxController],
  providers: [InboxService, InboxStore],
  exports: [InboxStore],
})
export class InboxModule {}
