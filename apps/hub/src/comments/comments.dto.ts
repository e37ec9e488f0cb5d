import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { CommentAddedDto } from '../events/event-types.js';
import type { CommentView, PostView } from './comments.service.js';

/** The API document's views of posts and comments; `implements` keeps them in step with the service. */
@ApiSchema({ name: 'Post' })
export class PostDto implements PostView {
  @ApiProperty({ example: '42' })
  id!: string;

  @ApiProperty({ description: "the author's user id", example: 'alice' })
  authorId!: string;

  @ApiProperty()
  title!: string;

  @ApiProperty()
  body!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

/** A comment is what `comment.added` carries, so the two are one shape. */
@ApiSchema({ name: 'Comment' })
export class CommentDto extends CommentAddedDto implements CommentView {}

@ApiSchema({ name: 'PostWithComments' })
export class PostWithCommentsDto extends PostDto {
  @ApiProperty({ type: [CommentDto], description: 'oldest first' })
  comments!: CommentDto[];
}

