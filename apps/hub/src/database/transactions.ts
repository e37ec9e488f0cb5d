import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

/**
 * Every write goes through here. SQLite has a single connection, and TypeORM
 * would interleave concurrent transactions on it ("cannot start a transaction
 * within a transaction"), or fold a plain write into another request's open
 * transaction, to be rolled back with it. So on SQLite writes queue up, one
 * transaction at a time; PostgreSQL gives each its own pooled connection.
 */
@Injectable()
export class Transactions {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {}

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.dataSource.options.type !== 'better-sqlite3') return this.dataSource.transaction(work);
    const result = this.tail.then(() => this.dataSource.transaction(work));
    this.tail = result.catch(() => undefined);
    return result;
  }
}
