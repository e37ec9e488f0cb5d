import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { InboxItem } from './inbox-item.entity.js';
import { InboxController } from './inbox.controller.js';
import { InboxService } from './inbox.service.js';
import { Notification } from './notification.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([Notification, InboxItem])],
  controllers: [InboxController],
  providers: [InboxService],
})
export class InboxModule {}
