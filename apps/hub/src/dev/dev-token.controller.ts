import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { isTopicPatternList, MAX_TOPIC_PATTERNS, TokenService } from '#herald/auth/token.service';
import { TOPIC_PATTERN_PATTERN } from '#herald/contracts/topic';
import { isUserId, USER_ID_PATTERN } from '#herald/contracts/user-id';
import { ApiBodyErrors } from '../errors/error-response.js';
import { FieldError } from '../errors/errors.js';
import { RateLimited } from '../rate-limits/rate-limits.js';

const DEFAULT_TTL_SECONDS = 3600;
const MAX_TTL_SECONDS = 86_400;
const SCOPE_PATTERN = /^[\w:. -]{0,256}$/;

/**
 * The request as a JSON Schema for the API document, from the constants the
 * checks below use; test/openapi.test.ts holds the two to the same verdicts.
 */
const TOKEN_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['sub'],
  properties: {
    sub: {
      type: 'string',
      pattern: USER_ID_PATTERN.source,
      description: 'the user (or service) the token is for',
      example: 'alice',
    },
    scope: {
      type: 'string',
      pattern: SCOPE_PATTERN.source,
      description: 'space-separated scopes; `events:publish` makes a service token',
      example: 'events:publish',
    },
    topics: {
      type: 'array',
      maxItems: MAX_TOPIC_PATTERNS,
      items: { type: 'string', minLength: 1, pattern: TOPIC_PATTERN_PATTERN.source },
      description: 'topic patterns (`post:*`, `team:7`) the user may follow, or the service may publish to',
      example: ['post:*'],
    },
    expiresIn: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_TTL_SECONDS,
      default: DEFAULT_TTL_SECONDS,
      description: 'lifetime in seconds',
    },
  },
};
const FIELDS: ReadonlySet<string> = new Set(Object.keys(TOKEN_REQUEST_SCHEMA.properties));

export class DevToken {
  @ApiProperty({ description: 'an HS256 JWT for `Authorization: Bearer`' })
  token!: string;
}

/** Mints tokens for trying Herald out. Only mounted when HERALD_DEV_AUTH is on. */
@ApiTags('Development')
@Controller('v1/dev/token')
export class DevTokenController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  @HttpCode(200)
  @RateLimited('dev-token')
  @ApiOperation({
    summary: 'Mint a token (dev auth only)',
    description:
      'Registered only while dev auth is on (HERALD_DEV_AUTH; never in production): ' +
      'anyone who can reach it can mint any token.',
  })
  @ApiBody({ schema: TOKEN_REQUEST_SCHEMA })
  @ApiBodyErrors()
  @ApiOkResponse({ type: DevToken, description: 'the token' })
  mint(@Body() body: unknown): DevToken {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new FieldError('body', 'must be a JSON object');
    }
    const { sub, scope, topics, expiresIn = DEFAULT_TTL_SECONDS } = body as Record<string, unknown>;
    const unknown = Object.keys(body).find((key) => !FIELDS.has(key));
    if (unknown) throw new FieldError(unknown, `is not a known field (${[...FIELDS].join(', ')})`);
    if (!isUserId(sub)) throw new FieldError('sub', 'must be 1-128 characters of A-Z a-z 0-9 _ . : @ -');
    if (scope !== undefined && (typeof scope !== 'string' || !SCOPE_PATTERN.test(scope))) {
      throw new FieldError('scope', 'must be a space-separated string of scopes');
    }
    if (topics !== undefined && !isTopicPatternList(topics)) {
      throw new FieldError('topics', `must be an array of up to ${MAX_TOPIC_PATTERNS} topic patterns (a topic, or a prefix ending in *)`);
    }
    if (!Number.isInteger(expiresIn) || (expiresIn as number) < 1 || (expiresIn as number) > MAX_TTL_SECONDS) {
      throw new FieldError('expiresIn', `must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
    }
    return {
      token: this.tokens.sign({ sub, scope: scope as string | undefined, topics: topics as string[] | undefined, expiresIn: expiresIn as number }),
    };
  }
}
