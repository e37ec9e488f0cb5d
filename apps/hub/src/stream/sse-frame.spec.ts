import type { MessageEvent } from '@nestjs/common';
import { sseFrame } from './sse-frame.js';

describe('sseFrame', () => {
  it('writes event, id, retry and data in that order, and ends with a blank line', () => {
    expect(sseFrame({ type: 'ready', id: '7', retry: 3000, data: '{"a":1}' })).toBe('event: ready\nid: 7\nretry: 3000\ndata: {"a":1}\n\n');
  });

  it('writes a comment alone, with no id', () => {
    expect(sseFrame({ comment: 'ping' } as MessageEvent)).toBe(': ping\n\n');
  });

  it('splits data at every kind of line break, so that no line ends the frame early', () => {
    expect(sseFrame({ data: 'a\nb\r\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('keeps event and id on one line', () => {
    expect(sseFrame({ type: 'x\ny', id: '1\r\n2', data: '' })).toBe('event: xy\nid: 12\ndata: \n\n');
  });

  it('writes data that is not a string as JSON', () => {
    expect(sseFrame({ data: { n: 1 } })).toBe('data: {"n":1}\n\n');
  });
});
