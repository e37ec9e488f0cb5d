import { Body, Controller, Get, Param, Post, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { BearerAuthGuard, CurrentPrincipal } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { parseBody } from '../errors/body.js';
import { parsePageLimit } from '../errors/query.js';
import { CommentsService, CommentView, PostView } from './comments.service.js';

/** Lengths count characters (code points), as the database and the excerpt do, not UTF-16 units. */
const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .refine((v) => v.trim().length > 0, 'must not be empty')
    .refine((v) => v.length <= max || Array.from(v).length <= max, `must be at most ${max} characters`);
const NewPost = z.strictObject({ title: text(200), body: text(10_000) }, { error: 'must be a JSON object' });
const NewComment = z.strictObject({ body: text(5000) }, { error: 'must be a JSON object' });

@Controller('v1/posts')
@UseGuards(BearerAuthGuard)
export class CommentsController {
  constructor(private readonly comments: CommentsService) {}

  @Post()
  create(@CurrentPrincipal() principal: Principal, @Body() body: unknown): Promise<PostView> {
    const { title, body: text } = parseBody(NewPost, body);
    return this.comments.createPost(principal.sub, title, text);
  }

  /** Newest first (an addition to the contract, for the demo page to find posts). */
  @Get()
  list(@Query('limit') limit: unknown): Promise<PostView[]> {
    return this.comments.listPosts(parsePageLimit(limit));
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<PostView & { comments: CommentView[] }> {
    return this.comments.getPost(id);
  }

  @Post(':id/comments')
  comment(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: unknown): Promise<CommentView> {
    return this.comments.createComment(id, principal.sub, parseBody(NewComment, body).body);
  }
}
