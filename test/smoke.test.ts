import { openRaw } from './support/sse.js';
import { startHub, TestHub } from './support/hub.js';

describe('smoke', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(() => hub.close());

  it('delivers a published event to a stream', async () => {
    const stream = await openRaw(`${hub.url}/v1/stream?access_token=${hub.userToken('alice')}`);
    const ready = await stream.next();
    expect(ready.event).toBe('ready');
    expect((await hub.publish({ type: 'hello', recipients: ['alice'] })).status).toBe(202);
    const event = await stream.next();
    expect(event.event).toBe('hello');
    expect(JSON.parse(event.data!)).toMatchObject({ id: event.id, type: 'hello', data: {} });
    stream.close();
  });
});
