import { Module } from '@nestjs/common';
import { InboxModule } from '../inbox/inbox.module.js';
import { OutboxModule } from '../outbox/outbox.module.js';
import { Intake } from './intake.service.js';
import { PersistedEventStore } from './persisted-event.store.js';

@Module({
  imports: [InboxModule, OutboxModule],
  providers: [Intake, PersistedEventStore],
  exports: [Intake],
})
export class IntakeModule {}
