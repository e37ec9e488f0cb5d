import { Injectable } from '@nestjs/common';
import { compareEventIds, START_ID } from '#herald/contracts/event-id';
import { HubConfig } from '../config/config.js';
import { PreparedEvent, StreamMessage, streamMessage } from '../events/stream-message.js';
import { RedisConnections, SCRIPT_COMMANDS } from '../redis/redis.connections.js';
import type { Replay } from './replay.js';

/**
 * Appends an event to each recipient's log and publishes it on the
 * recipient's channel, in one script, so that a user's log order and live
 * order are the same across all instances. Optionally skips the whole call
 * when its dedupe marker is already set (a retried publication), and
 * acknowledges an ingress entry in the same step, only if this consumer
 * still owns it.
 *
 * KEYS: logs[1..n], then the dedupe marker if any, then the ingress stream if acking.
 * ARGV: n, maxlen, ttlMs, type, tail, publish command, marker ttl ('' = none),
 *       group ('' = no ack), consumer, entry id, channels[1..n].
 */
const APPEND = `
local n = tonumber(ARGV[1])
local group = ARGV[8]
if group ~= '' then
  local pending = redis.call('XPENDING', KEYS[#KEYS], group, ARGV[10], ARGV[10], 1, ARGV[9])
  if #pending == 0 then return -1 end
end
if ARGV[7] ~= '' and not redis.call('SET', KEYS[n + 1], '1', 'NX', 'PX', ARGV[7]) then return 0 end
for i = 1, n do
  local id = redis.call('XADD', KEYS[i], 'MAXLEN', ARGV[2], '*', 't', ARGV[4], 'b', ARGV[5])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
  redis.call(ARGV[6], ARGV[10 + i], id .. '\\n' .. ARGV[4] .. '\\n' .. ARGV[5])
end
if group ~= '' then redis.call('XACK', KEYS[#KEYS], group, ARGV[10]) end
return n
`;

/**
 * A user's log position and, if asked, its events after an id, read at one
 * instant: { newest id, newest trimmed id, oldest kept id, entries }.
 * KEYS: the log. ARGV: the id to read after ('' = none).
 */
const READ = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, deleted, first
for i = 1, #info, 2 do
  local name = info[i]
  if name == 'last-generated-id' then last = info[i + 1]
  elseif name == 'max-deleted-entry-id' then deleted = info[i + 1]
  elseif name == 'first-entry' and info[i + 1] then first = info[i + 1][1]
  end
end
if ARGV[1] == '' then return { last, deleted, first or last, {} } end
return { last, deleted, first or last, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+') }
`;

type Entry = [id: string, fields: string[]];
type ReadResult = [last: string, deleted: string, first: string, entries: Entry[]] | null;

export interface AppendOptions {
  /** Acknowledge this ingress entry in the same step, if this consumer still owns it. */
  ack?: { group: string; consumer: string; entryId: string };
  /** Do nothing if a publication with this key was appended within the window (a retry). */
  dedupe?: { key: string; windowMs: number };
}

interface ScriptedClient {
  heraldAppend(numKeys: number, ...args: (string | number)[]): Promise<number>;
  heraldRead(numKeys: number, ...args: string[]): Promise<ReadResult>;
}

/**
 * The scaled-out replay log: one Redis stream per user, capped at exactly
 * REPLAY_MAX_EVENTS entries (approximate trimming only drops whole nodes of
 * 100 entries, so a small window would never be trimmed) and expiring REPLAY_TTL_MS after the user's last
 * event. Ids are the stream's own, so they increase per user across instances.
 */
@Injectable()
export class RedisReplayLog {
  private readonly client: ScriptedClient;
  private readonly publishCommand: string;

  constructor(
    private readonly redis: RedisConnections,
    private readonly config: HubConfig,
  ) {
    const { append, read } = SCRIPT_COMMANDS;
    redis.commands.defineCommand(append, { lua: APPEND });
    redis.commands.defineCommand(read, { lua: READ });
    this.client = redis.commands as unknown as ScriptedClient;
    this.publishCommand = redis.cluster ? 'SPUBLISH' : 'PUBLISH';
  }

  /**
   * Stores and publishes the event for `recipients` in one script. Redis
   * Cluster keeps each user in a slot of its own, so there it takes one call
   * per recipient.
   * @returns the number of recipients served now: 0 for a duplicate, -1 when
   *   `ack` is given and this consumer no longer owns the entry.
   */
  append(event: PreparedEvent, recipients: readonly string[], options: AppendOptions = {}): Promise<number> {
    const { keys } = this.redis;
    const { ack, dedupe } = options;
    const marker = dedupe ? [keys.seen(dedupe.key, this.redis.cluster ? recipients[0] : undefined)] : [];
    const keyList = [...recipients.map((r) => keys.log(r)), ...marker, ...(ack ? [keys.ingress] : [])];
    return this.client.heraldAppend(
      keyList.length,
      ...keyList,
      recipients.length,
      this.config.replayMaxEvents,
      this.config.replayTtlMs,
      event.type,
      event.tail,
      this.publishCommand,
      dedupe ? dedupe.windowMs : '',
      ack?.group ?? '',
      ack?.consumer ?? '',
      ack?.entryId ?? '',
      ...recipients.map((r) => keys.channel(r)),
    );
  }

  /**
   * Everything after `afterId` for the user, or a reset when some of it is
   * gone: the log was trimmed past it, or the id is older than the log itself
   * (the log expired and began again). `0` (a client that had seen nothing)
   * replays the whole log unless it was trimmed.
   */
  async read(userId: string, afterId: string | null): Promise<Replay> {
    const result = await this.client.heraldRead(1, this.redis.keys.log(userId), afterId === null ? '' : fullId(afterId));
    const isStart = afterId !== null && compareEventIds(afterId, START_ID) === 0;
    if (!result) return { head: START_ID, events: afterId === null || isStart ? [] : null };
    const [last, deleted, first, entries] = result;
    if (afterId === null) return { head: last, events: [] };
    const trimmed = compareEventIds(deleted, START_ID) > 0;
    const missing = isStart
      ? trimmed
      : compareEventIds(afterId, trimmed ? deleted : first) < 0 || compareEventIds(afterId, last) > 0;
    return { head: last, events: missing ? null : entries.map(toMessage) };
  }
}

/** Redis reads `(5` as after 5-0; an id without sequence means all of that millisecond. */
function fullId(id: string): string {
  return id.includes('-') ? id : `${id}-0`;
}

function toMessage([id, fields]: Entry): StreamMessage {
  let type = '';
  let tail = '';
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 't') type = fields[i + 1];
    else if (fields[i] === 'b') tail = fields[i + 1];
  }
  return streamMessage(id, type, tail);
}

/** Parses a channel payload (`id\ntype\ntail`) written by the append script. */
export function parsePublished(payload: string): StreamMessage {
  const a = payload.indexOf('\n');
  const b = payload.indexOf('\n', a + 1);
  return streamMessage(payload.slice(0, a), payload.slice(a + 1, b), payload.slice(b + 1));
}
