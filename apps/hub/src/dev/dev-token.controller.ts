import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { TokenService } from '#herald/auth/token.service';
import { isUserId } from '#herald/contracts/user-id';
import { FieldError } from '../errors/errors.js';
import { RateLimited } from '../rate-limits/rate-limits.js';

const DEFAULT_TTL_SECONDS = 3600;
const MAX_TTL_SECONDS = 86_400;
const FIELDS = new Set(['sub', 'scope', 'expiresIn']);

/** Mints tokens for trying Herald out. Only mounted when HERALD_DEV_AUTH is on. */
@Controller('v1/dev/token')
export class DevTokenController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  @HttpCode(200)
  @RateLimited('dev-token')
  mint(@Body() body: unknown): { token: string } {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new FieldError('body', 'must be a JSON object');
    }
    const { sub, scope, expiresIn = DEFAULT_TTL_SECONDS } = body as Record<string, unknown>;
    const unknown = Object.keys(body).find((key) => !FIELDS.has(key));
    if (unknown) throw new FieldError(unknown, 'is not a known field (sub, scope, expiresIn)');
    if (!isUserId(sub)) throw new FieldError('sub', 'must be 1-128 characters of A-Z a-z 0-9 _ . : @ -');
    if (scope !== undefined && (typeof scope !== 'string' || !/^[\w:. -]{0,256}$/.test(scope))) {
      throw new FieldError('scope', 'must be a space-separated string of scopes');
    }
    if (!Number.isInteger(expiresIn) || (expiresIn as number) < 1 || (expiresIn as number) > MAX_TTL_SECONDS) {
      throw new FieldError('expiresIn', `must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
    }
    return { token: this.tokens.sign({ sub, scope: scope as string | undefined, expiresIn: expiresIn as number }) };
  }
}
