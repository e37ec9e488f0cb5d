import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IntakeModule } from '../intake/intake.module.js';
import { Comment } from './comment.entity.js';
import { CommentsController } from './comments.controller.js';
import { CommentsService } from './comments.service.js';
import { Post } from './post.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([Post, Comment]), IntakeModule],
  controllers: [CommentsController],
  providers: [CommentsService],
})
export class CommentsModule {}
