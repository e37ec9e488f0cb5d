// A hand-written SVG line chart: p99 latency (log scale) against publish rate,
// one line per publish path, with the 100 ms pass line. No dependencies.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#e377c2', '#7f7f7f', '#bcbd22', '#393b79'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** series: [{name, points: [{rate, p99}]}] */
export function p99Chart(series, { title = 'p99 latency against publish rate', limitMs = 100 } = {}) {
  const W = 760, H = 420, L = 70, R = 200, T = 40, B = 50;
  const pw = W - L - R, ph = H - T - B;
  const points = series.flatMap((s) => s.points);
  const maxRate = Math.max(1000, ...points.map((p) => p.rate));
  const yMin = 0.1, yMax = Math.max(1000, ...points.map((p) => p.p99));
  const lyMin = Math.log10(yMin), lyMax = Math.ceil(Math.log10(yMax));
  const x = (rate) => L + (rate / maxRate) * pw;
  const y = (ms) => T + ph - ((Math.log10(Math.max(ms, yMin)) - lyMin) / (lyMax - lyMin)) * ph;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  // y grid: decades
  for (let d = lyMin; d <= lyMax; d++) {
    const ms = 10 ** d;
    out.push(`<line x1="${L}" x2="${L + pw}" y1="${y(ms)}" y2="${y(ms)}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${y(ms) + 4}" text-anchor="end">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
  }
  // x grid
  const step = maxRate <= 5000 ? 1000 : maxRate <= 12000 ? 2000 : 5000;
  for (let r = 0; r <= maxRate; r += step) {
    out.push(`<line x1="${x(r)}" x2="${x(r)}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x(r)}" y="${T + ph + 16}" text-anchor="middle">${r.toLocaleString('en-US')}</text>`);
  }
  out.push(`<text x="${L + pw / 2}" y="${H - 10}" text-anchor="middle">events per second (scheduled)</text>`);
  out.push(`<text transform="translate(16 ${T + ph / 2}) rotate(-90)" text-anchor="middle">p99 latency from scheduled send (log)</text>`);
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  // pass line
  out.push(`<line x1="${L}" x2="${L + pw}" y1="${y(limitMs)}" y2="${y(limitMs)}" stroke="#000" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${L + pw - 4}" y="${y(limitMs) - 5}" text-anchor="end">${limitMs} ms: pass below</text>`);
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const pts = s.points.filter((p) => p.p99 !== null && p.p99 !== undefined);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${x(p.rate).toFixed(1)},${y(p.p99).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p.rate).toFixed(1)}" cy="${y(p.p99).toFixed(1)}" r="3.5" fill="${p.pass ? color : 'white'}" stroke="${color}" stroke-width="2"><title>${esc(`${s.name}: ${p.rate}/s p99 ${p.p99} ms`)}</title></circle>`);
    const ly = T + 14 + k * 20;
    out.push(`<line x1="${L + pw + 14}" x2="${L + pw + 34}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${L + pw + 40}" y="${ly}">${esc(s.name)}</text>`);
  });
  out.push(`<text x="${L + pw + 14}" y="${T + 14 + series.length * 20 + 10}" font-size="11" fill="#555">filled: pass; hollow: fail</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
