import { ApiQuery } from '@nestjs/swagger';
import { FieldError } from '../errors/errors.js';

const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;

/** The `limit` of a listing: 1–100, 20 when absent; anything else is a 400 naming it. */
export function parsePageLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_PAGE;
  const limit = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(limit >= 1 && limit <= MAX_PAGE)) throw new FieldError('limit', `must be a whole number from 1 to ${MAX_PAGE}`);
  return limit;
}

/** The `limit` query parameter of a listing, for the API document. */
export const ApiPageLimit = () =>
  ApiQuery({
    name: 'limit',
    required: false,
    description: 'how many items, at most',
    schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE },
  });
