import { Global, Module } from '@nestjs/common';
import { TypeOrmModule, TypeOrmModuleOptions } from '@nestjs/typeorm';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { HubConfig } from '../config/config.js';
import { InitialSchema1795300000000 } from './migrations/1795300000000-initial-schema.js';
import { Transactions } from './transactions.js';

export const MIGRATIONS = [InitialSchema1795300000000];

/**
 * PostgreSQL when DATABASE_URL is set, else an SQLite file (created on first
 * start). Migrations run at start-up; the schema is never synchronised. Each
 * feature registers its own entities (TypeOrmModule.forFeature).
 */
export function databaseOptions(config: HubConfig): TypeOrmModuleOptions {
  const common = { autoLoadEntities: true, migrations: MIGRATIONS, migrationsRun: true, synchronize: false } as const;
  if (config.databaseUrl) {
    return { ...common, type: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolMax };
  }
  if (config.sqlitePath !== ':memory:') mkdirSync(path.dirname(config.sqlitePath), { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: config.sqlitePath,
    // WAL lets the inbox be read while a comment is being written.
    enableWAL: config.sqlitePath !== ':memory:',
  };
}

@Global()
@Module({
  imports: [TypeOrmModule.forRootAsync({ inject: [HubConfig], useFactory: databaseOptions })],
  providers: [Transactions],
  exports: [Transactions],
})
export class DatabaseModule {}
