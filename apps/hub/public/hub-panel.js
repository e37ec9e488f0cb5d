// The hub panel: open streams, users and events per second of the instance
// that serves this page, read from its Prometheus text at /metrics. That
// endpoint needs no token (docs/api.md, "Operations endpoints"), so the page
// adds no endpoint of its own; where a proxy keeps /metrics inside (the
// Kubernetes ingress does), the panel says it cannot read them.

const $ = (id) => document.getElementById(id);
const EVERY_MS = 2000;
const NOTE = $('hub-note').innerHTML;

/** The value of a series without labels, or the sum of a metric's labelled series. */
function metric(text, name) {
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0);
}

export class HubPanel {
  /** @param active whether to read now: signed in, and the page is live and visible. */
  constructor(active) {
    this.active = active;
    this.previous = null;
    setInterval(() => void this.read(), EVERY_MS);
    document.addEventListener('visibilitychange', () => void this.read());
  }

  async read() {
    if (!this.active()) return;
    let text;
    try {
      const response = await fetch('/metrics');
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch (err) {
      $('hub-note').textContent = `Cannot read this hub's /metrics (${err.message}).`;
      return;
    }
    const now = { at: performance.now(), published: metric(text, 'herald_events_published_total') ?? 0 };
    const rate = this.previous && ((now.published - this.previous.published) * 1000) / (now.at - this.previous.at);
    this.previous = now;
    $('hub-streams').textContent = String(metric(text, 'herald_open_streams') ?? '–');
    $('hub-users').textContent = String(metric(text, 'herald_stream_users') ?? '–');
    $('hub-rate').textContent = rate === null ? '–' : rate.toFixed(1);
    $('hub-note').innerHTML = NOTE;
  }
}
