import { Injectable } from '@nestjs/common';
import { compareEventIds, START_ID } from '#herald/contracts/event-id';
import { HubConfig } from '../../config/config.js';
import { PreparedEvent, StreamMessage, streamMessage } from '../../events/stream-message.js';
import type { Replay } from '../replay.js';
import { RedisConnections } from './redis.connections.js';

type Entry = [id: string, fields: string[]];

export interface AppendOptions {
  /** Acknowledge this ingress entry in the same step, if this consumer still owns it. */
  ack?: { group: string; consumer: string; entryId: string };
  /** Do nothing if a publication with this key was appended within the window (a retry). */
  dedupe?: { key: string; windowMs: number };
}

/**
 * The scaled-out replay log: one Redis stream per user, capped at exactly
 * REPLAY_MAX_EVENTS entries (approximate trimming only drops whole nodes of
 * 100 entries, so a small window would never be trimmed) and expiring REPLAY_TTL_MS after the user's last
 * event. Ids are the stream's own, so they increase per user across instances.
 */
@Injectable()
export class RedisReplayLog {
  constructor(
    private readonly redis: RedisConnections,
    private readonly config: HubConfig,
  ) {}

  /**
   * Stores and publishes the event for `recipients` in one script: a group
   * of the topology's `scriptGroups` (in a Redis Cluster, one recipient).
   * @returns the number of recipients served now: 0 for a duplicate, -1 when
   *   `ack` is given and this consumer no longer owns the entry.
   */
  append(event: PreparedEvent, recipients: readonly string[], options: AppendOptions = {}): Promise<number> {
    const { keys, topology } = this.redis;
    const { ack, dedupe } = options;
    const marker = dedupe ? [keys.seen(dedupe.key, topology.oneSlot ? undefined : recipients[0])] : [];
    const keyList = [...recipients.map((r) => keys.log(r)), ...recipients.map((r) => keys.logBytes(r)), ...marker, ...(ack ? [keys.ingress] : [])];
    return this.redis.scripts.heraldAppend(
      keyList.length,
      ...keyList,
      recipients.length,
      this.config.replayMaxEvents,
      this.config.replayTtlMs,
      event.type,
      event.tail,
      topology.publishCommand,
      dedupe ? dedupe.windowMs : '',
      ack?.group ?? '',
      ack?.consumer ?? '',
      ack?.entryId ?? '',
      this.config.replayMaxBytes,
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
    const result = await this.redis.scripts.heraldRead(1, this.redis.keys.log(userId), afterId === null ? '' : fullId(afterId));
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
