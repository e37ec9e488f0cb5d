// bench/results/latest.json -> the markdown report and the p99 chart.
import { p99Chart } from './svg.mjs';

const n = (x, digits) => (x === null || x === undefined ? '–' : digits === undefined ? Number(x).toLocaleString('en-US') : Number(x).toFixed(digits));
const mark = (ok) => (ok === null ? 'not measured' : ok ? '**met**' : '**missed**');

function ladderTable(ladder) {
  if (!ladder) return '_not run_\n';
  if (ladder.skipped) return `_skipped: ${ladder.skipped}_\n`;
  const rows = ['| rate /s | p50 ms | p99 ms | max ms | lost | dup | unacked | server CPU % | generator CPU % | |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|'];
  for (const s of ladder.steps) {
    if (s.skipped) {
      rows.push(`| ${n(s.rate)} | | | | | | | | | skipped (a lower rate was overloaded) |`);
      continue;
    }
    rows.push(`| ${n(s.rate)} | ${n(s.p50, 1)} | ${n(s.p99, 1)} | ${n(s.max, 1)} | ${n(s.lost)} | ${n(s.dup)} | ${n(s.unacked)} | ${n(s.hubCpu)} | ${n(s.generatorCpu)} | ${s.pass ? 'pass' : 'fail'} |`);
  }
  return `${rows.join('\n')}\n\nHighest passing rate: **${ladder.best ? `${n(ladder.best)}/s` : 'none'}**\n`;
}

function idleTable(bySize) {
  const out = [];
  for (const [size, servers] of Object.entries(bySize)) {
    if (typeof servers !== 'object' || !servers.herald) continue;
    const h = servers.herald, f = servers.floor, x = servers.nchan;
    const cols = ['Herald', 'floor (bare Node)', ...(x ? ['Nchan'] : []), 'Herald ÷ floor'];
    const ratio = (a, b, digits = 1) => (a && b ? `${(a / b).toFixed(digits)}×` : '–');
    const row = (label, key, digits) => `| ${label} | ${n(h?.[key], digits)} | ${n(f?.[key], digits)} |${x ? ` ${n(x[key], digits)} |` : ''} ${ratio(h?.[key], f?.[key])} |`;
    out.push(`**${n(Number(size))} streams**\n`);
    out.push(`| | ${cols.join(' | ')} |`);
    out.push(`|---|${cols.map(() => '---:').join('|')}|`);
    out.push(row('opens per second', 'opensPerSecond'));
    out.push(row('time to open all (s)', 'openSeconds', 2));
    out.push(row('RSS per idle stream (KiB)', 'kibPerStream', 2));
    out.push(row('RSS before (MiB)', 'rssBeforeMiB', 1));
    out.push(row('RSS after (MiB)', 'rssAfterMiB', 1));
    out.push(row('server CPU % while opening', 'serverCpuDuringOpen'));
    out.push(row('generator CPU % while opening', 'generatorCpuDuringOpen'));
    out.push(row('failed opens', 'failed'));
    out.push('');
  }
  return out.join('\n');
}

/** fanout-topic: the issue's target for the last subscriber (what Nchan's shared channel measured on the bench machine). */
const TOPIC_TARGET_MS = 90;
const TOPIC_PATHS = [['httpLive', 'HTTP live, one hub'], ['redis', 'HTTP live, one hub with Redis']];
const topicMet = (f) => (f ? f.lastMedian <= TOPIC_TARGET_MS && f.lost === 0 && f.dup === 0 && !f.unacked : null);

/**
 * A fan-out table: a row per [label, figures, extra cell]. With Nchan's
 * one-channel fan-out of the same run (`nchan`), each row's last subscriber
 * is also given as a multiple of it: the machine's speed varies between
 * runs by more than most changes, and the ratio much less.
 */
function fanoutTable(rows, extra, nchan) {
  const ratio = nchan ? ' last subscriber ÷ Nchan\'s |' : '';
  const out = [
    `| | repetitions | last subscriber, median ms | last subscriber, worst ms | median subscriber, median ms | lost | dup | server CPU ms per fan-out, median |${ratio}${extra ? ` ${extra} |` : ''}`,
    `|---|---:|---:|---:|---:|---:|---:|---:|${nchan ? '---:|' : ''}${extra ? '---|' : ''}`,
  ];
  for (const [label, f, cell] of rows) {
    const times = nchan ? ` ${n(f.lastMedian / nchan.lastMedian, 2)}× |` : '';
    out.push(`| ${label} | ${f.repetitions} | ${n(f.lastMedian, 1)} | ${n(f.lastMax, 1)} | ${n(f.p50Median, 1)} | ${n(f.lost)} | ${n(f.dup)} | ${n(f.serverCpuMsMedian)} |${times}${extra ? ` ${cell ?? ''} |` : ''}`);
  }
  return `${out.join('\n')}\n`;
}

/** The issue's targets, each with the figure it is judged on. */
function targets(s) {
  const idle = s.idle ?? {};
  const rows = [];
  const add = (what, target, value, ok) => rows.push(`| ${what} | ${target} | ${value} | ${mark(ok)} |`);
  for (const size of ['10000', '18000']) {
    const h = idle[size]?.herald;
    add(`memory per idle stream at ${n(Number(size))}`, '≤ 12 KiB', h ? `${n(h.kibPerStream, 2)} KiB` : '–', h ? h.kibPerStream <= 12 : null);
  }
  for (const size of ['10000', '18000']) {
    const h = idle[size]?.herald;
    add(`stream open rate (${n(Number(size))})`, '≥ 4,000/s', h ? `${n(h.opensPerSecond)}/s` : '–', h ? h.opensPerSecond >= 4000 : null);
  }
  const best = (ladder, target, what) => {
    const ok = ladder && ladder.steps ? ladder.best >= target : null;
    const measured = !ladder?.steps ? '–' : ladder.best ? `${n(ladder.best)}/s` : `none passed (lowest step ${n(ladder.steps[0].rate)}/s)`;
    add(what, `≥ ${n(target)}/s`, measured, ok);
  };
  best(s['http-live']?.herald, 5000, 'HTTP live publish');
  best(s['http-persisted']?.sqlite, 2000, 'HTTP persisted, SQLite');
  best(s['http-persisted']?.postgres, 5000, 'HTTP persisted, PostgreSQL');
  best(s['http-batch']?.live, 5000, 'HTTP live publish, batched');
  best(s['http-batch']?.sqlite, 2000, 'HTTP persisted, SQLite, batched');
  best(s['http-batch']?.postgres, 5000, 'HTTP persisted, PostgreSQL, batched');
  best(s.ingress?.herald, 20000, 'Redis ingress');
  for (const [key, label] of [['httpLive', 'HTTP live'], ['httpPersisted', 'HTTP persisted'], ['ingress', 'ingress']]) {
    const f = s.fanout?.[key];
    add(`fan-out to 5,000 users, last subscriber (${label}; median of reps)`, '≤ 100 ms', f ? `${n(f.lastMedian, 1)} ms (worst ${n(f.lastMax, 1)})` : '–', f ? f.lastMedian <= 100 && f.lost === 0 : null);
  }
  for (const [key, label] of TOPIC_PATHS) {
    const f = s['fanout-topic']?.[key];
    add(`fan-out to 5,000 streams following one topic, last subscriber (${label}; median of reps)`, `≤ ${TOPIC_TARGET_MS} ms (Nchan's shared channel)`, f ? `${n(f.lastMedian, 1)} ms (worst ${n(f.lastMax, 1)})` : '–', topicMet(f));
  }
  best(s['cross-instance']?.herald, 10000, 'cross-instance publish');
  best(s['cross-instance']?.batched, 10000, 'cross-instance publish, batched into B');
  const r = s['reconnect-storm'];
  add('reconnect storm: lost and duplicated', '0 and 0', r && r.lost !== undefined ? `${r.lost} and ${r.dup}` : '–', r && r.lost !== undefined ? r.lost === 0 && r.dup === 0 : null);
  return `| target | issue's figure | measured | |\n|---|---|---|---|\n${rows.join('\n')}\n`;
}

export function render(results) {
  const date = results.date.slice(0, 10);
  const s = results.scenarios ?? {};
  const md = [];
  md.push(`# Herald benchmark, ${date}`);
  md.push('');
  md.push(`Run: \`npm run bench${results.quick ? ' -- --quick' : ''}\` on ${results.date} (Node ${results.machine?.node}; 2 CPUs: the servers under test on CPU 0, the load generator on CPU 1). ${results.quick ? '**Quick run: short steps, figures are indicative only.** ' : ''}How to read this: [bench/README.md](../README.md). Raw figures: [latest.json](latest.json).`);
  md.push('');
  md.push('Pass rule for a publish step: p99 latency (from the scheduled send time to the subscriber\'s socket read) under 100 ms, nothing lost, every event acknowledged.');
  md.push('');
  const errors = Object.entries(s).filter(([, v]) => v && v.error);
  if (errors.length) {
    md.push('Scenarios that failed to run:');
    for (const [name, v] of errors) md.push(`- \`${name}\`: ${v.error}`);
    md.push('');
  }
  md.push('## Against the issue\'s targets\n');
  md.push(targets(s));
  md.push(`![p99 latency against rate](${date}-p99.svg)\n`);

  md.push('## idle: opening streams, memory per idle stream\n');
  md.push(s.idle && !s.idle.error ? idleTable(s.idle) : '_not run_\n');
  md.push('RSS per stream = (RSS after opening and a 3 s settle − RSS before) ÷ streams; for Nchan, nginx master + worker. Opens per second = streams ÷ time from the first request to the last `ready` (Nchan: its first `: hi` comment), at most 200 opens in flight over all generator processes; generator CPU % = the subscriber processes\' CPU over that same window (tokens are minted before it).\n');

  md.push('## http-live: `POST /v1/events`, `persist: false`, 1,000 users, one recipient per event\n');
  md.push('**Herald**\n');
  md.push(ladderTable(s['http-live']?.herald));
  if (s['http-live']?.nchan) {
    md.push('\n**Nchan** (`POST /pub/<user>`, one channel per user)\n');
    md.push(ladderTable(s['http-live'].nchan));
  } else if (!results.nchan) md.push('\nNchan: not installed, skipped.\n');

  /** Ladders under a bold title each, with an optional note after it. */
  const ladders = (entries) => md.push(entries.map(([title, note, ladder]) => `**${title}**${note ? ` ${note}` : ''}\n\n${ladderTable(ladder)}`).join('\n'));
  const POSTGRES_NOTE = "(the machine's own, not pinned; a database of the bench's own)";
  md.push('\n## http-persisted: `persist: true`\n');
  ladders([['SQLite', '(a fresh file)', s['http-persisted']?.sqlite], ['PostgreSQL', POSTGRES_NOTE, s['http-persisted']?.postgres]]);

  md.push('\n## http-batch: `POST /v1/events/batch`\n');
  md.push('The same events, one recipient each, in batches: what falls due while 4 batch requests are under way goes in the next one (up to 500), so batches grow with the rate.\n');
  ladders([
    ['Live', '(`persist: false`)', s['http-batch']?.live],
    ['Persisted, SQLite', '', s['http-batch']?.sqlite],
    ['Persisted, PostgreSQL', POSTGRES_NOTE, s['http-batch']?.postgres],
  ]);

  md.push('\n## ingress: `XADD herald:ingress` (pipelined), hub with Redis\n');
  md.push('Server CPU here is the hub and Redis together (both on CPU 0). An entry counts as acknowledged once `XADD` returned its id.\n');
  md.push(ladderTable(s.ingress?.herald));

  md.push('\n## fanout: one event to 5,000 users, one stream each\n');
  const fo = s.fanout;
  if (fo && !fo.error) {
    md.push(`A publish carries at most ${n(fo.recipientsPerEvent)} recipients (docs/api.md), so Herald gets ${fo.eventsPerFanout} events of ${n(fo.recipientsPerEvent)} recipients, all due at the same instant; Nchan gets one message on one channel all 5,000 streams subscribe to. Latency is from that instant to each subscriber's read. Server CPU: the CPU time of the server processes (the hub, with Redis for the ingress; nginx for Nchan) from the publish until the last stream had it, from /proc in 10 ms ticks.\n`);
    const cols = [['httpLive', 'Herald, HTTP live'], ['httpPersisted', 'Herald, HTTP persisted (SQLite)'], ['ingress', 'Herald, ingress'], ['nchan', 'Nchan']].filter(([k]) => fo[k]);
    md.push(fanoutTable(cols.map(([k, label]) => [label, fo[k]]), undefined, fo.nchan));
  } else md.push(fo?.error ? `_failed: ${fo.error}_\n` : '_not run_\n');

  md.push('\n## fanout-topic: one event to a topic 5,000 streams follow\n');
  const ft = s['fanout-topic'];
  if (ft && !ft.error) {
    md.push(`5,000 users, one stream each, every stream following the topic \`${ft.topic}\` (\`GET /v1/stream?topic=${ft.topic}\`, allowed by the tokens' \`topics\` claim \`${JSON.stringify(ft.tokenTopics)}\`); one \`POST /v1/events\` to the topic per repetition (\`persist: false\`; topics have no inbox), into the hub that holds the streams. Target: the last subscriber within ${TOPIC_TARGET_MS} ms (what Nchan's shared channel measured on the bench machine).${s.fanout?.nchan ? ' The Nchan row repeats the `fanout` scenario\'s (one channel all 5,000 streams subscribe to), for comparison.' : ''} Server CPU: the hub (and Redis, when the hub has one) from the publish until the last stream had it.\n`);
    const rows = TOPIC_PATHS.filter(([k]) => ft[k]).map(([k, label]) => [`Herald, ${label}`, ft[k], mark(topicMet(ft[k]))]);
    if (s.fanout?.nchan) rows.push(['Nchan, one channel (`fanout`)', s.fanout.nchan, '']);
    md.push(fanoutTable(rows, `last subscriber ≤ ${TOPIC_TARGET_MS} ms`, s.fanout?.nchan));
  } else md.push(ft?.error ? `_failed: ${ft.error}_\n` : '_not run_\n');

  md.push('\n## cross-instance: streams on hub A, events published into hub B, one Redis\n');
  md.push('Both hubs and Redis on CPU 0; server CPU is the three together.\n');
  ladders([
    ['A request per event', '', s['cross-instance']?.herald],
    ['Batched', '(`POST /v1/events/batch` into B, as in http-batch)', s['cross-instance']?.batched],
  ]);

  md.push('\n## reconnect-storm: SIGKILL of the hub holding every stream\n');
  const r = s['reconnect-storm'];
  if (r && !r.error && r.streams) {
    md.push('| streams on hub A | publish rate | back-off | all live again after the kill | events acked | lost | dup | out of order | resets | p99 ms | max ms |');
    md.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    md.push(`| ${n(r.streams)} | ${r.rate}/s | 0–${r.backoffMs} ms | ${n(r.allLiveSeconds, 2)} s | ${n(r.acked)} | ${n(r.lost)} | ${n(r.dup)} | ${n(r.outOfOrder)} | ${n(r.resets)} | ${n(r.p99, 1)} | ${n(r.max, 1)} |`);
    md.push('\nThree hubs on one Redis; clients reconnect with `Last-Event-ID` to hub B or C (alternating). Latency includes the time events waited for their client to come back, so it is not judged.\n');
  } else md.push(r?.error ? `_failed: ${r.error}_\n` : '_not run_\n');

  const series = [];
  const addSeries = (name, ladder) => {
    if (ladder?.steps) series.push({ name, points: ladder.steps.filter((st) => !st.skipped).map((st) => ({ rate: st.rate, p99: st.p99, pass: st.pass })) });
  };
  addSeries('HTTP live', s['http-live']?.herald);
  addSeries('persisted SQLite', s['http-persisted']?.sqlite);
  addSeries('persisted PostgreSQL', s['http-persisted']?.postgres);
  addSeries('HTTP live, batched', s['http-batch']?.live);
  addSeries('persisted SQLite, batched', s['http-batch']?.sqlite);
  addSeries('persisted PostgreSQL, batched', s['http-batch']?.postgres);
  addSeries('Redis ingress', s.ingress?.herald);
  addSeries('cross-instance', s['cross-instance']?.herald);
  addSeries('cross-instance, batched', s['cross-instance']?.batched);
  addSeries('Nchan HTTP', s['http-live']?.nchan);
  return { markdown: `${md.join('\n')}\n`, svg: p99Chart(series, { title: `Herald p99 latency against publish rate (${date})` }), date };
}
