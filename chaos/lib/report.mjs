// The summary printed at the end of a chaos run (the last line, printed by
// run.mjs after it, is `published N, delivered N, lost L, duplicated D`).

const s = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const pad = (text, n) => String(text).padEnd(n);

/** Warnings and errors the hubs logged (JSON lines in production), by message with numbers blanked. */
export function hubLogLines(logs) {
  const counts = new Map();
  let dropped = 0;
  let unexpected = 0;
  for (const text of logs) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      const msg = String(entry.msg ?? '');
      if (msg.includes('The client is not reading its events')) dropped++;
      if (entry.context === 'HTTP' && entry.res?.statusCode === 500) unexpected++;
      const shape = `${entry.level} ${entry.context ? `[${entry.context}] ` : ''}${msg
        .replace(/\[[0-9a-f-]{36}\]/gi, '[request]')
        .replace(/\d+(\.\d+)?/g, 'N')
        .slice(0, 140)}`;
      counts.set(shape, (counts.get(shape) ?? 0) + 1);
    }
  }
  return { dropped, unexpected, lines: [...counts.entries()].sort((a, b) => b[1] - a[1]) };
}

/** Exits by status: `code 1 ×23, SIGKILL ×1`. */
export function exitSummary(exits) {
  const counts = new Map();
  for (const e of exits) {
    const what = e.code !== null && e.code !== undefined ? `code ${e.code}` : String(e.signal);
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts.entries()].map(([what, n]) => `${what} ×${n}`).join(', ');
}

export function report(r) {
  const out = [];
  const line = (text = '') => out.push(text);
  const { result, ledger, tabs, nemesis } = r;

  line('');
  line('==================== Herald chaos run: summary ====================');
  line(`seed ${r.seed} (CHAOS_SEED=${r.seed} CHAOS_SECONDS=${r.seconds} reproduces the schedule); ${r.seconds} s of faults`);
  line(`3 hubs behind a round-robin proxy, Redis (AOF, fsync always), PostgreSQL; ${r.users.length} users, ${tabs.length} tabs (${r.initial.length} from the start, ${tabs.length - r.initial.length} opened during the run; ${tabs.filter((t) => t.mode === 'ticket').length} on stream tickets)`);

  // Faults.
  line('');
  const byKind = new Map(r.faultKinds.map((k) => [k, 0]));
  for (const f of nemesis.executed) if (byKind.has(f.kind)) byKind.set(f.kind, byKind.get(f.kind) + 1);
  const injected = [...byKind.values()].reduce((a, b) => a + b, 0);
  const planned = nemesis.faults.filter((f) => byKind.has(f.kind)).length;
  line(`faults injected: ${injected}  (${[...byKind.entries()].map(([k, n]) => `${k} ${n}`).join(', ')})`);
  if (planned > injected) line(`  (${planned} planned: the other ${planned - injected} were due after the end, as faults before them in their lane ran long)`);
  for (const f of nemesis.executed) {
    if (f.kind === 'tab-open') continue;
    line(`  ${pad(`t+${f.startedAt.toFixed(1)}s`, 9)}${pad(`${(f.endedAt - f.startedAt).toFixed(1)} s`, 8)}${pad(f.kind, 20)}${f.note || ''}`);
  }
  const stalls = nemesis.executed.filter((f) => f.kind === 'client-stall').length;
  const logs = r.hubLog;
  line(`stalled tabs: ${stalls}; streams the hubs dropped for not reading (1 MiB waiting): ${logs.dropped}; flood events ${r.flood.q}`);
  line(`hub processes: ${r.hubs.map((h) => `hub${h.index} started ${h.starts}×${h.unexpectedExits.length ? `, exited by itself ${h.unexpectedExits.length}× (${exitSummary(h.unexpectedExits)})` : ''}`).join('; ')}`);
  line(`Redis started ${r.redis.starts}×, PostgreSQL started ${r.postgres.starts}×; proxy: ${r.proxy.connections} connections, ${r.proxy.refused} refused (no hub up)`);

  // Publishers.
  line('');
  line('publishers            events  acked  unacked  refused  failed attempts  errors seen');
  for (const w of r.workers) {
    const events = ledger.all().filter((e) => e.pub === w.name);
    const count = (status) => events.filter((e) => e.status === status).length;
    const errors = Object.entries(w.errors).map(([k, n]) => `${k} ${n}`).join(', ');
    line(`  ${pad(`${w.name} (${w.kind})`, 20)}${pad(events.length, 8)}${pad(count('acked'), 7)}${pad(count('unacked') + count('pending'), 9)}${pad(count('rejected'), 9)}${pad(w.failedAttempts, 17)}${errors}`);
  }
  const persisted = ledger.all().filter((e) => e.status === 'acked' && e.persist).length;
  line(`  acknowledged events: ${result.events.acked} (${persisted} persisted, ${result.events.acked - persisted} live)`);

  // Streams.
  line('');
  const readies = tabs.reduce((a, t) => a + t.readies, 0);
  const reconnects = readies - tabs.filter((t) => t.readies > 0).length;
  const causes = {};
  for (const tab of tabs) for (const [k, n] of Object.entries(tab.errors)) causes[k] = (causes[k] ?? 0) + n;
  const most = tabs.reduce((a, t) => (t.readies > (a?.readies ?? 0) ? t : a), null);
  line(`streams: ${reconnects} reconnects (a \`ready\` after the first; ${most ? `at most ${most.readies - 1} on ${most.id}` : ''}); ${tabs.reduce((a, t) => a + t.eventSources, 0)} EventSources opened, ${tabs.reduce((a, t) => a + t.connectAttempts, 0)} connection attempts`);
  line(`  why streams broke: ${Object.entries(causes).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || 'never'}`);
  line(`  event frames received: ${result.frames}`);

  // Delays.
  line('');
  line('delivery delay, first publish attempt → frame on a tab that owed it:');
  for (const [kind, d] of Object.entries(result.delays)) {
    line(`  ${pad(kind, 10)} n ${pad(d.n, 8)} p50 ${pad(s(d.p50), 9)} p99 ${pad(s(d.p99), 9)} max ${s(d.max)}`);
  }
  if (result.maxDelay) line(`  slowest: ${result.maxDelay.key} to ${result.maxDelay.tab}, ${s(result.maxDelay.ms)}`);

  // Checks.
  line('');
  line('checks:');
  const kinds = Object.entries(result.byKind);
  line('  kind      events  acked  unacked  notifications owed  delivered  lost  duplicated  unacked delivered (≤ once)');
  for (const [kind, k] of kinds) {
    line(`  ${pad(kind, 10)}${pad(k.events, 8)}${pad(k.acked, 7)}${pad(k.unacked, 9)}${pad(k.owed, 20)}${pad(k.delivered, 11)}${pad(k.lost, 6)}${pad(k.duplicated, 12)}${k.unackedDelivered}`);
  }
  const verdict = (n, what) => `${n === 0 ? 'ok  ' : 'FAIL'} ${what}`;
  line(`  ${verdict(result.lost, `lost: ${result.lost}`)}`);
  for (const ex of result.lostExamples.slice(0, 10)) {
    const e = ex.event;
    line(`       ${ex.key} (${ex.kind}, ${e.persist ? 'persisted' : 'live'}${e.batch ? `, batch ${e.batch}` : ''}, ${e.attempts} attempt(s), first at t+${((e.startedAt - nemesis.clock.start) / 1000).toFixed(1)}s, acked at t+${((e.ackedAt - nemesis.clock.start) / 1000).toFixed(1)}s) never reached ${ex.tabs.join(', ')}`);
    line(`         ${ex.where}`);
  }
  line(`  ${verdict(result.duplicated, `duplicated: ${result.duplicated} (of them never acknowledged: ${result.unackedDuplicated})`)}`);
  for (const ex of result.duplicateExamples.slice(0, 10)) {
    line(`       ${ex.key} (${ex.kind}${ex.unacked ? ', unacknowledged' : ''}) ${ex.twice.map((t) => `${t.times}× on ${t.tab} (ids ${t.ids.join(', ')})`).join('; ')}`);
  }
  line(`  ${result.outOfOrder.length === 0 ? 'ok  ' : 'WARN'} out of publish order (per publisher and persist): ${result.outOfOrder.length}`);
  for (const o of result.outOfOrder.slice(0, 10)) line(`       ${o.tab}: ${o.key} (id ${o.id}) after ${o.after} (id ${o.afterId}) [${o.group}]`);
  line(`  ${verdict(result.idViolations.length, `ids not strictly increasing on a tab: ${result.idViolations.length}`)}`);
  for (const v of result.idViolations.slice(0, 5)) line(`       ${v.tab}: ${v.what}`);
  line(`  ${verdict(result.readyMismatches.length, `\`ready\` id not the Last-Event-ID sent: ${result.readyMismatches.length}`)}`);
  for (const v of result.readyMismatches.slice(0, 5)) line(`       ${v.tab}: sent ${v.sent}, ready ${v.ready}`);
  line(`  ${verdict(result.resets.length, `resets: ${result.resets.length} (the window exceeds the run, so none is justified)`)}`);
  for (const v of result.resets.slice(0, 5)) line(`       ${v.tab}: ${v.data} id ${v.id}`);
  line(`  ${verdict(result.misrouted.length, `frames for events not addressed to the tab's user: ${result.misrouted.length}`)}`);
  for (const v of result.misrouted.filter(Boolean).slice(0, 5)) line(`       ${v.tab}: ${v.key} id ${v.id}`);
  line(`  ${verdict(r.inbox.missing + r.inbox.twice + r.inbox.foreign, `inboxes (${r.inbox.read} items read): persisted acknowledged events missing ${r.inbox.missing}, twice ${r.inbox.twice}, foreign ${r.inbox.foreign}`)}`);
  for (const ex of r.inbox.examples) line(`       ${ex}`);
  line(`  ${verdict(r.commentProblems.length, `comments as stored: ${r.commentProblems.length} problem(s)`)}`);
  for (const p of r.commentProblems.slice(0, 5)) line(`       ${p}`);
  const unparsable = tabs.reduce((a, t) => a + t.unparsable, 0);
  const foreign = tabs.reduce((a, t) => a + t.foreignTypes, 0);
  line(`  info: Last-Event-ID sent ≠ last id seen (a frame type not listened to): ${result.sentMismatches.length}; frames of other types: ${foreign}; unreadable frames: ${unparsable}; events for late tabs published before they opened (allowed): ${result.lateTabExtra}`);
  line(`  info: left at the end: outbox ${r.diag.outbox}, ingress pending ${r.diag.ingressPending ?? '?'}, dead letters ${r.diag.deadLetters ?? '?'}; Redis memory ${r.diag.redisMemory ?? '?'}`);
  for (const d of r.diag.deadLetterSamples ?? []) line(`       dead letter: ${d}`);
  if (!r.settled) line('  note: not everything owed had arrived when the settle time ran out');
  line(`  recovery ${s(r.timings.recoverMs)}, settle ${s(r.timings.settleMs)}`);

  line('');
  line('hub warnings and errors (all hubs, by message):');
  const hubLines = logs.lines.slice(0, 12);
  for (const [shape, n] of hubLines) line(`  ${pad(n, 6)}${shape}`);
  if (logs.lines.length === 0) line('  none');

  line('');
  line(`findings (reported; they fail the run only with CHAOS_STRICT=1): ${r.verdict.findings.length === 0 ? 'none' : ''}`);
  for (const f of r.verdict.findings) line(`  - ${f}`);
  line(`verdict: ${r.verdict.fatal.length === 0 ? 'PASS' : `FAIL: ${r.verdict.fatal.join('; ')}`}${r.strict && r.verdict.findings.length > 0 ? ' (CHAOS_STRICT=1: findings fail the run)' : ''}`);

  line('');
  line('published = notifications owed: acknowledged events (HTTP 202, XADD entry id, comment 201) × their recipients;');
  line('delivered = those that reached every tab of the recipient that was open before the event was first published,');
  line('lost = those that missed one of those tabs, duplicated = those a tab received more than once.');
  return out.join('\n');
}
