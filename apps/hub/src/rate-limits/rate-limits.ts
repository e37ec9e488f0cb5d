import {
  applyDecorators,
  CanActivate,
  ExecutionContext,
  HttpStatus,
  Injectable,
  Logger,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { principalOf } from '#herald/auth/guards';
import { HubConfig } from '../config/config.js';
import { ApiError } from '../errors/error-response.js';
import { RetryLaterError } from '../errors/errors.js';
import { RateLimitStore } from '../transport/rate-limit.store.js';

/** The limits, each counted per caller over RATE_LIMIT_WINDOW_MS; a limit of 0 is off. */
export const RATE_LIMITS = {
  'dev-token': { per: 'address', what: 'dev tokens', limit: (c: HubConfig) => c.rateLimitDevToken },
  tickets: { per: 'user', what: 'stream tickets', limit: (c: HubConfig) => c.rateLimitTickets },
  'stream-user': { per: 'user', what: 'stream opens', limit: (c: HubConfig) => c.rateLimitStreamOpensPerUser },
  'stream-address': { per: 'address', what: 'stream opens', limit: (c: HubConfig) => c.rateLimitStreamOpensPerAddress },
} as const;
export type RateLimitName = keyof typeof RATE_LIMITS;

const APPLIED = 'herald:rate-limits';

/**
 * Counts the request against the named limits and answers 429 (JSON, with
 * Retry-After) past one. Runs after the route's auth guard, so a per-user
 * limit counts the authenticated user.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly logger = new Logger(RateLimitGuard.name);

  constructor(
    private readonly store: RateLimitStore,
    private readonly config: HubConfig,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const names = this.reflector.get<RateLimitName[]>(APPLIED, context.getHandler()) ?? [];
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    for (const name of names) {
      const { per, what, limit } = RATE_LIMITS[name];
      const allowed = limit(this.config);
      if (allowed === 0) continue;
      const caller = per === 'user' ? principalOf(request)?.sub : request.ip;
      const window = await this.hitOrPass(`${name}:${caller}`);
      if (window.hits <= allowed) continue;
      const retryAfter = Math.max(1, Math.ceil(window.resetInMs / 1000));
      throw new RetryLaterError(
        HttpStatus.TOO_MANY_REQUESTS,
        `rate limit: at most ${allowed} ${what} per ${this.config.rateLimitWindowMs / 1000} s per ${per}; retry in ${retryAfter} s`,
        retryAfter,
        { limit: name },
      );
    }
    return true;
  }

  /** A limiter that is down must not take the API down with it: the request goes through. */
  private async hitOrPass(key: string) {
    try {
      return await this.store.hit(key, this.config.rateLimitWindowMs);
    } catch (err) {
      this.logger.warn(`rate limit not checked: ${(err as Error).message}`);
      return { hits: 0, resetInMs: 0 };
    }
  }
}

/**
 * Place above the route's auth guard: decorators apply bottom-up, so auth runs
 * first. Also says so in the API document, so no limited route goes without.
 */
export const RateLimited = (...names: RateLimitName[]) => {
  const limits = names.map((name) => `${RATE_LIMITS[name].what} per ${RATE_LIMITS[name].per}`).join(', ');
  const { what, per } = RATE_LIMITS[names[0]];
  return applyDecorators(
    SetMetadata(APPLIED, names),
    UseGuards(RateLimitGuard),
    ApiError(429, `rate limit: ${limits} in a window (RATE_LIMIT_WINDOW_MS); \`limit\` names it`, {
      retryAfter: true,
      message: `rate limit: at most 60 ${what} per 60 s per ${per}; retry in 42 s`,
      details: { limit: names[0] },
    }),
  );
};
