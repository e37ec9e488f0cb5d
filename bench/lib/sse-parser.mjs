// A small incremental SSE parser: bytes in, frames {event, id, data} out.
// Comment lines are reported as {comment}. Cheap on purpose: one string
// buffer per stream, split on blank lines.

export class SseParser {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.buffer = '';
  }

  push(chunk) {
    this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let end;
    while ((end = this.buffer.indexOf('\n\n')) !== -1) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      if (block.length > 0) this.frame(block);
    }
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
