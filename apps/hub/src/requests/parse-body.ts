import type { z } from 'zod';
import { FieldError } from '../errors/errors.js';

/**
 * Parses a request body with a strict zod schema; the first problem becomes a
 * 400 naming its field (`title`, `comments[2].body`, or `body` for the whole;
 * an unknown empty key as `""`, so that a field is never blank).
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') throw new FieldError(issue.keys[0] || '""', 'is not a known field');
  const field = issue.path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)),
    '',
  );
  throw new FieldError(field || 'body', issue.message);
}
