import { BadRequestException, HttpException, HttpStatus } from '@nestjs/common';

/** 400 naming the field of the body (or query) that is wrong. */
export class FieldError extends BadRequestException {
  constructor(field: string, problem: string) {
    super({ statusCode: 400, error: 'Bad Request', message: `${field}: ${problem}`, field });
  }
}

/** An error whose answer says when to try again: the error filter sends its Retry-After header. */
export interface RetryLater {
  readonly retryAfterSeconds: number;
}

export function isRetryLater(error: unknown): error is RetryLater {
  return typeof (error as Partial<RetryLater>)?.retryAfterSeconds === 'number';
}

/** 429 with a Retry-After header: the user holds as many streams as allowed; one frees when another closes. */
export class StreamLimitError extends HttpException implements RetryLater {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super({ statusCode: 429, error: 'Too Many Requests', message }, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** 503 with a Retry-After header: this instance cannot take the request now, another may. */
export class UnavailableError extends HttpException implements RetryLater {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super({ statusCode: 503, error: 'Service Unavailable', message }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}
