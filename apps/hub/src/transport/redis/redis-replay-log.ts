import { Injectable } from '@nestjs/common';
import { compareEventIds, START_ID } from '#herald/contracts/event-id';
import { HubConfig } from '../../config/config.js';
import { createdAtOf, PreparedEvent, StreamMessage, streamMessage } from '../../events/stream-message.js';
import type { Replay } from '../replay.js';
import { AppendBatcher, AppendOptions } from './redis-append-batch.js';
import { RedisConnections } from './redis.connections.js';
import { ReplicasBehindError, ReplicaWait } from './redis-replicas.js';

type Entry = [id: string, fields: string[]];

/**
 * The scaled-out replay log: one Redis stream per source (user or topic), capped at exactly
 * REPLAY_MAX_EVENTS entries (approximate trimming only drops whole nodes of
 * 100 entries, so a small window would never be trimmed) and expiring REPLAY_TTL_MS after the source's last
 * event. Ids are the stream's own, so they increase per source across instances.
 */
@Injectable()
export class RedisReplayLog {
  /** Set when appends wait for replicas (REDIS_WAIT_REPLICAS). */
  private readonly replicas?: ReplicaWait;
  private readonly batcher: AppendBatcher;

  constructor(
    private readonly redis: RedisConnections,
    config: HubConfig,
  ) {
    if (config.redisWaitReplicas > 0) this.replicas = new ReplicaWait(config.redisWaitReplicas, config.redisWaitTimeoutMs);
    const limits = { maxEvents: config.replayMaxEvents, maxBytes: config.replayMaxBytes, ttlMs: config.replayTtlMs };
    this.batcher = new AppendBatcher(redis, limits, config.redisFanoutChannelMin);
  }

  /**
   * Stores and publishes the event in `sources` in one script, with the
   * other appends of this turn of the event loop (see AppendBatcher):
   * `sources` is a group of the topology's `scriptGroups` (in a Redis
   * Cluster, one source). When appends wait for replicas, resolves once
   * they hold it.
   * @returns the number of sources served now: 0 for a duplicate, -1 when
   *   `ack` is given and this consumer no longer owns the entry.
   * @throws ReplicasBehindError when the replicas do not confirm it in time.
   */
  async append(event: PreparedEvent, sources: readonly string[], options: AppendOptions = {}): Promise<number> {
    if (!this.replicas) return this.batcher.append(event, sources, options);
    const { appends, keys, topology } = this.redis;
    const key = keys.log(sources[0]);
    const node = topology.nodeOf(appends, key);
    if (!node) throw new Error(`no master is known for ${key} yet`);
    const mark = this.replicas.mark(node);
    const served = await this.batcher.append(event, sources, options);
    // Redirected (a slot moved, a failover): it was stored on another node than the one asked to confirm it.
    if (topology.nodeOf(appends, key) !== node) throw new ReplicasBehindError(`${key} moved to another master meanwhile`);
    await this.replicas.confirm(node, mark);
    return served;
  }

  /**
   * Everything after `afterId` in the source, or a reset when the log cannot
   * place the id, so what came after it is unknown. The log places an entry
   * it holds past its trimmed mark, and the mark itself (the last entry it
   * trimmed, or a fence after a failover: see `fence`). Any other id was
   * trimmed past or fenced off, is older than the log itself (the log
   * expired and began again, or Redis lost its data), or is one the log lost
   * (acknowledged by a master that died before its replica had it). `0` (a
   * client that had seen nothing) replays the whole log unless it was
   * trimmed.
   */
  async read(source: string, afterId: string | null): Promise<Replay> {
    const from = afterId === null ? '' : fullId(afterId);
    const result = await this.redis.scripts.heraldRead(1, this.redis.keys.log(source), from);
    const isStart = afterId !== null && compareEventIds(afterId, START_ID) === 0;
    if (!result) return { head: START_ID, events: afterId === null || isStart ? [] : null };
    const [last, deleted, entries] = result;
    if (afterId === null) return { head: last, events: [] };
    const trimmed = compareEventIds(deleted, START_ID) > 0;
    const held = entries[0]?.[0] === from;
    const sinceTrimmed = compareEventIds(afterId, deleted);
    const placed = isStart ? !trimmed : sinceTrimmed === 0 ? trimmed : sinceTrimmed > 0 && held;
    return { head: last, events: placed ? entries.slice(held ? 1 : 0).map((entry) => toMessage(entry, source)) : null };
  }

  /**
   * Marks a hole the log cannot tell (see the fence script): `seen` is the
   * newest id streams here sent from the source. Resolves to whether it did.
   */
  async fence(source: string, seen: string): Promise<boolean> {
    if (compareEventIds(seen, START_ID) === 0) return false;
    const id = fullId(seen);
    const [ms, seq] = id.split('-');
    return (await this.redis.scripts.heraldFence(1, this.redis.keys.log(source), id, `${ms}-${Number(seq) + 1}`)) === 1;
  }
}

/** Redis reads `(5` as after 5-0; an id without sequence means all of that millisecond. */
function fullId(id: string): string {
  return id.includes('-') ? id : `${id}-0`;
}

function toMessage([id, fields]: Entry, source: string): StreamMessage {
  let type = '';
  let tail = '';
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 't') type = fields[i + 1];
    else if (fields[i] === 'b') tail = fields[i + 1];
  }
  return streamMessage(id, type, tail, source);
}

/** Parses a channel payload (`id\ntype\ntail`) written by the append script, on the source's channel. */
export function parsePublished(payload: string, source: string): StreamMessage {
  const a = payload.indexOf('\n');
  const b = payload.indexOf('\n', a + 1);
  return streamMessage(payload.slice(0, a), payload.slice(a + 1, b), payload.slice(b + 1), source);
}

/**
 * Parses a message of the shared fan-out channel (`type\ntail` then
 * `source\nid` for each source, written by the append script) and hands on
 * the event of each source `follows` accepts: an instance skips the sources
 * it has no stream of without building their frames.
 */
export function parseFanout(
  payload: string,
  follows: (source: string) => boolean,
  deliver: (source: string, message: StreamMessage) => void,
): void {
  const a = payload.indexOf('\n');
  const b = payload.indexOf('\n', a + 1);
  const type = payload.slice(0, a);
  const tail = payload.slice(a + 1, b);
  const createdAt = createdAtOf(tail);
  for (let at = b + 1; at < payload.length; ) {
    const nameEnd = payload.indexOf('\n', at);
    let idEnd = payload.indexOf('\n', nameEnd + 1);
    if (idEnd < 0) idEnd = payload.length;
    const source = payload.slice(at, nameEnd);
    if (follows(source)) deliver(source, streamMessage(payload.slice(nameEnd + 1, idEnd), type, tail, source, createdAt));
    at = idEnd + 1;
  }
}
