import { Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubConfig } from '../../config/config.js';
import { Instance } from '../../lifecycle/instance.js';
import { EntryDeferred, IngressEntry, IngressSource } from '../ingress-source.js';
import type { IngressReceipt } from '../transport.js';
import { BEAT_MS, RedisInstances } from './redis-instances.js';
import { RedisConnections } from './redis.connections.js';

export const INGRESS_GROUP = 'herald';
const READ_COUNT = 256;
const BLOCK_MS = 1000;
/**
 * After a read that did not fill its batch, the next one waits this long
 * (the batch is handled meanwhile). A blocked read returns as soon as one
 * entry is added, so entries that trickle in (a publisher's pipeline each
 * millisecond) were read a few at a time, each read paying its round trips,
 * its script call and their wake-ups: at 10,000/s, 7 entries a read, hub
 * and Redis CPU 72 µs per entry; waiting 5 ms, 57 entries a read and 48 µs.
 * An entry waits at most this much longer.
 */
const LINGER_MS = 5;
const ERROR_PAUSE_MS = 500;
/** Retries of entries deferred by an outage: soon at first, then at most this often. */
const OUTAGE_FIRST_PAUSE_MS = 100;
const OUTAGE_MAX_PAUSE_MS = 2000;
/** Dead letters kept (roughly): enough to investigate, bounded so a flood of bad entries cannot fill Redis. */
const DEAD_LETTERS_KEPT = 10_000;
/**
 * Characters of its envelope a dead letter keeps: enough to see what was
 * wrong, so that its size is bounded too (a 10 MB entry would otherwise be
 * kept whole, and 10,000 of them would fill Redis).
 */
export const DEAD_LETTER_ENVELOPE_CHARS = 4096;

/**
 * A consumer whose instance has not beaten for this long is taken for dead,
 * and what it holds is claimed at once. A live one wrongly taken for dead
 * (a long pause) costs nothing but work: the append script stores an entry
 * only while its consumer owns it.
 */
const SILENT_MS = 3 * BEAT_MS;
/** A dead consumer with nothing pending is removed from the group after this much silence. */
const FORGET_CONSUMER_MS = 30_000;

type Entry = [id: string, fields: string[]];
type PendingEntry = [id: string, consumer: string, idleMs: number, deliveries: number];

/**
 * The ingress in Redis: `XADD herald:ingress * envelope '<json>'`, read by
 * one consumer group shared by all instances, so each entry is handled
 * once. An instance that dies leaves its entries pending: a live one claims
 * them as soon as the dead one has missed a few heartbeats, and any entry
 * left unacknowledged for INGRESS_CLAIM_IDLE_MS (a stuck consumer) is
 * claimed too. The append script acknowledges an entry in the same step as
 * it stores it, and only while this consumer still owns it, so a retried
 * entry never produces a second copy.
 */
@Injectable()
export class RedisIngressSource extends IngressSource {
  private readonly logger = new Logger('IngressConsumer');
  /** Host and pid for the operator reading XINFO CONSUMERS; the instance id keeps it unique. */
  readonly consumer: string;
  private running = false;
  private loop?: Promise<void>;
  private handler: (entry: IngressEntry) => Promise<void> = async () => undefined;
  private nextClaimAt = 0;
  private nextRescueAt = 0;
  /** The batch being handled while the next one is read. */
  private handling: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: RedisConnections,
    private readonly config: HubConfig,
    private readonly instances: RedisInstances,
    instance: Instance,
  ) {
    super();
    this.consumer = `${hostname()}-${process.pid}-${instance.id}`;
  }

  start(handle: (entry: IngressEntry) => Promise<void>): void {
    this.handler = handle;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.handling.catch(() => undefined);
  }

  /** Waits for the batch being handled; its failure is this loop's failure. */
  private async settleHandling(): Promise<void> {
    const handling = this.handling;
    this.handling = Promise.resolve();
    await handling;
  }

  async deadLetter(entry: IngressEntry, reason: string): Promise<void> {
    const { keys, commands } = this.redis;
    const { entryId } = entry.receipt;
    const envelope = entry.envelope ?? '';
    const kept =
      envelope.length > DEAD_LETTER_ENVELOPE_CHARS ? ['envelope', envelope.slice(0, DEAD_LETTER_ENVELOPE_CHARS), 'envelopeLength', envelope.length] : ['envelope', envelope];
    await commands.xadd(keys.deadLetters, 'MAXLEN', '~', DEAD_LETTERS_KEPT, '*', 'entry', entryId, 'reason', reason, ...kept);
    await commands.xack(keys.ingress, INGRESS_GROUP, entryId);
    this.logger.warn(`ingress entry ${entryId} dead-lettered: ${reason}`);
  }

  private async run(): Promise<void> {
    let groupReady = false;
    // 'starting' stays quiet while Redis is not reached yet; an outage later is logged once each way.
    let state: 'starting' | 'reading' | 'failing' = 'starting';
    while (this.running) {
      try {
        if (!groupReady) groupReady = await this.createGroup();
        if (Date.now() >= this.nextRescueAt) {
          await this.settleHandling();
          await this.claimFromDeadInstances();
        }
        if (Date.now() >= this.nextClaimAt) {
          await this.settleHandling();
          await this.claimAbandoned();
          await this.trimProcessed();
          await this.forgetDeadConsumers();
        }
        const entries = await this.readNew();
        // The next read goes out while this batch is handled; a batch starts
        // only once the one before it is done, so entries keep their order.
        await this.settleHandling();
        this.handling = this.handle(entries);
        // Settled (and its failure thrown) on the next turn, after a read of up
        // to BLOCK_MS: marked handled now, or Node would end the process for an
        // unhandled rejection meanwhile (a database outage did).
        this.handling.catch(() => undefined);
        if (state === 'failing') this.logger.log('ingress consumer is reading again');
        state = 'reading';
        if (entries.length > 0 && entries.length < READ_COUNT) await sleep(LINGER_MS);
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
      await this.redis.scripts.heraldForgetConsumer(1, keys.ingress, INGRESS_GROUP, name);
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

  /**
   * Entries of a batch go out together (auto-pipelined); one user's stay in
   * order on the one connection. Those deferred by an outage are retried
   * here until it ends, so no later entry overtakes them; meanwhile they are
   * claimed again now and then, which keeps other instances from taking them
   * over as abandoned and counting each takeover as a failure.
   */
  private async handle(entries: Entry[], claimed = false): Promise<void> {
    const deliveries = claimed ? await this.deliveryCounts(entries) : undefined;
    let waiting: IngressEntry[] = entries.map(([entryId, fields], i) => ({
      receipt: this.receipt(entryId),
      envelope: field(fields, 'envelope'),
      deliveries: deliveries?.[i] ?? 1,
    }));
    let failure: { reason: unknown } | undefined;
    for (let pause = OUTAGE_FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, OUTAGE_MAX_PAUSE_MS)) {
      const outcomes = await Promise.allSettled(waiting.map((entry) => this.handler(entry)));
      const deferred = outcomes.map((o) => (o.status === 'rejected' && o.reason instanceof EntryDeferred ? o.reason : undefined));
      const failed = outcomes.find((o, i) => o.status === 'rejected' && !deferred[i]) as PromiseRejectedResult | undefined;
      failure ??= failed;
      const outage = deferred.find((reason) => reason !== undefined);
      if (!outage) break;
      // Stopping: the entries stay pending, for another instance to claim.
      if (!this.running) throw outage;
      waiting = waiting.filter((_, i) => deferred[i]);
      if (pause === OUTAGE_FIRST_PAUSE_MS) {
        this.logger.warn(`${waiting.length} ingress entries wait for an outage to end (${outage.message})`);
      }
      await sleep(pause);
      await this.keep(waiting);
    }
    if (failure) throw failure.reason;
  }

  /** Resets the entries' idle time (JUSTID: without counting a delivery); Redis may be the outage, so failing is fine. */
  private async keep(entries: IngressEntry[]): Promise<void> {
    const ids = entries.map((entry) => entry.receipt.entryId);
    await this.redis.commands.call('XCLAIM', this.redis.keys.ingress, INGRESS_GROUP, this.consumer, 0, ...ids, 'JUSTID').catch(() => undefined);
  }

  private receipt(entryId: string): IngressReceipt {
    const { commands, keys } = this.redis;
    return {
      entryId,
      consumer: this.consumer,
      ack: async () => {
        await commands.xack(keys.ingress, INGRESS_GROUP, entryId);
      },
    };
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
