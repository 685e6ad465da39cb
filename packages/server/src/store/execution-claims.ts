/**
 * Which server process runs an execution. Several `weft serve` processes may share one PostgreSQL
 * database: each execution is run by exactly one of them, the one holding its claim, and when that
 * process dies its claims go with it, so another takes the execution over. A claim is a
 * session-level advisory lock on a connection kept for the purpose: PostgreSQL frees it the
 * moment the process's connection ends (kill -9, machine gone), with no lease of our own to expire.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

export interface ExecutionClaims {
  /** Takes the execution for this process; false when a live process holds it. */
  claim(tenant: string, executionId: string): Promise<boolean>;
  release(tenant: string, executionId: string): Promise<void>;
  /** Whether another live server process holds the execution (runs it now). */
  heldElsewhere(tenant: string, executionId: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * A single-machine server (SQLite files in its state directory) is the only process running the
 * tenants' executions: every claim is granted.
 */
export function soleProcessClaims(): ExecutionClaims {
  return {
    claim: async () => true,
    release: async () => {},
    heldElsewhere: async () => false,
    close: async () => {},
  };
}

/** The advisory lock key of an execution: 64 bits of a hash of tenant and id. */
function lockKey(tenant: string, executionId: string): bigint {
  const digest = createHash('sha256').update(`weft-execution\u0000${tenant}\u0000${executionId}`).digest();
  return digest.readBigInt64BE(0);
}

/**
 * Claims held on one PostgreSQL connection. When that connection breaks, every claim is lost at
 * once (another process may take the executions over now): `onLost` is told, so that the runs of
 * this process stop before they could run beside the new owner's.
 */
export class PostgresExecutionClaims implements ExecutionClaims {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private closed = false;
  /** Queries one after the other on the one connection (pg deprecates overlapping ones). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly onLost: () => void,
  ) {}

  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url, application_name: 'weft-claims' });
      const lost = () => {
        if (this.client !== client) return;
        this.client = undefined;
        client.end().catch(() => {});
        if (!this.closed) this.onLost();
      };
      client.on('error', lost);
      client.on('end', lost);
      try {
        await client.connect();
      } catch (error) {
        client.end().catch(() => {});
        throw error;
      }
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private query<T extends pg.QueryResultRow>(text: string, params: unknown[]): Promise<T[]> {
    const next = this.queue.then(async () => (await (await this.connection()).query<T>(text, params)).rows);
    this.queue = next.catch(() => {});
    return next;
  }

  async claim(tenant: string, executionId: string): Promise<boolean> {
    if (this.closed) return false;
    const [row] = await this.query<{ claimed: boolean }>(
      'SELECT pg_try_advisory_lock($1::bigint) AS claimed',
      [lockKey(tenant, executionId).toString()],
    );
    return row?.claimed === true;
  }

  async release(tenant: string, executionId: string): Promise<void> {
    // Without the connection there is nothing to release: its locks ended with it.
    if (!this.client) return;
    await this.query('SELECT pg_advisory_unlock($1::bigint)', [
      lockKey(tenant, executionId).toString(),
    ]).catch(() => {});
  }

  async heldElsewhere(tenant: string, executionId: string): Promise<boolean> {
    // A bigint advisory lock shows in pg_locks as its high half (classid) and low half (objid).
    const key = BigInt.asUintN(64, lockKey(tenant, executionId));
    const [row] = await this.query<{ held: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 1
            AND classid = $1::bigint::oid AND objid = $2::bigint::oid
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND pid <> pg_backend_pid()
       ) AS held`,
      [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
    );
    return row?.held === true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
