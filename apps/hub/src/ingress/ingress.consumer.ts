import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { validatePublishRequest } from '#herald/contracts/envelope';
import { HubConfig } from '../config/config.js';
import { PreparedEvent } from '../events/stream-message.js';
import { InboxStore } from '../inbox/inbox.store.js';
import { Instance } from '../lifecycle/instance.js';
import { HubMetrics } from '../metrics/hub-metrics.js';
import { RedisConnections } from '../redis/redis.connections.js';
import { RedisReplayLog } from '../replay/redis-replay-log.js';

export const INGRESS_GROUP = 'herald';
const READ_COUNT = 256;
const BLOCK_MS = 1000;
/** An entry that failed this many times is dead-lettered rather than retried forever. */
const MAX_DELIVERIES = 5;
const ERROR_PAUSE_MS = 500;
/** Dead letters kept (roughly): enough to investigate, bounded so a flood of bad entries cannot fill Redis. */
const DEAD_LETTERS_KEPT = 10_000;

type Entry = [id: string, fields: string[]];

/**
 * Where events enter from Redis: `XADD herald:ingress * envelope '<json>'`,
 * read by one consumer group shared by all instances, so each entry is
 * handled once. An instance that dies leaves its entries pending; a live one
 * claims them after INGRESS_CLAIM_IDLE_MS. The append script acknowledges an
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

  constructor(
    private readonly redis: RedisConnections,
    private readonly log: RedisReplayLog,
    private readonly inbox: InboxStore,
    private readonly metrics: HubMetrics,
    private readonly config: HubConfig,
    instance: Instance,
  ) {
    this.consumer = `${hostname()}-${process.pid}-${instance.id}`;
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
        if (Date.now() >= this.nextClaimAt) {
          await this.claimAbandoned();
          await this.trimProcessed();
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

  /** Takes over entries another consumer (a dead instance, or this one before an error) left pending. */
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

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
