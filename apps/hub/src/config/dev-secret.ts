import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the development secret is kept: beside the SQLite file (`./data/` by default). */
export function devSecretPath(sqlitePath: string): string | undefined {
  return sqlitePath === ':memory:' ? undefined : path.join(path.dirname(sqlitePath), 'dev-jwt-secret');
}

export type KeptSecret = { secret: string; file: string; created: boolean } | { secret: string; problem: string };

/**
 * Outside production, without JWT_SECRET: the secret made on the first start
 * and kept in `file` (readable by its owner only), so that the tokens of a
 * developer's pages and scripts survive a restart. Where it cannot be kept
 * (a read-only directory), a secret for this boot only, and why.
 */
export function keptDevSecret(file: string): KeptSecret {
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept.length >= 32) return { secret: kept, file, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { secret: fresh(), problem: `${file} cannot be read: ${(err as Error).message}` };
  }
  const secret = fresh();
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  } catch (err) {
    return { secret, problem: `${file} cannot be written: ${(err as Error).message}` };
  }
  return { secret, file, created: true };
}

function fresh(): string {
  return randomBytes(48).toString('base64');
}
