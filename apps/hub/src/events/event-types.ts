import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';

/**
 * The event types the hub sends of its own, and the shape of their data: a
 * comment that notifies, and the inbox being read (so every tab updates its
 * badge). Here, below the features that send them and the stream that
 * describes them, so neither imports the other.
 */
export const COMMENT_CREATED = 'comment.created';
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
