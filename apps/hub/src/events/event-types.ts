import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';

/**
 * The event types the hub sends of its own, and the shape of their data: a
 * comment that notifies, a comment and a post for whoever views them, and the
 * inbox being read (so every tab updates its badge). Here, below the features
 * that send them and the stream that describes them, so neither imports the other.
 */
export const COMMENT_CREATED = 'comment.created';
/** A comment, to every viewer of its post: published to the post's topic. */
export const COMMENT_ADDED = 'comment.added';
/** A new post, to every viewer of the list of posts: published to POSTS_TOPIC. */
export const POST_CREATED = 'post.created';
/** The topic of the list of posts. */
export const POSTS_TOPIC = 'posts';
export const INBOX_READ_EVENT = 'inbox.read';

/** The data of a `comment.created` stream event (and inbox item). */
@ApiSchema({ name: 'CommentCreated' })
export class CommentCreatedDto {
  @ApiProperty({ example: '42' })
  postId!: string;

  @ApiProperty({ example: '7' })
  commentId!: string;

  @ApiProperty({ description: 'the commenter', example: 'bob' })
  authorId!: string;

  @ApiProperty({ description: 'the first 140 characters of the comment' })
  excerpt!: string;
}

/** The topic of a post's thread: what its viewers follow to see comments appear. */
export function postTopic(postId: string): string {
  return `post:${postId}`;
}

/** The data of a `comment.added` event, on the topic `post:<postId>`: the comment as the thread shows it. */
@ApiSchema({ name: 'CommentAdded' })
export class CommentAddedDto {
  @ApiProperty({ example: '7' })
  id!: string;

  @ApiProperty({ example: '42' })
  postId!: string;

  @ApiProperty({ description: 'the commenter', example: 'bob' })
  authorId!: string;

  @ApiProperty({ description: 'the whole comment' })
  body!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

/**
 * The data of a `post.created` event, on the topic `posts`: what a list of
 * posts shows. Not the body, up to 10,000 characters that every viewer of the
 * list would get; a viewer opens the post to read it.
 */
@ApiSchema({ name: 'PostCreated' })
export class PostCreatedDto {
  @ApiProperty({ example: '42' })
  id!: string;

  @ApiProperty({ description: "the author's user id", example: 'alice' })
  authorId!: string;

  @ApiProperty()
  title!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

/** The data of an `inbox.read` stream event, sent to the user's own streams when items are marked read. */
@ApiSchema({ name: 'InboxRead' })
export class InboxReadDto {
  @ApiPropertyOptional({ description: 'the item marked read (POST /v1/notifications/{id}/read)', example: '17' })
  notificationId?: string;

  @ApiPropertyOptional({ enum: [true], description: 'every item was marked read (POST /v1/notifications/read-all)' })
  all?: true;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'unread items left' })
  unreadCount!: number;
}
