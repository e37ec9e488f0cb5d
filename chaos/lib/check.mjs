// The verdict. What each tab must have received:
// - a tab open (its first `ready` received) before an event's first publish
//   attempt must receive it if it was acknowledged: exactly once. Every tab
//   opened at the start is open before every event; a tab opened during the
//   run owes only the events published after its first `ready` (earlier ones
//   may come too, at most once: a reconnecting client replays from its `ready`
//   id, and an event in flight at that moment may be before or after it);
// - an event never acknowledged (the run ended first, an XADD or comment
//   whose answer was lost) at most once;
// - on each tab, each publisher's events in publish order (among its events
//   with the same `persist`: a live event may overtake a persisted one, as the
//   API says for a batch); event ids strictly increasing over the tab's whole
//   life, across reconnects; `ready` carrying the id the tab resumed from;
// - no `reset`: the hubs run with a replay window larger than the run
//   (REPLAY_MAX_EVENTS 1,000,000, 1 GiB, 2 h), and Redis keeps its data
//   across restarts, so no client is ever away longer than the window allows;
// - nothing for a user it was not addressed to.
// Counted per notification (an acknowledged event × one of its recipients):
// `delivered` when every tab of the recipient that owed it got it, `lost`
// when one did not, `duplicated` when a tab got it more than once.
import { compareIds } from './clients.mjs';
import { exitSummary } from './report.mjs';
import { percentile } from './util.mjs';

export function check({ ledger, tabs }) {
  const tabsByUser = new Map();
  for (const tab of tabs) {
    if (!tabsByUser.has(tab.user)) tabsByUser.set(tab.user, []);
    tabsByUser.get(tab.user).push(tab);
  }
  // Receptions per tab: key → frames.
  const received = new Map();
  for (const tab of tabs) {
    const byKey = new Map();
    for (const frame of tab.events) {
      if (!byKey.has(frame.key)) byKey.set(frame.key, []);
      byKey.get(frame.key).push(frame);
    }
    received.set(tab, byKey);
  }

  const result = {
    events: { acked: 0, unacked: 0, rejected: 0, pending: 0 },
    byKind: {},
    owed: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    lostExamples: [],
    duplicateExamples: [],
    unackedDelivered: 0,
    unackedDuplicated: 0,
    lateTabExtra: 0,
    misrouted: [],
    outOfOrder: [],
    idViolations: [],
    readyMismatches: [],
    sentMismatches: [],
    resets: [],
    delays: {},
    maxDelay: null,
    frames: 0,
  };
  const kind = (k) =>
    (result.byKind[k] ??= { events: 0, acked: 0, unacked: 0, rejected: 0, owed: 0, delivered: 0, lost: 0, duplicated: 0, unackedDelivered: 0 });

  for (const event of ledger.all()) {
    const stats = kind(event.kind);
    stats.events++;
    const status = event.status;
    result.events[status] = (result.events[status] ?? 0) + 1;
    if (status === 'acked') stats.acked++;
    else if (status === 'rejected') stats.rejected++;
    else stats.unacked++;
    const recipients = event.recipients ?? [];
    let anyDelivered = false;
    for (const user of recipients) {
      const userTabs = tabsByUser.get(user) ?? [];
      let missing = [];
      let twice = [];
      for (const tab of userTabs) {
        const frames = received.get(tab).get(event.key) ?? [];
        if (frames.length > 0) anyDelivered = true;
        if (frames.length > 1) twice.push({ tab: tab.id, times: frames.length, ids: frames.map((f) => f.id) });
        const owes = status === 'acked' && tab.firstReadyAt !== null && tab.firstReadyAt <= event.startedAt;
        if (owes && frames.length === 0) missing.push(tab.id);
        if (!owes && status === 'acked' && frames.length > 0) result.lateTabExtra++;
        if (owes && frames.length > 0) {
          const delay = frames[0].at - event.startedAt;
          (result.delays[event.kind] ??= []).push(delay);
          if (!result.maxDelay || delay > result.maxDelay.ms) result.maxDelay = { ms: delay, key: event.key, user, tab: tab.id };
        }
      }
      if (status === 'acked') {
        result.owed++;
        stats.owed++;
        if (missing.length > 0) {
          result.lost++;
          stats.lost++;
          if (result.lostExamples.length < 20) {
            result.lostExamples.push({ key: event.key, kind: event.kind, persist: event.persist, user, tabs: missing, event, where: whereLost(event, userTabs, missing, received) });
          }
        } else {
          result.delivered++;
          stats.delivered++;
        }
        if (twice.length > 0) {
          result.duplicated++;
          stats.duplicated++;
          if (result.duplicateExamples.length < 20) result.duplicateExamples.push({ key: event.key, kind: event.kind, user, twice, event });
        }
      } else if (twice.length > 0) {
        result.unackedDuplicated++;
        result.duplicated++;
        stats.duplicated++;
        if (result.duplicateExamples.length < 20) result.duplicateExamples.push({ key: event.key, kind: event.kind, user, twice, event, unacked: true });
      }
    }
    if (status !== 'acked' && anyDelivered) {
      result.unackedDelivered++;
      stats.unackedDelivered++;
    }
  }

  for (const tab of tabs) {
    result.frames += tab.events.length;
    // Misrouted: a frame whose event is unknown, or not addressed to this user.
    for (const frame of tab.events) {
      const event = ledger.get(frame.key);
      if (!event || !(event.recipients ?? []).includes(tab.user)) {
        if (result.misrouted.length < 20) result.misrouted.push({ tab: tab.id, user: tab.user, key: frame.key, id: frame.id });
        else result.misrouted.push(null);
      }
    }
    // Publish order, per publisher and persist, on first receptions.
    const highest = new Map();
    const seen = new Set();
    for (const frame of tab.events) {
      if (seen.has(frame.key)) continue;
      seen.add(frame.key);
      const event = ledger.get(frame.key);
      if (!event) continue;
      const group = `${event.pub}/${event.persist ? 'persisted' : 'live'}`;
      const before = highest.get(group);
      if (before && before.q > event.q) {
        result.outOfOrder.push({ tab: tab.id, group, key: frame.key, id: frame.id, after: before.key, afterId: before.id });
      } else {
        highest.set(group, { q: event.q, key: frame.key, id: frame.id });
      }
    }
    for (const v of tab.idViolations) result.idViolations.push({ tab: tab.id, what: v });
    for (const v of tab.readyMismatches) result.readyMismatches.push({ tab: tab.id, ...v });
    for (const v of tab.sentMismatches) result.sentMismatches.push({ tab: tab.id, ...v });
    for (const v of tab.resets) result.resets.push({ tab: tab.id, ...v });
  }

  const delays = {};
  for (const [k, list] of Object.entries(result.delays)) {
    list.sort((a, b) => a - b);
    delays[k] = { n: list.length, p50: percentile(list, 50), p99: percentile(list, 99), max: list[list.length - 1] };
  }
  const all = Object.values(result.delays).flat().sort((a, b) => a - b);
  delays.all = { n: all.length, p50: percentile(all, 50), p99: percentile(all, 99), max: all[all.length - 1] ?? 0 };
  result.delays = delays;
  return result;
}

/**
 * Where a lost event fell, from the tabs of its user that did get it (a
 * user's ids are the same on all its streams): on each tab that missed it,
 * the frames just before and after that id, and whether they came on one
 * connection (the event was skipped on an open stream) or across a reconnect
 * (the replay missed it).
 */
function whereLost(event, userTabs, missing, received) {
  let id = null;
  for (const tab of userTabs) {
    const frames = received.get(tab).get(event.key);
    if (frames?.length) {
      id = frames[0].id;
      break;
    }
  }
  if (id === null) return 'no tab of the user got it';
  return missing
    .map((tabId) => {
      const tab = userTabs.find((t) => t.id === tabId);
      let before = null;
      let after = null;
      for (const frame of tab.events) {
        const c = compareIds(frame.id, id);
        if (c < 0 && (!before || compareIds(frame.id, before.id) > 0)) before = frame;
        if (c > 0 && (!after || compareIds(frame.id, after.id) < 0)) after = frame;
      }
      const show = (f) => (f ? `${f.key} (id ${f.id}, connection #${f.conn})` : 'nothing');
      const how = before && after && before.conn === after.conn ? 'skipped on one open stream' : 'across a reconnect or at an end';
      return `other tabs got it as id ${id}; ${tabId} got ${show(before)} before it and ${show(after)} after it: ${how}`;
    })
    .join('; ');
}

/** Notifications still owed to tabs: what the settle phase waits for. */
export function outstanding({ ledger, tabs }) {
  const byUser = new Map();
  for (const tab of tabs) {
    if (!tab.seen) tab.seen = new Set();
    for (let i = tab.seenUpTo ?? 0; i < tab.events.length; i++) tab.seen.add(tab.events[i].key);
    tab.seenUpTo = tab.events.length;
    if (!byUser.has(tab.user)) byUser.set(tab.user, []);
    byUser.get(tab.user).push(tab);
  }
  let missing = 0;
  let pending = 0;
  for (const event of ledger.events.values()) {
    if (event.status === 'pending') pending++;
    if (event.status !== 'acked' || !event.recipients) continue;
    for (const user of event.recipients) {
      for (const tab of byUser.get(user) ?? []) {
        if (tab.firstReadyAt !== null && tab.firstReadyAt <= event.startedAt && !tab.seen.has(event.key)) missing++;
      }
    }
  }
  return { missing, pending };
}

/** Persisted events in the inboxes: each acknowledged one once per recipient, none twice. */
export function checkInboxes({ ledger, inboxes }) {
  const out = { read: 0, missing: 0, twice: 0, foreign: 0, examples: [] };
  const counts = new Map();
  for (const [user, items] of inboxes) {
    for (const item of items) {
      out.read++;
      const key = item.key;
      const event = key && ledger.get(key);
      if (!event || !(event.recipients ?? []).includes(user) || !event.persist) {
        out.foreign++;
        if (out.examples.length < 10) out.examples.push(`inbox of ${user} holds ${key ?? JSON.stringify(item.data)}, not addressed to it`);
        continue;
      }
      const k = `${user}|${key}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  for (const event of ledger.events.values()) {
    if (!event.persist || !event.recipients) continue;
    for (const user of event.recipients) {
      if (!inboxes.has(user)) continue;
      const n = counts.get(`${user}|${event.key}`) ?? 0;
      if (n > 1) {
        out.twice++;
        if (out.examples.length < 10) out.examples.push(`${event.key} (${event.status}) is ${n} times in the inbox of ${user}`);
      }
      if (n === 0 && event.status === 'acked') {
        out.missing++;
        if (out.examples.length < 10) out.examples.push(`${event.key} (acknowledged) is not in the inbox of ${user}`);
      }
    }
  }
  return out;
}

/**
 * What fails the run (exit status 1): anything that breaks a delivery
 * guarantee (loss, duplicates, ids, a reset, misrouting, the inboxes).
 * Findings are reported but fail the run only with CHAOS_STRICT=1: a
 * publisher's events out of publish order, hubs that exited by themselves,
 * 500 answers, work left in the outbox or the ingress at the end.
 */
export function verdict({ result, inbox, commentProblems, hubs, diag, settled, hubLog, executed }) {
  const fatal = [];
  const findings = [];
  if (result.owed === 0) fatal.push('nothing was acknowledged: the run published nothing it could check');
  if (result.lost > 0) fatal.push(`${result.lost} notification(s) lost`);
  if (result.duplicated > 0) fatal.push(`${result.duplicated} notification(s) duplicated`);
  if (result.idViolations.length > 0) fatal.push(`${result.idViolations.length} event id(s) not strictly increasing on a tab`);
  if (result.readyMismatches.length > 0) fatal.push(`${result.readyMismatches.length} \`ready\` frame(s) not carrying the Last-Event-ID sent`);
  if (result.resets.length > 0) fatal.push(`${result.resets.length} reset(s), none justified`);
  if (result.misrouted.length > 0) fatal.push(`${result.misrouted.length} frame(s) for events not addressed to the tab's user`);
  if (inbox.missing + inbox.twice + inbox.foreign > 0) fatal.push(`inboxes: ${inbox.missing} missing, ${inbox.twice} twice, ${inbox.foreign} foreign`);
  if (commentProblems.length > 0) fatal.push(`${commentProblems.length} comment(s) stored wrongly`);

  if (result.outOfOrder.length > 0) {
    const groups = [...new Set(result.outOfOrder.map((o) => o.group))];
    findings.push(`${result.outOfOrder.length} frame(s) out of publish order (${groups.join(', ')})`);
  }
  for (const hub of hubs) {
    if (hub.unexpectedExits.length > 0) {
      findings.push(`hub${hub.index} exited by itself ${hub.unexpectedExits.length}× (${exitSummary(hub.unexpectedExits)}): see its log`);
    }
  }
  for (const f of executed) {
    for (const code of f.exitCodes ?? []) if (code !== 0) findings.push(`a hub ended with ${code} after SIGTERM (rolling restart at t+${f.startedAt.toFixed(1)}s)`);
  }
  if (hubLog.unexpected > 0) findings.push(`${hubLog.unexpected} answer(s) were unexpected errors (500) in the hubs' logs`);
  if (diag.outbox !== 0) findings.push(`outbox not empty at the end: ${diag.outbox}`);
  if (diag.ingressPending) findings.push(`ingress entries still pending at the end: ${diag.ingressPending}`);
  if (diag.deadLetters) findings.push(`ingress dead letters: ${diag.deadLetters}`);
  if (!settled) findings.push('not everything owed had arrived when the settle time ran out');
  return { fatal, findings };
}
