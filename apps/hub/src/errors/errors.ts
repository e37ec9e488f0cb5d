import { BadRequestException, HttpException, HttpStatus } from '@nestjs/common';

/** 400 naming the field of the body (or query) that is wrong. */
export class FieldError extends BadRequestException {
  constructor(field: string, problem: string) {
    super({ statusCode: 400, error: 'Bad Request', message: `${field}: ${problem}`, field });
  }
}

/** 503 with a Retry-After header: this instance cannot take the request now, another may. */
export class UnavailableError extends HttpException {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super({ statusCode: 503, error: 'Service Unavailable', message }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}
