import { Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { BearerAuthGuard, CurrentPrincipal } from '#herald/auth/guards';
import type { Principal } from '#herald/auth/principal';
import { FieldError } from '../errors/errors.js';
import { InboxPage, InboxService } from './inbox.service.js';

const MAX_LIMIT = 100;

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
    return this.inbox.list(principal.sub, parseLimit(limit), parseCursor(before));
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

function parseLimit(value: unknown): number {
  if (value === undefined) return 20;
  const limit = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new FieldError('limit', `must be a whole number from 1 to ${MAX_LIMIT}`);
  return limit;
}

function parseCursor(value: unknown): string | null {
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw new FieldError('before', 'must be a single cursor');
  return value;
}
