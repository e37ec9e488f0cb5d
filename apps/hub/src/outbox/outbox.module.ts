import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OutboxEntry } from './outbox-entry.entity.js';
import { OutboxRelay } from './outbox.relay.js';

@Module({ imports: [TypeOrmModule.forFeature([OutboxEntry])], providers: [OutboxRelay], exports: [OutboxRelay] })
export class OutboxModule {}
