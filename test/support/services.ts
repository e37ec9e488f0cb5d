/**
 * Hub services built with their collaborators, for unit specs: the memory
 * adapters of the transport stand in for Redis, and an in-memory SQLite
 * database (with the real migrations) for the database, so a service runs as
 * in the hub, in milliseconds, with no process to start (after Immich's
 * `newTestService`).
 */
import { DataSource } from 'typeorm';
import { Comment } from '../../apps/hub/src/comments/comment.entity.js';
import { Post } from '../../apps/hub/src/comments/post.entity.js';
import { HubConfig, loadConfig } from '../../apps/hub/src/config/config.js';
import { MIGRATIONS } from '../../apps/hub/src/database/database.module.js';
import { Transactions } from '../../apps/hub/src/database/transactions.js';
import type { StreamMessage } from '../../apps/hub/src/events/stream-message.js';
import { InboxItem } from '../../apps/hub/src/inbox/inbox-item.entity.js';
import { Notification } from '../../apps/hub/src/inbox/notification.entity.js';
import { HubMetrics } from '../../apps/hub/src/metrics/hub-metrics.js';
import { OutboxEntry } from '../../apps/hub/src/outbox/outbox-entry.entity.js';
import { MemoryReplayLog } from '../../apps/hub/src/transport/memory/memory-replay-log.js';
import { MemoryTransport } from '../../apps/hub/src/transport/memory/memory.transport.js';
import type { DeliverySink } from '../../apps/hub/src/transport/transport.js';

export function testConfig(env: Record<string, string> = {}): HubConfig {
  return loadConfig({ NODE_ENV: 'test', SQLITE_PATH: ':memory:', ...env });
}

/** A delivery the transport handed to this instance's streams. */
export interface Delivery {
  userId: string;
  message: StreamMessage;
}

/** The embedded transport, with a sink that records what it delivers live. */
export function memoryTransport(config = testConfig()): { transport: MemoryTransport; delivered: Delivery[] } {
  const transport = new MemoryTransport(new MemoryReplayLog(config.replayMaxEvents, config.replayMaxBytes, config.replayTtlMs, Date.now()), config);
  const delivered: Delivery[] = [];
  const sink: DeliverySink = {
    deliver: (userId, message) => delivered.push({ userId, message }),
    suspendAll: () => undefined,
    suspendedPositions: () => undefined,
    resume: () => undefined,
    endStreams: () => undefined,
    changeTopics: async () => ({ status: 404 }),
  };
  transport.connect(sink);
  return { transport, delivered };
}

export function metrics(transport: MemoryTransport): HubMetrics {
  return new HubMetrics(transport);
}

/** How many events the metrics counted as published from `source`. */
export async function publishedFrom(hubMetrics: HubMetrics, source: string): Promise<number> {
  const metric = await hubMetrics.registry.getSingleMetric('herald_events_published_total')!.get();
  return metric.values.find((v) => v.labels.source === source)?.value ?? 0;
}

/** A fresh in-memory SQLite database with the hub's schema; `close()` when done. */
export async function sqliteDatabase(): Promise<{ dataSource: DataSource; transactions: Transactions; close: () => Promise<void> }> {
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: ':memory:',
    entities: [Post, Comment, Notification, InboxItem, OutboxEntry],
    migrations: MIGRATIONS,
    migrationsRun: true,
  });
  await dataSource.initialize();
  return { dataSource, transactions: new Transactions(dataSource), close: () => dataSource.destroy() };
}
