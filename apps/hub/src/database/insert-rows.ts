import type { EntityManager } from 'typeorm';

/** Bound parameters per statement: well below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMETERS = 3000;

/**
 * Inserts rows with one multi-row INSERT per few thousand values, in SQL:
 * the hot path of persisted events, where TypeORM's query builder cost more
 * than the database did. Placeholders are written for the driver (`$1` on
 * PostgreSQL, `?` on SQLite).
 * @returns the RETURNING rows, if `returning` names columns.
 */
export async function insertRows(
  manager: EntityManager,
  table: string,
  columns: readonly string[],
  rows: readonly unknown[][],
  returning?: string,
): Promise<Record<string, unknown>[]> {
  const postgres = manager.connection.options.type === 'postgres';
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  const returned: Record<string, unknown>[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    let n = 0;
    const values = chunk
      .map((row) => `(${row.map(() => (postgres ? `$${++n}` : '?')).join(',')})`)
      .join(',');
    const sql = `INSERT INTO ${table} (${columns.join(',')}) VALUES ${values}${returning ? ` RETURNING ${returning}` : ''}`;
    const result = await manager.queryRunner!.query(sql, chunk.flat(), true);
    if (returning) returned.push(...(result.records as Record<string, unknown>[]));
  }
  return returned;
}
