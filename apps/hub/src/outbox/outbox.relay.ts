import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { HubConfig } from '../config/config.js';
import { Transactions } from '../database/transactions.js';
import { PreparedEvent } from '../events/stream-message.js';
import { Transport } from '../transport/transport.js';
import { OutboxEntry } from './outbox-entry.entity.js';

const BATCH = 100;
/** How often the outbox is looked at besides the kick after each commit (entries left by a crash, or a failed hand-over). */
const POLL_MS = 1000;

/**
 * Hands committed events to the fan-out, then deletes them from the outbox.
 * Crash between commit and hand-over: the entry is still there and goes out
 * after restart. Crash between hand-over and delete: the Redis transport
 * skips an outbox entry it has already served (dedupe key); on the embedded
 * default the outbox is drained before the hub listens, so no client can get
 * a second copy. On PostgreSQL, entries are locked with SKIP LOCKED so that
 * instances never hand over the same entry at once.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(OutboxRelay.name);
  private running: Promise<void> | null = null;
  private again = false;
  private failing = false;
  private poller?: NodeJS.Timeout;

  constructor(
    private readonly transactions: Transactions,
    private readonly transport: Transport,
    private readonly config: HubConfig,
  ) {}

  /** Before the server listens (Nest runs this during init). */
  async onApplicationBootstrap(): Promise<void> {
    this.kick();
    await this.idle();
    this.poller = setInterval(() => this.kick(), POLL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.poller);
    await this.idle();
  }

  /** Resolves once no pass over the outbox is running (those asked for meanwhile included). */
  async idle(): Promise<void> {
    await this.running;
  }

  /**
   * Call once a transaction that added outbox entries has committed.
   * @param notified whether it stored notifications (inbox items), whose
   *   delivery HERALD_FAULT=crash-after-commit proves: events to topics only
   *   (a post's, a comment that notifies no one) leave it armed.
   */
  committed(notified = true): void {
    if (notified && this.config.fault === 'crash-after-commit') process.kill(process.pid, 'SIGKILL');
    this.kick();
  }

  /** Starts a pass over the outbox, or asks the running one for another. */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
    });
  }

  private async drain(): Promise<void> {
    // Redis not reached yet (start-up) or away: the poller tries again.
    if (!this.transport.isReady()) return;
    try {
      do {
        this.again = false;
        while ((await this.relayBatch()) === BATCH);
      } while (this.again);
      if (this.failing) this.logger.log('outbox relay is delivering again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.warn(`outbox relay failed, retrying: ${(err as Error).message}`);
      this.failing = true;
    }
  }

  private relayBatch(): Promise<number> {
    return this.transactions.run(async (manager) => {
      const query = manager.getRepository(OutboxEntry).createQueryBuilder('o').orderBy('o.id', 'ASC').limit(BATCH);
      if (manager.connection.options.type === 'postgres') query.setLock('pessimistic_write').setOnLocked('skip_locked');
      const entries = await query.getMany();
      // Handed over together: the transport sends them in this order, in one
      // round trip, rather than one round trip each inside the transaction.
      await Promise.all(
        entries.map((entry) => {
          const id = entry.notificationId === null ? undefined : String(entry.notificationId);
          const event = PreparedEvent.of(entry.type, entry.data, entry.createdAt, id);
          // `recipients` holds the event's sources: its users, and its topics as `#<topic>`.
          return this.transport.publish(event, JSON.parse(entry.recipients) as string[], { dedupeKey: `outbox:${entry.dedupeKey}` });
        }),
      );
      if (entries.length > 0) await manager.delete(OutboxEntry, entries.map((e) => e.id));
      return entries.length;
    });
  }
}
