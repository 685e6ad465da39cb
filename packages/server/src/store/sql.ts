/**
 * The two databases the server's own tables live in, behind one small interface: queries are
 * written once with `?` placeholders, and each backend runs them its way.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export interface Sql {
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement; returns how many rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /** Runs `body` in one transaction: everything it ran is kept, or nothing. */
  transaction<T>(body: (sql: Sql) => Promise<T>): Promise<T>;
  /** Whether `error` is a broken unique or primary key constraint. */
  isDuplicate(error: unknown): boolean;
  /** Whether `error` is a broken foreign key (a reference to a missing row, or to a row deleted). */
  isForeignKeyViolation(error: unknown): boolean;
  close(): Promise<void>;
}

/** A database file only its owner can read (it holds password hashes). */
export function openSqliteSql(path: string): Sql {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      closeSync(openSync(path, 'wx', 0o600));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    chmodSync(path, 0o600);
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  const sql: Sql = {
    all: async <T>(text: string, params: unknown[] = []) => db.prepare(text).all(...params) as T[],
    run: async (text, params = []) => db.prepare(text).run(...params).changes,
    // better-sqlite3 is synchronous: no other statement can run between BEGIN and COMMIT.
    transaction: async (body) => {
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await body(sql);
        db.exec('COMMIT');
        return result;
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    isDuplicate: (error) => {
      const code = (error as { code?: unknown }).code;
      return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
    },
    isForeignKeyViolation: (error) => (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY',
    close: async () => {
      db.close();
    },
  };
  return sql;
}

/** `?` placeholders as PostgreSQL's `$1, $2...` (the queries here have no `?` in string literals). */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** Tables in `schema` (created if missing), through a small pool. */
export async function openPostgresSql(url: string, schema: string): Promise<Sql> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name '${schema}'`);
  const pool = new pg.Pool({ connectionString: url, max: 4, options: `-c search_path=${schema}` });
  // An idle connection the server closed must not take the process down.
  pool.on('error', () => {});
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  const on = (client: pg.Pool | pg.PoolClient): Sql => ({
    all: async <T>(text: string, params: unknown[] = []) =>
      (await client.query(numbered(text), params)).rows as T[],
    run: async (text, params = []) => (await client.query(numbered(text), params)).rowCount ?? 0,
    transaction: async (body) => {
      if (client !== pool) return body(on(client));
      const connection = await pool.connect();
      try {
        await connection.query('BEGIN');
        const result = await body(on(connection));
        await connection.query('COMMIT');
        return result;
      } catch (error) {
        await connection.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        connection.release();
      }
    },
    isDuplicate: (error) => (error as { code?: unknown }).code === '23505',
    isForeignKeyViolation: (error) => (error as { code?: unknown }).code === '23503',
    close: () => pool.end(),
  });
  return on(pool);
}

/** Drops a schema and everything in it (a deleted tenant's tables). */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name '${schema}'`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
