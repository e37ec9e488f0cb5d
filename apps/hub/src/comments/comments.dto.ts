import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { CommentAddedDto, PostCreatedDto } from '../events/event-types.js';
import type { CommentView, PostView } from './comments.service.js';

/**
 * The API document's views of posts and comments; `implements` keeps them in
 * step with the service. A post is what `post.created` carries, and its body.
 */
@ApiSchema({ name: 'Post' })
export class PostDto extends PostCreatedDto implements PostView {
  @ApiProperty()
  body!: string;
}

/** A comment is what `comment.added` carries, so the two are one shape. */
@ApiSchema({ name: 'Comment' })
export class CommentDto extends CommentAddedDto implements CommentView {}

@ApiSchema({ name: 'PostWithComments' })
export class PostWithCommentsDto extends PostDto {
  @ApiProperty({ type: [CommentDto], description: 'oldest first' })
  comments!: CommentDto[];
}

