import { Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { BearerAuthGuard, CurrentPrincipal } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { ApiError } from '../errors/error-response.js';
import { FieldError } from '../errors/errors.js';
import { ApiPageLimit, parsePageLimit } from '../requests/page-limit.js';
import { ApiUserToken } from '../openapi/security.js';
import { NotificationPageDto } from './inbox.dto.js';
import { INBOX_READ_EVENT } from '../events/event-types.js';
import { InboxService } from './inbox.service.js';

@ApiTags('Inbox')
@Controller('v1/notifications')
@UseGuards(BearerAuthGuard)
@ApiUserToken()
export class InboxController {
  constructor(private readonly inbox: InboxService) {}

  @Get()
  @ApiOperation({ summary: "A page of the caller's notifications, newest first" })
  @ApiPageLimit()
  @ApiQuery({ name: 'before', required: false, type: 'string', description: 'the `nextCursor` of the page before' })
  @ApiOkResponse({ type: NotificationPageDto, description: 'a page, and the unread count' })
  @ApiError(400, '`limit` or `before` is not valid: `field` names it', {
    message: 'limit: must be a whole number from 1 to 100',
    details: { field: 'limit' },
  })
  list(
    @CurrentPrincipal() principal: Principal,
    @Query('limit') limit: unknown,
    @Query('before') before: unknown,
  ): Promise<NotificationPageDto> {
    return this.inbox.list(principal.sub, parsePageLimit(limit), parseCursor(before));
  }

  @Post('read-all')
  @HttpCode(204)
  @ApiOperation({
    summary: "Mark all the caller's notifications read",
    description: `Sends \`${INBOX_READ_EVENT}\` with \`{all: true, unreadCount}\` to the caller's streams.`,
  })
  @ApiNoContentResponse({ description: 'marked read' })
  readAll(@CurrentPrincipal() principal: Principal): Promise<void> {
    return this.inbox.markAllRead(principal.sub);
  }

  @Post(':id/read')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Mark one notification read',
    description:
      'Marking it again keeps the first `readAt`. ' +
      `Sends \`${INBOX_READ_EVENT}\` with \`{notificationId, unreadCount}\` to the caller's streams.`,
  })
  @ApiParam({ name: 'id', description: "the notification's id" })
  @ApiNoContentResponse({ description: 'marked read' })
  @ApiError(404, "the notification is not in the caller's inbox", { message: 'notification 17 is not in your inbox' })
  read(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    return this.inbox.markRead(principal.sub, id);
  }
}

function parseCursor(value: unknown): string | null {
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw new FieldError('before', 'must be a single cursor');
  return value;
}
