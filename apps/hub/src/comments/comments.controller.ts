import { Body, Controller, Get, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { BearerAuthGuard, CurrentPrincipal } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { parseBody } from '../requests/parse-body.js';
import { ApiBodyErrors, ApiError } from '../errors/error-response.js';
import { ApiPageLimit, parsePageLimit } from '../requests/page-limit.js';
import { ApiUserToken } from '../openapi/security.js';
import { CommentDto, PostDto, PostWithCommentsDto } from './comments.dto.js';
import { COMMENT_CREATED, POST_CREATED, POSTS_TOPIC } from '../events/event-types.js';
import { CommentsService } from './comments.service.js';

/**
 * Lengths count characters (code points), as the database and the excerpt do,
 * not UTF-16 units. The refinements are code, so the API document gets the
 * same rules as JSON Schema keywords (whose lengths count code points too).
 */
const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .refine((v) => v.trim().length > 0, 'must not be empty')
    .refine((v) => v.length <= max || Array.from(v).length <= max, `must be at most ${max} characters`)
    .meta({ pattern: '\\S', maxLength: max, description: `at most ${max} characters, not blank` });
const NewPost = z.strictObject({ title: text(200), body: text(10_000) }, { error: 'must be a JSON object' });
const NewComment = z.strictObject({ body: text(5000) }, { error: 'must be a JSON object' });

const POST_ID = { name: 'id', description: "the post's id", example: '42' };

@ApiTags('Comments')
@Controller('v1/posts')
@UseGuards(BearerAuthGuard)
@ApiUserToken()
export class CommentsController {
  constructor(private readonly comments: CommentsService) {}

  @Post()
  @ApiOperation({
    summary: 'Write a post',
    description: `Publishes \`${POST_CREATED}\` (data: PostCreated) to the topic \`${POSTS_TOPIC}\`, in one transaction with the post.`,
  })
  @ApiBodyErrors()
  @ApiCreatedResponse({ type: PostDto, description: 'the post' })
  create(@CurrentPrincipal() principal: Principal, @Body({ schema: NewPost }) body: unknown): Promise<PostDto> {
    const { title, body: text } = parseBody(NewPost, body);
    return this.comments.createPost(principal.sub, title, text);
  }

  /** Newest first (an addition to the contract, for the demo page to find posts). */
  @Get()
  @ApiOperation({ summary: 'The newest posts' })
  @ApiPageLimit()
  @ApiOkResponse({ type: [PostDto], description: 'newest first' })
  @ApiError(400, '`limit` is not valid', {
    message: 'limit: must be a whole number from 1 to 100',
    details: { field: 'limit' },
  })
  list(@Query('limit') limit: unknown): Promise<PostDto[]> {
    return this.comments.listPosts(parsePageLimit(limit));
  }

  @Get(':id')
  @ApiOperation({ summary: 'A post with its comments' })
  @ApiParam(POST_ID)
  @ApiOkResponse({ type: PostWithCommentsDto, description: 'the post and its comments' })
  @ApiError(404, 'no such post', { message: 'post 42 does not exist' })
  get(@Param('id') id: string): Promise<PostWithCommentsDto> {
    return this.comments.getPost(id);
  }

  @Post(':id/comments')
  @ApiOperation({
    summary: 'Comment on a post',
    description:
      "Notifies the post's author and every earlier commenter, never the commenter, with " +
      `\`${COMMENT_CREATED}\` (data: CommentCreated), in one transaction with the comment.`,
  })
  @ApiParam(POST_ID)
  @ApiBodyErrors()
  @ApiCreatedResponse({ type: CommentDto, description: 'the comment' })
  @ApiError(404, 'no such post', { message: 'post 42 does not exist' })
  comment(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body({ schema: NewComment }) body: unknown,
  ): Promise<CommentDto> {
    return this.comments.createComment(id, principal.sub, parseBody(NewComment, body).body);
  }
}
