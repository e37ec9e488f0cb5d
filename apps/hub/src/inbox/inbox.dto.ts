import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import type { InboxEntry, InboxPage } from './inbox.service.js';

/** The API document's view of an inbox item; `implements` keeps it in step with what the service returns. */
@ApiSchema({ name: 'Notification' })
export class NotificationDto implements InboxEntry {
  @ApiProperty({
    description: 'the id POST /v1/notifications/{id}/read takes; the stream event names it `notificationId`',
    example: '17',
  })
  id!: string;

  @ApiProperty({ description: 'the event type it was published with', example: 'comment.created' })
  type!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: "the event's data",
    example: { postId: '42' },
  })
  data!: Record<string, unknown>;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'when it was first marked read; null while unread',
  })
  readAt!: string | null;
}

@ApiSchema({ name: 'NotificationPage' })
export class NotificationPageDto implements InboxPage {
  @ApiProperty({ type: [NotificationDto], description: 'newest first' })
  items!: NotificationDto[];

  @ApiProperty({ type: 'integer', minimum: 0, description: "the user's unread items, all pages together" })
  unreadCount!: number;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'pass as `before` for the next page; null on the last one',
  })
  nextCursor!: string | null;
}

