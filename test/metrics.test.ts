// GET /metrics (API.md, Operations): Prometheus text with open streams and their users, events
// published and delivered, the delivery latency histogram and the transport state.
import { startHub, TestHub } from './support/hub.js';
import { openRaw } from './support/sse.js';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no series ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let hub: TestHub;
  const scrape = async () => {
    const response = await fetch(`${hub.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return response.text();
  };

  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(() => hub.close());

  it('counts streams, published and delivered events, and their latency', async () => {
    const before = await scrape();
    expect(value(before, 'herald_open_streams')).toBe(0);
    expect(value(before, 'herald_stream_users')).toBe(0);
    expect(value(before, 'herald_transport_up')).toBe(1);

    const tabs = await Promise.all([1, 2].map(() => openRaw(`${hub.url}/v1/stream?access_token=${hub.userToken('alice')}`)));
    for (const tab of tabs) expect((await tab.next()).event).toBe('ready');
    const open = await scrape();
    // alice's two tabs: two streams, one user.
    expect([value(open, 'herald_open_streams'), value(open, 'herald_stream_users')]).toEqual([2, 1]);

    expect((await hub.publish({ type: 'counted', recipients: ['alice', 'bob'], persist: false })).status).toBe(202);
    for (const tab of tabs) expect((await tab.next()).event).toBe('counted');
    const after = await scrape();
    expect(value(after, 'herald_events_published_total{source="http"}')).toBe(1);
    expect(value(after, 'herald_events_delivered_total')).toBe(2);
    expect(value(after, 'herald_delivery_latency_seconds_count')).toBe(1);
    expect(value(after, 'herald_delivery_latency_seconds_bucket{le="1"}')).toBe(1);

    for (const tab of tabs) tab.close();
    for (let i = 0; i < 50 && hub.registry.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(value(await scrape(), 'herald_open_streams')).toBe(0);
  });

  it('never shows a token from a query string', async () => {
    const token = hub.userToken('carol');
    const stream = await openRaw(`${hub.url}/v1/stream?access_token=${token}`);
    await stream.next();
    expect(await scrape()).not.toContain(token);
    stream.close();
  });
});
