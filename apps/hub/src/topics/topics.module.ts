import { Module } from '@nestjs/common';
import { TopicAccess } from './topic-access.js';

@Module({ providers: [TopicAccess], exports: [TopicAccess] })
export class TopicsModule {}
