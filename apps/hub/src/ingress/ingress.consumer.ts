import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_ENVELOPE_BYTES, validatePublishRequest } from '#herald/contracts/envelope';
import { HubConfig } from '../config/config.js';
import { PreparedEvent } from '../events/stream-message.js';
import { InboxStore } from '../inbox/inbox.store.js';
import { Instance } from '../lifecycle/instance.js';
import { HubMetrics } from '../metrics/hub-metrics.js';
import { BEAT_MS, RedisInstances } from '../redis/redis-instances.js';
import { RedisConnections, SCRIPT_COMMANDS } from '../redis/redis.connections.js';
import { RedisReplayLog } from '../replay/redis-replay-log.js';

export const INGRESS_GROUP = 'herald';
const READ_COUNT = 256;
const BLOCK_MS = 1000;
/** An entry that failed this many times is dead-lettered rather than retried forever. */
const MAX_DELIVERIES = 5;
const ERROR_PAUSE_MS = 500;
/** Dead letters kept (roughly): enough to investigate, bounded so a flood of bad entries cannot fill Redis. */
const DEAD_LETTERS_KEPT = 10_000;

/**
 * A consumer whose instance has not beaten for this long is taken for dead,
 * and what it holds is claimed at once. A live one wrongly taken for dead
 * (a long pause) costs nothing but work: the append script stores an entry
 * only while its consumer owns it.
 */
const SILENT_MS = 3 * BEAT_MS;
/** A dead consumer with nothing pending is removed from the group after this much silence. */
const FORGET_CONSUMER_MS = 30_000;

/**
 * Removes a consumer from the group only if it holds nothing: XGROUP
 * DELCONSUMER would drop its pending entries with it.
 * KEYS: the ingress. ARGV: the group, the consumer.
 */
const FORGET_CONSUMER = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
`;

type Entry = [id: string, fields: string[]];
type PendingEntry = [id: string, consumer: string, idleMs: number, deliveries: number];

interface ScriptedClient {
  heraldForgetConsumer(numKeys: number, key: string, group: string, consumer: string): Promise<number>;
}

/**
 * Where events enter from Redis: `XADD herald:ingress * envelope '<json>'`,
 * read by one consumer group shared by all instances, so each entry is
 * handled once. An instance that dies leaves its entries pending: a live one
 * claims them as soon as the dead one has missed a few heartbeats, and any
 * entry left unacknowledged for INGRESS_CLAIM_IDLE_MS (a stuck consumer)
 * is claimed too. The append script acknowledges an
 * entry in the same step as it stores it, and only while this consumer still
 * owns it, so a retried entry never produces a second copy.
 */
@Injectable()
export class IngressConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(IngressConsumer.name);
  /** Host and pid for the operator reading XINFO CONSUMERS; the instance id keeps it unique. */
  readonly consumer: string;
  private running = false;
  private loop?: Promise<void>;
  private nextClaimAt = 0;
  private nextRescueAt = 0;
  private readonly client: ScriptedClient;

  constructor(
    private readonly redis: RedisConnections,
    private readonly log: RedisReplayLog,
    private readonly inbox: InboxStore,
    private readonly metrics: HubMetrics,
    private readonly config: HubConfig,
    private readonly instances: RedisInstances,
    instance: Instance,
  ) {
    this.consumer = `${hostname()}-${process.pid}-${instance.id}`;
    redis.commands.defineCommand(SCRIPT_COMMANDS.forgetConsumer, { lua: FORGET_CONSUMER });
    this.client = redis.commands as unknown as ScriptedClient;
  }

  onApplicationBootstrap(): void {
    this.running = true;
    this.loop = this.run();
  }

  async onModuleDestroy(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    let groupReady = false;
    // 'starting' stays quiet while Redis is not reached yet; an outage later is logged once each way.
    let state: 'starting' | 'reading' | 'failing' = 'starting';
    while (this.running) {
      try {
        if (!groupReady) groupReady = await this.createGroup();
        if (Date.now() >= this.nextRescueAt) await this.claimFromDeadInstances();
        if (Date.now() >= this.nextClaimAt) {
          await this.claimAbandoned();
          await this.trimProcessed();
          await this.forgetDeadConsumers();
        }
        await this.handle(await this.readNew());
        if (state === 'failing') this.logger.log('ingress consumer is reading again');
        state = 'reading';
      } catch (err) {
        if ((err as Error).message?.includes('NOGROUP')) groupReady = false;
        if (state === 'reading' && this.running) {
          this.logger.warn(`ingress read failed: ${(err as Error).message}; retrying`);
        }
        if (state === 'reading') state = 'failing';
        await sleep(ERROR_PAUSE_MS);
      }
    }
  }

  /** From id 0, so entries added before any instance ever ran are delivered too. */
  private async createGroup(): Promise<boolean> {
    try {
      await this.redis.commands.xgroup('CREATE', this.redis.keys.ingress, INGRESS_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err as Error).message.includes('BUSYGROUP')) throw err;
    }
    return true;
  }

  private async readNew(): Promise<Entry[]> {
    const reply = (await this.redis.blocking.xreadgroup(
      'GROUP',
      INGRESS_GROUP,
      this.consumer,
      'COUNT',
      READ_COUNT,
      'BLOCK',
      BLOCK_MS,
      'STREAMS',
      this.redis.keys.ingress,
      '>',
    )) as [string, Entry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  /**
   * Takes over at once what consumers of dead instances hold. Redis may have
   * handed an entry to a dead instance's blocked read before it noticed the
   * closed socket: waiting for INGRESS_CLAIM_IDLE_MS would delay it for no gain.
   */
  private async claimFromDeadInstances(): Promise<void> {
    this.nextRescueAt = Date.now() + BEAT_MS;
    const { commands, keys } = this.redis;
    const [, , , holders] = (await commands.xpending(keys.ingress, INGRESS_GROUP)) as [
      number,
      string | null,
      string | null,
      [consumer: string, count: string][] | null,
    ];
    for (const [holder] of holders ?? []) {
      if (holder === this.consumer || !this.instances.isSilent(instanceOf(holder), SILENT_MS)) continue;
      let pending: PendingEntry[];
      do {
        // Entries idle this long at least: a new instance's entries, read before its first beat landed, are not taken.
        pending = (await commands.xpending(keys.ingress, INGRESS_GROUP, 'IDLE', SILENT_MS, '-', '+', READ_COUNT, holder)) as PendingEntry[];
        if (pending.length === 0) break;
        const ids = pending.map(([id]) => id);
        // `call`: ioredis types XCLAIM's ids as a fixed tuple, not a list.
        const claimed = (await commands.call('XCLAIM', keys.ingress, INGRESS_GROUP, this.consumer, SILENT_MS, ...ids)) as (Entry | null)[];
        const entries = claimed.filter((entry): entry is Entry => entry !== null);
        this.logger.log(`claimed ${entries.length} ingress entr${entries.length === 1 ? 'y' : 'ies'} of dead consumer ${holder}`);
        await this.handle(entries, true);
      } while (pending.length === READ_COUNT && this.running);
    }
  }

  /** Consumers of instances long gone, holding nothing, leave the group, so that it does not grow with every restart. */
  private async forgetDeadConsumers(): Promise<void> {
    const { commands, keys } = this.redis;
    const consumers = (await commands.xinfo('CONSUMERS', keys.ingress, INGRESS_GROUP)) as unknown[][];
    for (const info of consumers) {
      const name = String(info[info.indexOf('name') + 1]);
      const pending = Number(info[info.indexOf('pending') + 1]);
      if (pending > 0 || !this.instances.isSilent(instanceOf(name), FORGET_CONSUMER_MS)) continue;
      await this.client.heraldForgetConsumer(1, keys.ingress, INGRESS_GROUP, name);
    }
  }

  /** Takes over entries left pending for INGRESS_CLAIM_IDLE_MS (a stuck consumer, or this one before an error). */
  private async claimAbandoned(): Promise<void> {
    this.nextClaimAt = Date.now() + Math.max(this.config.ingressClaimIdleMs / 2, 100);
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.redis.commands.xautoclaim(
        this.redis.keys.ingress,
        INGRESS_GROUP,
        this.consumer,
        this.config.ingressClaimIdleMs,
        cursor,
        'COUNT',
        READ_COUNT,
      )) as [string, Entry[]];
      const live = entries.filter((entry): entry is Entry => entry !== null);
      if (live.length > 0) this.logger.log(`claimed ${live.length} abandoned ingress entr${live.length === 1 ? 'y' : 'ies'}`);
      await this.handle(live, true);
      cursor = next;
    } while (cursor !== '0-0' && this.running);
  }

  /**
   * Drops entries every instance is done with: those before the oldest
   * pending one, or, with none pending, before the last one delivered. A
   * stream keeps acknowledged entries otherwise, and would grow forever.
   */
  private async trimProcessed(): Promise<void> {
    const { commands, keys } = this.redis;
    const [pendingCount, oldestPending] = (await commands.xpending(keys.ingress, INGRESS_GROUP)) as [
      number,
      string | null,
    ];
    let floor = pendingCount > 0 ? oldestPending : null;
    if (!floor) {
      const groups = (await commands.xinfo('GROUPS', keys.ingress)) as unknown[][];
      const ours = groups.find((g) => g[g.indexOf('name') + 1] === INGRESS_GROUP);
      floor = ours ? String(ours[ours.indexOf('last-delivered-id') + 1]) : null;
    }
    if (floor) await commands.xtrim(keys.ingress, 'MINID', '~', floor);
  }

  /** Entries of a batch go out together (auto-pipelined); one user's stay in order on the one connection. */
  private async handle(entries: Entry[], claimed = false): Promise<void> {
    const deliveries = claimed ? await this.deliveryCounts(entries) : undefined;
    const accepted = await Promise.all(entries.map((entry, i) => this.handleOne(entry, deliveries?.[i] ?? 1)));
    this.metrics.eventsPublished('ingress', accepted.filter(Boolean).length);
  }

  /** @returns whether the entry was a valid event (false: dead-lettered). */
  private async handleOne([entryId, fields]: Entry, deliveries: number): Promise<boolean> {
    const raw = field(fields, 'envelope');
    if (raw === undefined) return this.deadLetter(entryId, 'envelope: missing (XADD … envelope <json>)', '');
    // The same bound as an HTTP body: an event must not cost more here than there.
    if (Buffer.byteLength(raw) > MAX_ENVELOPE_BYTES) {
      return this.deadLetter(entryId, `envelope: larger than ${MAX_ENVELOPE_BYTES} bytes`, raw);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return this.deadLetter(entryId, 'envelope: is not valid JSON', raw);
    }
    const result = validatePublishRequest(body);
    if (!result.ok) return this.deadLetter(entryId, `${result.field}: ${result.message}`, raw);
    if (deliveries > MAX_DELIVERIES) {
      return this.deadLetter(entryId, `failed ${deliveries - 1} times; last attempt abandoned`, raw);
    }
    if (result.value.persist) {
      // Stored once per entry id however often the entry is handled; the
      // outbox relay then delivers it.
      await this.inbox.persist({ ...result.value, sourceKey: `ingress:${entryId}` });
      await this.redis.commands.xack(this.redis.keys.ingress, INGRESS_GROUP, entryId);
      return true;
    }
    const event = PreparedEvent.from(result.value, new Date());
    if (!this.redis.cluster) {
      await this.log.append(event, result.value.recipients, {
        ack: { group: INGRESS_GROUP, consumer: this.consumer, entryId },
      });
      return true;
    }
    // A Redis Cluster spreads the recipients over slots: each is served on its
    // own, marked so that a retry skips it, and the entry is acknowledged last.
    const dedupe = { key: `ingress:${entryId}`, windowMs: this.config.ingressClaimIdleMs * 4 };
    await Promise.all(result.value.recipients.map((r) => this.log.append(event, [r], { dedupe })));
    await this.redis.commands.xack(this.redis.keys.ingress, INGRESS_GROUP, entryId);
    return true;
  }

  private async deadLetter(entryId: string, reason: string, envelope: string): Promise<false> {
    const { keys, commands } = this.redis;
    await commands.xadd(keys.deadLetters, 'MAXLEN', '~', DEAD_LETTERS_KEPT, '*', 'entry', entryId, 'reason', reason, 'envelope', envelope);
    await commands.xack(keys.ingress, INGRESS_GROUP, entryId);
    this.logger.warn(`ingress entry ${entryId} dead-lettered: ${reason}`);
    return false;
  }

  private async deliveryCounts(entries: Entry[]): Promise<number[]> {
    return Promise.all(
      entries.map(async ([id]) => {
        const pending = (await this.redis.commands.xpending(this.redis.keys.ingress, INGRESS_GROUP, id, id, 1)) as [
          string,
          string,
          number,
          number,
        ][];
        return pending[0]?.[3] ?? 1;
      }),
    );
  }
}

/** Consumers are named `<host>-<pid>-<instance id>`. */
function instanceOf(consumer: string): string {
  return consumer.slice(consumer.lastIndexOf('-') + 1);
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
