import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse, type HeaderObject } from '@nestjs/swagger';
import { MAX_ENVELOPE_BYTES } from '#herald/contracts/envelope';
import { type ErrorBody, errorBody } from './http-error.filter.js';

/** The API document's view of ErrorBody: what every error answer of the hub looks like. */
export class ErrorResponse implements ErrorBody {
  [detail: string]: unknown;

  @ApiProperty({ type: 'integer', description: 'the HTTP status, repeated', example: 400 })
  statusCode!: number;

  @ApiProperty({ description: "the status's reason phrase", example: 'Bad Request' })
  error!: string;

  @ApiProperty({
    description: 'what went wrong; for a 400 it starts with the field',
    example: 'recipients[3]: must be 1-128 characters of A-Z a-z 0-9 _ . : @ -',
  })
  message!: string;

  @ApiPropertyOptional({
    description: 'the field (or header, or query parameter) at fault: 400 and 413',
    example: 'recipients[3]',
  })
  field?: string;

  @ApiPropertyOptional({ description: 'the rate limit that was hit: 429 of a rate limit', example: 'tickets' })
  limit?: string;

  @ApiPropertyOptional({
    description: 'every 5xx: the X-Request-Id of the answer; quote it when reporting one, the log line with the cause has it too',
    example: '6f1c0e5e-3b7a-4d2c-9a51-0c8d2f4e7b19',
  })
  requestId?: string;
}

/** What a 503, and a 429 of a rate limit, send along: when to try again. */
export const RETRY_AFTER: Record<string, HeaderObject> = {
  'Retry-After': { description: 'seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } },
};

export interface ApiErrorOptions {
  /** It comes with a Retry-After header. */
  retryAfter?: boolean;
  /** The example's message (the description by default) and details. */
  message?: string;
  details?: Record<string, unknown>;
}

/** An error answer of a route, in the hub's error shape, with an example of it. */
export function ApiError(status: number, description: string, options: ApiErrorOptions = {}) {
  return ApiResponse({
    status,
    description,
    type: ErrorResponse,
    example: errorBody(status, options.message ?? description, options.details),
    ...(options.retryAfter ? { headers: RETRY_AFTER } : {}),
  });
}

/** What every route with a JSON body may answer before it runs (json-body.ts), and when the body breaks its schema. */
/** @param limit the body size limit of the route: the general one, or a batch's. */
export const ApiBodyErrors = (limit = MAX_ENVELOPE_BYTES) =>
  applyDecorators(
    ApiError(400, 'the body is not JSON, or breaks the schema: `field` names where (`body` for the whole)', {
      message: 'body: is not valid JSON',
      details: { field: 'body' },
    }),
    ApiError(413, `the body is larger than ${limit} bytes`, {
      message: `body: larger than ${limit} bytes`,
      details: { field: 'body' },
    }),
  );
