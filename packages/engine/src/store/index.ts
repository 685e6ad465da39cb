/** The store: one interface (types.ts), two backends. `openStore` picks one from a URL or path. */
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export { type Migration, postgresMigrations, sqliteMigrations } from './migrations.js';
export { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres.js';
export { openSqliteStore, SQLITE_BUSY_TIMEOUT_MS, SqliteStore } from './sqlite.js';
export * from './types.js';

/**
 * Opens the store at `url`: PostgreSQL for postgres:// and postgresql:// URLs, otherwise an SQLite
 * database file at that path (created if missing; ':memory:' for a private in-memory one).
 * Call migrate() on it before first use.
 */
export function openStore(url: string): Promise<Store> {
  if (!/^postgres(ql)?:\/\//i.test(url)) return openSqliteStore(url);
  // `?schema=NAME` keeps Weft's tables in their own schema (one database, several Weft states).
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  if (!schema) return openPostgresStore(url);
  parsed.searchParams.delete('schema');
  return openPostgresStore(parsed.toString(), { schema });
}
