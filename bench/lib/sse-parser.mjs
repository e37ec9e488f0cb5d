// A small incremental SSE parser: text in, frames {event, id, data} out.
// Comment lines are reported as {comment}. Cheap on purpose: one string
// buffer per stream, split on blank lines. The text is the bytes as latin1
// (what sse-client.mjs reads); a frame holding bytes above 0x7f is decoded as
// the UTF-8 it is.

const NON_ASCII = /[\x80-\xff]/;

export class SseParser {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.buffer = '';
  }

  push(text) {
    let buffer = this.buffer.length === 0 ? text : this.buffer + text;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.length > 0) this.frame(NON_ASCII.test(block) ? Buffer.from(block, 'latin1').toString('utf8') : block);
    }
    this.buffer = buffer;
  }

  frame(block) {
    const frame = {};
    let any = false;
    for (const line of block.split('\n')) {
      if (line === '') continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (field === '') frame.comment = value;
      else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
      else if (field === 'event' || field === 'id') frame[field] = value;
      else continue;
      any = true;
    }
    if (any) this.onFrame(frame);
  }
}
