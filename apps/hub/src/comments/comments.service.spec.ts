import { excerpt } from './comments.service.js';

describe('excerpt', () => {
  it('keeps short bodies whole', () => {
    expect(excerpt('Nice post!')).toBe('Nice post!');
  });

  it('cuts at 140 code points, never inside a character', () => {
    const body = `${'a'.repeat(139)}😀😀😀`;
    expect(excerpt(body)).toBe(`${'a'.repeat(139)}😀`);
    expect(Array.from(excerpt('😀'.repeat(200)))).toHaveLength(140);
  });
});
