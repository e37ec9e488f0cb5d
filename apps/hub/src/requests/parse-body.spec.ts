import { z } from 'zod';
import { parseBody } from './parse-body.js';
import { FieldError } from '../errors/errors.js';

const schema = z.strictObject(
  { title: z.string({ error: 'must be a string' }).min(1, 'must not be empty'), tags: z.array(z.string()).optional() },
  { error: 'must be a JSON object' },
);

function fieldOf(body: unknown): string {
  try {
    parseBody(schema, body);
  } catch (err) {
    if (err instanceof FieldError) return (err.getResponse() as { field: string }).field;
  }
  return 'no error';
}

describe('parseBody', () => {
  it('returns the parsed body', () => {
    expect(parseBody(schema, { title: 'x' })).toEqual({ title: 'x' });
  });

  it.each([
    [undefined, 'body'],
    [[], 'body'],
    [{}, 'title'],
    [{ title: '' }, 'title'],
    [{ title: 'x', extra: 1 }, 'extra'],
    [{ title: 'x', '': 1 }, '""'],
    [{ title: 'x', tags: ['a', 7] }, 'tags[1]'],
  ])('names the field at fault in %j', (body, field) => {
    expect(fieldOf(body)).toBe(field);
  });
});
