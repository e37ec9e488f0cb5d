import { BadRequestException, HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';

/** 400 naming the field of the body (or query) that is wrong. */
export class FieldError extends BadRequestException {
  constructor(field: string, problem: string) {
    super({ statusCode: 400, error: 'Bad Request', message: `${field}: ${problem}`, field });
  }
}

/**
 * An error whose answer says when to try again: the error filter sends its
 * Retry-After header, whatever the status (a 429 of a limit, a 503).
 */
export class RetryLaterError extends HttpException {
  constructor(
    status: number,
    message: string,
    readonly retryAfterSeconds: number,
    details: Record<string, unknown> = {},
  ) {
    super({ statusCode: status, error: STATUS_CODES[status], message, ...details }, status);
  }
}

/** 503 with a Retry-After header: this instance cannot take the request now, another may. */
export class UnavailableError extends RetryLaterError {
  constructor(message: string, retryAfterSeconds: number) {
    super(HttpStatus.SERVICE_UNAVAILABLE, message, retryAfterSeconds);
  }
}
