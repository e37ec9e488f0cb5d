// The publisher process (forked by publisher.mjs). Open loop: event i of a step
// is due at t0 + i/rate and is stamped with that scheduled time, whatever the
// backlog, so a slow hub shows as latency rather than as a slower publisher
// (no coordinated omission). Paths: Herald over HTTP (an event per request, or
// batched: what is due at a tick in one POST /v1/events/batch), Nchan over
// HTTP, and XADD into Herald's Redis ingress stream (pipelined).
import { Redis } from 'ioredis';
import { now } from './clock.mjs';
import { postHead, RawHttpPool } from './raw-http.mjs';
import { serviceToken, userId } from './tokens.mjs';

/** The most events POST /v1/events/batch takes. */
const BATCH_MAX = 500;
/**
 * Batch requests under way at once. What falls due meanwhile waits for the next
 * one, so batches grow with the rate instead of the request rate growing: as a
 * publisher that batches would do it (and as the hub's group commit does).
 */
const BATCHES_IN_FLIGHT = 4;

let pool = null;
let redis = null;
let target = null;

function connect(message) {
  target = message;
  if (message.mode === 'xadd') {
    redis = new Redis(message.redisUrl, { enableAutoPipelining: false, maxRetriesPerRequest: 1 });
  } else {
    pool = new RawHttpPool({ host: message.host, port: message.port, connections: message.connections ?? 64 });
  }
}

/**
 * The JSON body of event `e` ({q, recipients, topics?, channel?}) of step s, scheduled
 * at t (Herald: an envelope; Nchan: the bare data). `topics` (Herald): the topics it
 * goes to, besides or instead of `recipients`. The data names its user (`u`, which the
 * subscribers check) only when it goes to one user, not to a shared channel.
 */
function body(s, t, { q, recipients, topics, channel }) {
  const unicast = recipients.length === 1 && channel === undefined && !topics?.length;
  const data = `{"s":${s},"q":${q},"t":${t}${unicast ? `,"u":"${recipients[0]}"` : ''}}`;
  if (target.mode === 'nchan') return data;
  const to = topics?.length
    ? `${recipients.length > 0 ? `"recipients":${JSON.stringify(recipients)},` : ''}"topics":${JSON.stringify(topics)}`
    : `"recipients":${JSON.stringify(recipients)}`;
  return `{"type":"bench",${to},"persist":${target.persist},"data":${data}}`;
}

/**
 * Sends `events`: [{q, recipients, topics?, channel?}], each at its scheduled time `due(i)`;
 * resolves to {acked: [q], failed, statuses, unsent} once every answer is in or `deadline` passes.
 */
function sendAll(step, events, due, deadline) {
  return new Promise((resolve) => {
    const acked = [];
    const statuses = {};
    let answered = 0;
    let i = 0;
    let batchesInFlight = 0;
    let timer = null;
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ acked, statuses, unanswered: events.length - answered, sent: i });
    };
    const onAnswer = (q, status) => {
      answered++;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) acked.push(q);
      if (answered === events.length) finish();
    };
    const guard = setTimeout(() => {
      pool?.close();
      if (pool) connect(target); // a fresh pool for the next step
      finish();
    }, Math.max(0, deadline - now()));
    const auth = target.mode === 'nchan' ? null : `Bearer ${serviceToken()}`;
    const heads = new Map();
    const headFor = (path) => {
      let head = heads.get(path);
      if (!head) heads.set(path, (head = postHead(path, `${target.host}:${target.port}`, auth)));
      return head;
    };
    const tick = () => {
      const at = now();
      if (target.mode === 'xadd') {
        const pipeline = redis.pipeline();
        const batch = [];
        while (i < events.length && due(i) <= at) {
          const e = events[i];
          pipeline.xadd(target.stream, '*', 'envelope', body(step, due(i), e));
          batch.push(e.q);
          i++;
        }
        if (batch.length > 0) {
          pipeline.exec().then(
            (results) => results.forEach(([err], k) => onAnswer(batch[k], err ? 0 : 200)),
            () => batch.forEach((q) => onAnswer(q, 0)),
          );
        }
      } else if (target.mode === 'batch') {
        while (batchesInFlight < BATCHES_IN_FLIGHT && i < events.length && due(i) <= at) {
          const chunk = [];
          const bodies = [];
          while (i < events.length && due(i) <= at && chunk.length < BATCH_MAX) {
            chunk.push(events[i].q);
            bodies.push(body(step, due(i), events[i]));
            i++;
          }
          batchesInFlight++;
          pool.send(headFor('/v1/events/batch'), `{"events":[${bodies.join(',')}]}`, (status) => {
            batchesInFlight--;
            chunk.forEach((q) => onAnswer(q, status));
          });
        }
      } else {
        while (i < events.length && due(i) <= at) {
          const e = events[i];
          const path = target.mode === 'nchan' ? `/pub/${e.channel ?? e.recipients[0]}` : '/v1/events';
          pool.send(headFor(path), body(step, due(i), e), (status) => onAnswer(e.q, status));
          i++;
        }
      }
      if (i < events.length) timer = setTimeout(tick, Math.max(0, Math.min(1, due(i) - now())));
    };
    tick();
  });
}

process.on('message', async (message) => {
  if (message.cmd === 'connect') {
    connect(message);
    return process.send({ type: 'connected' });
  }
  if (message.cmd === 'rate') {
    // Unicast at a fixed rate: event q to user q mod users.
    const { step, rate, durationMs, users, firstUser = 0, graceMs } = message;
    const total = Math.round((rate * durationMs) / 1000);
    const events = Array.from({ length: total }, (_, q) => ({ q, recipients: [userId(firstUser + (q % users))] }));
    const t0 = now() + 20;
    const result = await sendAll(step, events, (i) => t0 + (i * 1000) / rate, t0 + durationMs + graceMs);
    return process.send({ type: 'done', ...result, t0 });
  }
  if (message.cmd === 'burst') {
    // Fan-out: every event of the burst due at the same instant; with `topic`, each goes to it too.
    const { step, groups, channel, topic } = message;
    const topics = topic === undefined ? undefined : [topic];
    const events = groups.map((recipients, q) => ({ q, recipients, topics, channel }));
    const t0 = now() + 5;
    const result = await sendAll(step, events, () => t0, t0 + 10_000);
    return process.send({ type: 'done', ...result, t0 });
  }
  if (message.cmd === 'close') {
    pool?.close();
    redis?.disconnect();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
