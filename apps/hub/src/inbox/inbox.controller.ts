import { Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { BearerAuthGuard, CurrentPrincipal } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { FieldError } from '../errors/errors.js';
import { parsePageLimit } from '../errors/query.js';
import { InboxPage, InboxService } from './inbox.service.js';

@Controller('v1/notifications')
@UseGuards(BearerAuthGuard)
export class InboxController {
  constructor(private readonly inbox: InboxService) {}

  @Get()
  list(
    @CurrentPrincipal() principal: Principal,
    @Query('limit') limit: unknown,
    @Query('before') before: unknown,
  ): Promise<InboxPage> {
    return this.inbox.list(principal.sub, parsePageLimit(limit), parseCursor(before));
  }

  @Post('read-all')
  @HttpCode(204)
  readAll(@CurrentPrincipal() principal: Principal): Promise<void> {
    return this.inbox.markAllRead(principal.sub);
  }

  @Post(':id/read')
  @HttpCode(204)
  read(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    return this.inbox.markRead(principal.sub, id);
  }
}

function parseCursor(value: unknown): string | null {
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw new FieldError('before', 'must be a single cursor');
  return value;
}
