/**
 * The service store: PostgreSQL through a `pg` Pool. JSON fields are jsonb, bytes are bytea.
 *
 * Bulk writes take one round trip per table: the rows travel as one jsonb array parameter and
 * are expanded with jsonb_to_recordset (UPDATE ... FROM, INSERT ... SELECT).
 *
 * Event order: a BIGSERIAL is assigned at insert time, not at commit time, so two concurrent
 * transactions could commit their events out of seq order and a follower reading "after seq N"
 * would skip some. Transactions that insert events therefore take a transaction-scoped advisory
 * lock first (just before the insert, held until commit): seq order is commit order.
 */
import { userInfo } from 'node:os';
import { setTimeout as pause } from 'node:timers/promises';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';

/** An error from the server (pg's DatabaseError, told apart without loading pg up front). */
function isDatabaseError(error: unknown): error is Error & { code: string; constraint?: string } {
  return (
    error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && 'severity' in error
  );
}

import {
  type DeploymentRow,
  type DeploymentVersionRow,
  deploymentSummaries,
  type EventRow,
  type ExecutionRow,
  eventSelect,
  executionChanges,
  type InstanceRow,
  jsonText,
  lastByKey,
  maskHiddenInputs,
  nowIso,
  rowReaders,
  rowWriters,
  type SnapshotRow,
  type TaskRow,
  taskKey,
  taskName,
  toBuffer,
  toBytes,
} from './common.js';
import { pendingMigrations, postgresMigrations } from './migrations.js';
import {
  ActiveExecutionError,
  type Batch,
  type BlueprintRecord,
  type DeploymentChange,
  type DeploymentDetail,
  type DeploymentRecord,
  type DeploymentSummary,
  type DeploymentVersionRecord,
  type EventQuery,
  type EventRecord,
  type ExecutionRecord,
  type InstanceState,
  type Json,
  type NodeInstanceRecord,
  NotFoundError,
  type SecretRecord,
  type SnapshotRecord,
  type Store,
  StoreConnectionError,
  type TaskRecord,
} from './types.js';
import {
  addInstancesError,
  batchError,
  createDeploymentError,
  createExecutionError,
  type Lookup,
  type Violation,
  versionError,
} from './violations.js';

export interface PostgresStoreOptions {
  /**
   * Schema to keep the tables in (created if missing; set as the search_path of every connection).
   * Lower-case letters, digits and underscores. Default: the server's search_path (usually public).
   */
  schema?: string;
  /**
   * Sent (pg_notify) by every transaction that stores events, in the query of its COMMIT: the
   * processes listening on `channel` learn of them when they are committed, with no statement of
   * the writer's own.
   */
  eventsNotice?: { channel: string; payload: string };
}

/** pg returns jsonb columns parsed (SQL NULL as null); rows are written as one jsonb array. */
/** The secrets' names and change times, in a few bytes. */
const SECRETS_VERSION = `SELECT COUNT(*) || ':' || COALESCE(md5(string_agg(key || ':' || updated_at, ',' ORDER BY key)), '') AS version FROM secrets`;

const read = rowReaders<Json>(<T>(value: Json | null) => (value ?? null) as T);
const write = rowWriters(
  (value) => value ?? null,
  (flag) => flag,
);

/** Advisory lock keys (first half; the second is a hash of the schema so schemas do not contend). */
const LOCK_MIGRATE = 0x57460001;
const LOCK_EVENTS = 0x57460002;

/** Takes a transaction-scoped advisory lock: ($1, a hash of the current schema). */
const ADVISORY_LOCK = `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))`;

/** How long a lost connection is tried again before the store gives up, and the pauses between. */
const RECONNECT_MS = 30_000;
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 2000;

/** PostgreSQL's error classes for a connection that failed or an administrator's shutdown. */
const CONNECTION_CODES = /^(08|57P0[123])/;
const SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTCONN',
]);

/** pg's error for a query on a connection it already knows is broken: nothing was sent. */
const NOT_SENT = /encountered a connection error and is not queryable/;

/** Whether `error` says the connection was lost (or could not be made), not that a statement failed. */
function connectionLost(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.test(code) || SOCKET_CODES.has(code))) return true;
  // pg's own errors for a connection that ended under a query carry no code.
  return /Connection terminated|encountered a connection error|not queryable/i.test(error.message);
}

/** Connections for transactions (pg's default), and for single reads (see the constructor). */
const TRANSACTION_CONNECTIONS = 10;
const READ_CONNECTIONS = 4;

/** How often createExecution retries when the active execution it collided with ended meanwhile. */
const ACTIVE_RETRIES = 3;

const ACTIVE_STATUS_SQL = `status IN ('pending', 'started', 'cancelling', 'force_cancelling')`;

/** A batch of events alone (see PostgresStore.groupEvents), waiting for its commit. */
interface PendingEvents {
  events: EventRecord[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Whether `batch` holds events and nothing else. */
function eventsOnly(batch: Batch): batch is Batch & { events: EventRecord[] } {
  return (
    !!batch.events?.length &&
    !batch.execution &&
    !batch.newTasks?.length &&
    !batch.tasks?.length &&
    !batch.instanceStates?.length &&
    !batch.runtimeProperties?.length
  );
}

/** Opens a pool on `url` (postgres://...). Call migrate() before the first use of a new database. */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  return PostgresStore.open(url, options);
}

/** The constraint a write broke, from the server's error code and the constraint's name. */
function violation(error: unknown): Violation | undefined {
  if (!isDatabaseError(error)) return undefined;
  if (error.code === '23503') return 'missing reference';
  if (error.code !== '23505') return undefined;
  if (error.constraint === 'deployments_pkey') return 'deployment exists';
  if (error.constraint === 'executions_pkey') return 'execution exists';
  if (error.constraint === 'executions_one_active') return 'active execution';
  return undefined;
}

const INSTANCE_COLUMNS =
  'id, deployment_id, node, idx, state, runtime_properties, version, contained_in, host_id, relationships, scaling_groups';
const INSERT_INSTANCES = `INSERT INTO node_instances (${INSTANCE_COLUMNS})
  SELECT ${INSTANCE_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS v(
    id text, deployment_id text, node text, idx integer, state text, runtime_properties jsonb, version integer,
    contained_in text, host_id text, relationships jsonb, scaling_groups jsonb)`;

const TASK_COLUMNS =
  'execution_id, id, kind, instance_id, node, operation, target_state, relationship, depends_on, inputs, ignore_failure, state, attempt, not_before, error, result, updated_at';
const INSERT_TASKS = `INSERT INTO tasks (${TASK_COLUMNS})
  SELECT ${TASK_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS v(
    execution_id text, id integer, kind text, instance_id text, node text, operation text, target_state text,
    relationship jsonb, depends_on jsonb, inputs jsonb, ignore_failure boolean, state text, attempt integer, not_before bigint, error jsonb, result jsonb,
    updated_at text)`;

const UPDATE_TASKS = `UPDATE tasks AS t
  SET state = v.state, attempt = v.attempt, not_before = v.not_before, error = v.error, result = v.result,
      updated_at = $2
  FROM jsonb_to_recordset($1::jsonb) AS v(
    execution_id text, id integer, state text, attempt integer, not_before bigint, error jsonb, result jsonb)
  WHERE t.execution_id = v.execution_id AND t.id = v.id
  RETURNING t.execution_id, t.id`;

const UPDATE_RUNTIME_PROPERTIES = `UPDATE node_instances AS n
  SET runtime_properties = v.runtime_properties, version = n.version + 1
  FROM jsonb_to_recordset($1::jsonb) AS v(id text, runtime_properties jsonb, expected integer)
  WHERE n.id = v.id AND n.version = v.expected
  RETURNING n.id`;

const UPDATE_INSTANCE_STATES = `UPDATE node_instances AS n SET state = v.state
  FROM jsonb_to_recordset($1::jsonb) AS v(id text, state text)
  WHERE n.id = v.id
  RETURNING n.id`;

const EVENT_COLUMNS =
  'execution_id, deployment_id, node, instance_id, operation, task_id, type, level, message, data, emitted_at';
/**
 * Takes the events lock ($2, as ADVISORY_LOCK) and inserts: one round trip instead of two. The
 * lock's CTE is scanned before the join yields a row, so every seq is drawn under the lock.
 */
const INSERT_EVENTS = `WITH locked AS (SELECT pg_advisory_xact_lock($2, hashtext(coalesce(current_schema(), ''))))
  INSERT INTO events (${EVENT_COLUMNS})
  SELECT ${EVENT_COLUMNS} FROM locked, jsonb_to_recordset($1::jsonb) AS v(
    i integer, execution_id text, deployment_id text, node text, instance_id text, operation text, task_id integer,
    type text, level text, message text, data jsonb, emitted_at text)
  ORDER BY v.i`;

/**
 * Inside a transaction (`tx`): names a statement that writes and needs no check of its result, to
 * be sent in one query with the COMMIT (one round trip less). Several go in the order named.
 */
type WithCommit = (sql: string, params: readonly (string | number)[]) => void;

/**
 * `sql` with its parameters ($1...) written in as literals: a query of several statements (the
 * simple protocol) takes no parameters.
 */
function withLiterals(client: PoolClient, sql: string, params: readonly (string | number)[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = params[Number(n) - 1];
    if (typeof value === 'string') return client.escapeLiteral(value);
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    throw new Error(`parameter $${n} of a statement sent with COMMIT: a string or an integer is needed`);
  });
}

export class PostgresStore implements Store {
  private closed = false;

  /** What the errors of broken constraints look up. */
  private readonly look: Lookup = {
    exists: async (table, id) =>
      (await this.read(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rows.length > 0,
    activeExecution: async (deploymentId) =>
      (
        await this.read<{ id: string; workflow: string }>(
          `SELECT id, workflow FROM executions WHERE deployment_id = $1 AND ${ACTIVE_STATUS_SQL}`,
          [deploymentId],
        )
      ).rows[0],
    latestExecution: async (deploymentId) =>
      (
        await this.read<{ id: string; workflow: string }>(
          `SELECT id, workflow FROM executions WHERE deployment_id = $1
           ORDER BY created_at DESC, id DESC LIMIT 1`,
          [deploymentId],
        )
      ).rows[0],
    deploymentOf: async (executionId) =>
      (
        await this.read<{ deployment_id: string }>('SELECT deployment_id FROM executions WHERE id = $1', [
          executionId,
        ])
      ).rows[0]?.deployment_id,
  };

  /**
   * `pool` runs transactions; `reads`, single statements that only read. Reads have connections of
   * their own so that they never queue behind transactions: with 20 executions committing, a
   * request's read waited about ten times as long for a connection as it ran.
   */
  private constructor(
    private readonly pool: Pool,
    private readonly reads: Pool,
    private readonly eventsNotice: PostgresStoreOptions['eventsNotice'],
  ) {}

  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const { schema } = options;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new Error(
        `invalid PostgreSQL schema name '${schema}': use lower-case letters, digits and underscores`,
      );
    }
    // pg is loaded only by a process that uses PostgreSQL (the CLI on SQLite starts faster).
    const { Pool } = await import('pg');
    const newPool = (max: number) => {
      const made = new Pool({
        connectionString: withDefaultUser(url),
        max,
        ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
      });
      // A connection that drops (server restart, a terminated backend) must not crash the process.
      // Idle, the pool replaces it; checked out, the query in flight (or the next one) fails, and
      // the client's own 'error' event, which nothing else listens to then, is expected.
      made.on('error', () => {});
      made.on('connect', (client) => client.on('error', () => {}));
      return made;
    };
    const pool = newPool(TRANSACTION_CONNECTIONS);
    const reads = newPool(READ_CONNECTIONS);
    try {
      if (schema !== undefined) {
        try {
          await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        } catch (error) {
          // Two processes creating it at once: the loser sees a unique violation; the schema exists.
          if (!(isDatabaseError(error) && (error.code === '23505' || error.code === '42P06'))) throw error;
        }
      } else {
        await pool.query('SELECT 1');
      }
    } catch (error) {
      await Promise.all([pool.end(), reads.end()]);
      throw error;
    }
    return new PostgresStore(pool, reads, options.eventsNotice);
  }

  /**
   * Runs `fn` in a transaction on one connection; rolls back when it throws. A connection lost
   * before COMMIT was sent rolled the transaction back, so it is run again whole, on a new one;
   * lost during COMMIT, the server is asked on a new connection whether it committed.
   */
  private tx<T>(fn: (client: PoolClient, withCommit: WithCommit) => Promise<T>): Promise<T> {
    return this.retrying(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      const last: string[] = [];
      try {
        const [, begun] = (await client.query('BEGIN; SELECT txid_current() AS xid')) as unknown as [
          unknown,
          QueryResult<{ xid: string }>,
        ];
        const result = await fn(client, (sql, params) => {
          last.push(withLiterals(client, sql, params));
        });
        try {
          await client.query([...last, 'COMMIT'].join(';\n'));
        } catch (error) {
          // A connection already found broken never sent the COMMIT: the server rolled back.
          if (connectionLost(error) && !NOT_SENT.test((error as Error).message)) {
            broken = error as Error;
            if (await this.committed(begun.rows[0]!.xid, error as Error)) return result;
          }
          throw error;
        }
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    });
  }

  /**
   * Whether transaction `xid`, whose connection was lost during its COMMIT, committed; asked on
   * another connection until the server has finished with it.
   */
  private async committed(xid: string, lost: Error): Promise<boolean> {
    const deadline = Date.now() + RECONNECT_MS;
    for (;;) {
      const { rows } = await this.read<{ status: string | null }>('SELECT txid_status($1) AS status', [xid]);
      const status = rows[0]?.status;
      if (status === 'committed') return true;
      if (status === 'aborted') return false;
      if (status === null || Date.now() > deadline)
        throw new StoreConnectionError(
          `the connection to PostgreSQL was lost while committing, and whether the last changes were stored is not known: ${lost.message}`,
          { cause: lost },
        );
      await pause(FIRST_PAUSE_MS);
    }
  }

  /** A query that only reads: run again on a new connection when the connection is lost. */
  private read<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]) {
    return this.retrying(() => this.reads.query<R>(sql, params));
  }

  /** One statement that writes, in a transaction of its own so that it can be run again safely. */
  private write<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]) {
    return this.tx((client) => client.query<R>(sql, params));
  }

  /**
   * Runs `attempt` until it does not fail for a lost connection (the server restarted, the
   * connection was terminated), pausing longer each time, for up to RECONNECT_MS.
   */
  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + RECONNECT_MS;
    for (let delay = FIRST_PAUSE_MS; ; delay = Math.min(delay * 2, LONGEST_PAUSE_MS)) {
      try {
        return await attempt();
      } catch (error) {
        if (this.closed || error instanceof StoreConnectionError || !connectionLost(error)) throw error;
        if (Date.now() + delay > deadline)
          throw new StoreConnectionError(
            `lost the connection to PostgreSQL and could not get it back within ${RECONNECT_MS / 1000} s: ${(error as Error).message}`,
            { cause: error },
          );
        await pause(delay);
      }
    }
  }

  async migrate(): Promise<void> {
    await this.tx(async (client) => {
      await client.query(ADVISORY_LOCK, [LOCK_MIGRATE]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
      );
      const applied = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const pending = pendingMigrations(
        postgresMigrations,
        applied.rows.map((r) => r.version),
        'the PostgreSQL database',
      );
      for (const migration of pending) {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
          migration.version,
          nowIso(),
        ]);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.pool.end(), this.reads.end()]);
  }

  // Blueprints

  async putBlueprint(blueprint: BlueprintRecord): Promise<void> {
    await this.tx(async (client) => {
      const inserted = await client.query(
        'INSERT INTO blueprints (id, main_file, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
        [blueprint.id, blueprint.mainFile, blueprint.createdAt],
      );
      // The id is the content hash: an existing blueprint already has these files.
      if (inserted.rowCount === 0) return;
      const files = Object.entries(blueprint.files);
      if (files.length === 0) return;
      await client.query(
        `INSERT INTO blueprint_files (blueprint_id, path, content)
         SELECT $1, f.path, f.content FROM unnest($2::text[], $3::bytea[]) AS f(path, content)`,
        [blueprint.id, files.map(([path]) => path), files.map(([, content]) => toBuffer(content))],
      );
    });
  }

  async getBlueprint(id: string): Promise<BlueprintRecord | undefined> {
    const result = await this.read<{ id: string; main_file: string; created_at: string }>(
      'SELECT id, main_file, created_at FROM blueprints WHERE id = $1',
      [id],
    );
    const row = result.rows[0];
    if (!row) return undefined;
    const files = await this.read<{ path: string; content: Buffer }>(
      'SELECT path, content FROM blueprint_files WHERE blueprint_id = $1 ORDER BY path',
      [id],
    );
    return {
      id: row.id,
      mainFile: row.main_file,
      files: Object.fromEntries(files.rows.map((f) => [f.path, toBytes(f.content)])),
      createdAt: row.created_at,
    };
  }

  // Deployments

  async createDeployment(deployment: DeploymentRecord, instances: NodeInstanceRecord[]): Promise<void> {
    try {
      await this.tx(async (client) => {
        await client.query(
          'INSERT INTO deployments (id, blueprint_id, inputs, model, created_at) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)',
          [
            deployment.id,
            deployment.blueprintId,
            jsonText(deployment.inputs),
            jsonText(deployment.model),
            deployment.createdAt,
          ],
        );
        await insertInstances(client, instances);
      });
    } catch (error) {
      throw (await createDeploymentError(violation(error), error, deployment, instances, this.look)) ?? error;
    }
  }

  async getDeployment(id: string): Promise<DeploymentRecord | undefined> {
    const result = await this.read<DeploymentRow<Json>>('SELECT * FROM deployments WHERE id = $1', [id]);
    const row = result.rows[0];
    return row && read.deployment(row);
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    const result = await this.read<DeploymentRow<Json>>('SELECT * FROM deployments ORDER BY created_at, id');
    return result.rows.map(read.deployment);
  }

  async getDeploymentDetail(id: string, known?: string): Promise<DeploymentDetail | undefined> {
    const result = await this.read<
      DeploymentRow<Json> & {
        version: string;
        changed: boolean;
        instance_counts: [string, InstanceState, number][];
        last_execution: ExecutionRow<Json> | null;
        secrets_version: string;
      }
    >(
      // The row's xmin is its version: every UPDATE (and a new row) has a transaction id of its
      // own. The model is sent only when the caller does not hold that version.
      `SELECT d.xmin::text AS version, d.xmin::text IS DISTINCT FROM $2 AS changed,
         d.id, d.blueprint_id, d.created_at,
         CASE WHEN d.xmin::text = $2 THEN NULL ELSE d.inputs END AS inputs,
         CASE WHEN d.xmin::text = $2 THEN NULL ELSE d.model END AS model,
         (SELECT COALESCE(jsonb_agg(jsonb_build_array(c.node, c.state, c.n)), '[]'::jsonb)
            FROM (SELECT node, state, COUNT(*) AS n FROM node_instances
                  WHERE deployment_id = d.id GROUP BY node, state) c) AS instance_counts,
         (SELECT to_jsonb(e) FROM executions e WHERE e.deployment_id = d.id
            ORDER BY e.created_at DESC, e.id DESC LIMIT 1) AS last_execution,
         (${SECRETS_VERSION}) AS secrets_version
       FROM deployments d WHERE d.id = $1`,
      [id, known ?? null],
    );
    const row = result.rows[0];
    return (
      row && {
        deployment: row.changed ? read.deployment(row) : null,
        version: row.version,
        instanceCounts: row.instance_counts.map(([node, state, count]) => ({ node, state, count })),
        lastExecution: row.last_execution && read.execution(row.last_execution),
        secretsVersion: row.secrets_version,
      }
    );
  }

  async listDeploymentSummaries(): Promise<DeploymentSummary[]> {
    const [deployments, counts, latest] = await Promise.all([
      this.read<Omit<DeploymentRow<Json>, 'model'> & { blueprint_path: string | null; hidden_inputs: Json }>(
        `SELECT id, blueprint_id, inputs, created_at, model->'blueprint'->>'mainFile' AS blueprint_path,
           model->'blueprint'->'hiddenInputs' AS hidden_inputs
         FROM deployments ORDER BY created_at, id`,
      ),
      this.read<{ deploymentId: string; state: string; count: string }>(
        'SELECT deployment_id AS "deploymentId", state, COUNT(*) AS count FROM node_instances GROUP BY deployment_id, state',
      ),
      this.read<ExecutionRow<Json>>(
        'SELECT DISTINCT ON (deployment_id) * FROM executions ORDER BY deployment_id, created_at DESC, id DESC',
      ),
    ]);
    return deploymentSummaries(
      deployments.rows.map((r) => ({
        id: r.id,
        blueprintId: r.blueprint_id,
        blueprintPath: r.blueprint_path,
        inputs: maskHiddenInputs(r.inputs as Record<string, Json>, r.hidden_inputs),
        createdAt: r.created_at,
      })),
      counts.rows.map((r) => ({ ...r, count: Number(r.count) })),
      latest.rows.map(read.execution),
    );
  }

  async updateDeploymentModel(id: string, model: Json): Promise<void> {
    const result = await this.write('UPDATE deployments SET model = $2::jsonb WHERE id = $1', [
      id,
      jsonText(model),
    ]);
    if (result.rowCount === 0) throw new NotFoundError('deployment', id);
  }

  async deleteDeployment(id: string): Promise<void> {
    const result = await this.write('DELETE FROM deployments WHERE id = $1', [id]);
    if (result.rowCount === 0) throw new NotFoundError('deployment', id);
  }

  // Instances

  async listInstances(deploymentId: string): Promise<NodeInstanceRecord[]> {
    const result = await this.read<InstanceRow<Json>>(
      'SELECT * FROM node_instances WHERE deployment_id = $1 ORDER BY node, idx, id',
      [deploymentId],
    );
    return result.rows.map(read.instance);
  }

  async getInstance(id: string): Promise<NodeInstanceRecord | undefined> {
    const result = await this.read<InstanceRow<Json>>('SELECT * FROM node_instances WHERE id = $1', [id]);
    const row = result.rows[0];
    return row && read.instance(row);
  }

  async addInstances(instances: NodeInstanceRecord[]): Promise<void> {
    try {
      await this.tx((client) => insertInstances(client, instances));
    } catch (error) {
      throw (await addInstancesError(violation(error), instances, this.look)) ?? error;
    }
  }

  async removeInstances(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.write('DELETE FROM node_instances WHERE id = ANY($1::text[])', [ids]);
  }

  async changeDeployment(change: DeploymentChange): Promise<void> {
    await this.tx((client) => writeDeploymentChange(client, change));
  }

  async listDeploymentVersions(deploymentId: string): Promise<DeploymentVersionRecord[]> {
    const result = await this.read<DeploymentVersionRow<Json>>(
      'SELECT * FROM deployment_versions WHERE deployment_id = $1 ORDER BY version',
      [deploymentId],
    );
    return result.rows.map(read.deploymentVersion);
  }

  async putSnapshot(snapshot: SnapshotRecord): Promise<void> {
    await this.write(
      `INSERT INTO snapshots (id, deployment_id, name, blueprint_id, inputs, model, data, created_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, blueprint_id = excluded.blueprint_id,
         inputs = excluded.inputs, model = excluded.model, data = excluded.data`,
      [
        snapshot.id,
        snapshot.deploymentId,
        snapshot.name,
        snapshot.blueprintId,
        jsonText(snapshot.inputs),
        jsonText(snapshot.model),
        jsonText(snapshot.data),
        snapshot.createdAt,
      ],
    );
  }

  async listSnapshots(deploymentId: string): Promise<SnapshotRecord[]> {
    const result = await this.read<SnapshotRow<Json>>(
      'SELECT * FROM snapshots WHERE deployment_id = $1 ORDER BY created_at, id',
      [deploymentId],
    );
    return result.rows.map(read.snapshot);
  }

  async deleteSnapshot(deploymentId: string, id: string): Promise<boolean> {
    const result = await this.write('DELETE FROM snapshots WHERE deployment_id = $1 AND id = $2', [
      deploymentId,
      id,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async setInstanceRelationships(id: string, relationships: Json): Promise<void> {
    const result = await this.write('UPDATE node_instances SET relationships = $2::jsonb WHERE id = $1', [
      id,
      jsonText(relationships),
    ]);
    if (result.rowCount === 0) throw new NotFoundError('node instance', id);
  }

  async updateRuntimeProperties(
    id: string,
    runtimeProperties: Record<string, Json>,
    expectedVersion: number,
  ): Promise<number> {
    const result = await this.write<{ version: number }>(
      `UPDATE node_instances SET runtime_properties = $2::jsonb, version = version + 1
       WHERE id = $1 AND version = $3 RETURNING version`,
      [id, jsonText(runtimeProperties), expectedVersion],
    );
    const row = result.rows[0];
    if (row) return row.version;
    const current = await this.read<{ version: number }>('SELECT version FROM node_instances WHERE id = $1', [
      id,
    ]);
    throw versionError(id, expectedVersion, current.rows[0]?.version);
  }

  // Executions and tasks

  async createExecution(
    execution: ExecutionRecord,
    tasks: TaskRecord[],
    change?: DeploymentChange,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.tx(async (client) => {
          await client.query(
            `INSERT INTO executions (id, deployment_id, workflow, parameters, status, error, created_at, started_at, ended_at)
             VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7, $8, $9)`,
            [
              execution.id,
              execution.deploymentId,
              execution.workflow,
              jsonText(execution.parameters),
              execution.status,
              jsonText(execution.error),
              execution.createdAt,
              execution.startedAt,
              execution.endedAt,
            ],
          );
          if (tasks.length > 0) await insertTasks(client, tasks);
          if (change) await writeDeploymentChange(client, change);
        });
        return;
      } catch (error) {
        const found = violation(error);
        const translated = await createExecutionError(found, error, execution, tasks, this.look);
        if (translated) throw translated;
        if (found === 'active execution') {
          // It ended between our insert and the look-up: try again.
          if (attempt < ACTIVE_RETRIES) continue;
          throw new ActiveExecutionError(execution.deploymentId, '?', '?');
        }
        throw error;
      }
    }
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    const result = await this.read<ExecutionRow<Json>>('SELECT * FROM executions WHERE id = $1', [id]);
    const row = result.rows[0];
    return row && read.execution(row);
  }

  async listExecutions(deploymentId?: string): Promise<ExecutionRecord[]> {
    const result =
      deploymentId === undefined
        ? await this.read<ExecutionRow<Json>>('SELECT * FROM executions ORDER BY created_at, id')
        : await this.read<ExecutionRow<Json>>(
            'SELECT * FROM executions WHERE deployment_id = $1 ORDER BY created_at, id',
            [deploymentId],
          );
    return result.rows.map(read.execution);
  }

  async listTasks(executionId: string): Promise<TaskRecord[]> {
    const result = await this.read<TaskRow<Json>>('SELECT * FROM tasks WHERE execution_id = $1 ORDER BY id', [
      executionId,
    ]);
    return result.rows.map(read.task);
  }

  async applyBatch(batch: Batch): Promise<void> {
    if (eventsOnly(batch)) return this.groupEvents(batch.events);
    try {
      await this.tx(async (client, withCommit) => {
        if (batch.runtimeProperties?.length) await writeRuntimeProperties(client, batch.runtimeProperties);
        if (batch.newTasks?.length) await insertTasks(client, batch.newTasks);
        if (batch.tasks?.length) {
          // A task may appear several times in a batch (sent, then started): the last entry wins.
          const tasks = lastByKey(batch.tasks, taskKey);
          const updated = await client.query<{ execution_id: string; id: number }>(UPDATE_TASKS, [
            jsonText(tasks.map(write.taskChange)),
            nowIso(),
          ]);
          if (updated.rows.length !== tasks.length) {
            const seen = new Set(updated.rows.map((r) => taskKey({ executionId: r.execution_id, id: r.id })));
            const missing = tasks.find((t) => !seen.has(taskKey(t)));
            throw new NotFoundError('task', missing ? taskName(missing) : '?');
          }
        }
        if (batch.instanceStates?.length) {
          const states = lastByKey(batch.instanceStates, (s) => s.id);
          const updated = await client.query<{ id: string }>(UPDATE_INSTANCE_STATES, [jsonText(states)]);
          if (updated.rows.length !== states.length) {
            const seen = new Set(updated.rows.map((r) => r.id));
            throw new NotFoundError('node instance', states.find((s) => !seen.has(s.id))?.id ?? '?');
          }
        }
        if (batch.execution) {
          const changes = executionChanges(batch.execution);
          const sql =
            changes.length > 0
              ? `UPDATE executions SET ${changes
                  .map(
                    ([column], i) =>
                      `${column} = $${i + 2}${column === 'error' || column === 'cancel_request' ? '::jsonb' : ''}`,
                  )
                  .join(', ')} WHERE id = $1`
              : 'SELECT 1 FROM executions WHERE id = $1';
          const result = await client.query(sql, [batch.execution.id, ...changes.map(([, value]) => value)]);
          if (result.rowCount === 0) throw new NotFoundError('execution', batch.execution.id);
        }
        if (batch.events?.length) this.insertEvents(batch.events, withCommit);
      });
    } catch (error) {
      throw (await batchError(violation(error), batch, this.look)) ?? error;
    }
  }

  /**
   * Inside a transaction: inserts `events`, in order. Under the events lock, seq follows `i`; sent
   * with the COMMIT, so that the lock, which every commit of the tenant's events waits for, is
   * held for no round trip.
   */
  private insertEvents(events: readonly EventRecord[], withCommit: WithCommit): void {
    withCommit(INSERT_EVENTS, [jsonText(events.map((e, i) => ({ i, ...write.event(e) }))), LOCK_EVENTS]);
    if (this.eventsNotice)
      withCommit('SELECT pg_notify($1, $2)', [this.eventsNotice.channel, this.eventsNotice.payload]);
  }

  /**
   * Batches of events alone (log lines) go in one commit with those of the other executions that
   * came meanwhile: the events lock is held until each commit is flushed to disk, so commits of
   * their own queued on it one flush after another (20 executions logging every 50 ms: commits
   * waited tens of ms for the lock, and the connections held meanwhile made the others wait).
   * An execution has one batch in flight at a time, so its events keep their order.
   */
  private groupEvents(events: EventRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.eventGroup.push({ events, resolve, reject });
      if (!this.eventsCommitting) void this.commitEventGroups();
    });
  }

  private eventGroup: PendingEvents[] = [];
  /** A commit of grouped events is under way: what comes meanwhile waits for the next one. */
  private eventsCommitting = false;

  private async commitEventGroups(): Promise<void> {
    this.eventsCommitting = true;
    try {
      while (this.eventGroup.length > 0) {
        const group = this.eventGroup;
        this.eventGroup = [];
        try {
          await this.commitEvents(group.flatMap((pending) => pending.events));
          for (const pending of group) pending.resolve();
        } catch (error) {
          // Rolled back (a commit whose outcome is unknown is a StoreConnectionError): one batch's
          // bad events (of an execution deleted meanwhile) must not fail the others', tried alone.
          if (group.length === 1 || error instanceof StoreConnectionError)
            for (const pending of group) pending.reject(error);
          else
            for (const pending of group)
              await this.commitEvents(pending.events).then(pending.resolve, pending.reject);
        }
      }
    } finally {
      this.eventsCommitting = false;
    }
  }

  private commitEvents(events: EventRecord[]): Promise<void> {
    return this.tx(async (_client, withCommit) => this.insertEvents(events, withCommit));
  }

  async listEvents(query: EventQuery): Promise<EventRecord[]> {
    const { sql, params } = eventSelect(query, (n) => `$${n}`);
    const result = await this.read<EventRow<Json>>(sql, params);
    return result.rows.map(read.event);
  }

  // Secrets

  async putSecret(secret: SecretRecord): Promise<void> {
    await this.write(
      `INSERT INTO secrets (key, ciphertext, created_at, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (key) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
      [secret.key, toBuffer(secret.ciphertext), secret.createdAt, secret.updatedAt],
    );
  }

  async getSecret(key: string): Promise<SecretRecord | undefined> {
    const result = await this.read<{
      key: string;
      ciphertext: Buffer;
      created_at: string;
      updated_at: string;
    }>('SELECT * FROM secrets WHERE key = $1', [key]);
    const row = result.rows[0];
    return (
      row && {
        key: row.key,
        ciphertext: toBytes(row.ciphertext),
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      }
    );
  }

  async listSecrets(): Promise<Pick<SecretRecord, 'key' | 'createdAt' | 'updatedAt'>[]> {
    const result = await this.read<{ key: string; created_at: string; updated_at: string }>(
      'SELECT key, created_at, updated_at FROM secrets ORDER BY key',
    );
    return result.rows.map((r) => ({ key: r.key, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  async secretsVersion(): Promise<string> {
    return (await this.read<{ version: string }>(SECRETS_VERSION)).rows[0]!.version;
  }

  async deleteSecret(key: string): Promise<boolean> {
    const result = await this.write('DELETE FROM secrets WHERE key = $1', [key]);
    return (result.rowCount ?? 0) > 0;
  }
}

/**
 * A URL without a user name gets the OS user's, as libpq (psql) does. pg itself falls back to
 * PGUSER, then USER, and sends no user name at all when neither is set (as under some service
 * managers and containers).
 */
export function withDefaultUser(url: string): string {
  if (process.env.PGUSER || process.env.USER) return url;
  try {
    const parsed = new URL(url);
    if (parsed.username || !parsed.host) return url;
    parsed.username = encodeURIComponent(userInfo().username);
    return parsed.toString();
  } catch {
    return url;
  }
}

async function insertInstances(
  client: Pool | PoolClient,
  instances: readonly NodeInstanceRecord[],
): Promise<void> {
  if (instances.length === 0) return;
  await client.query(INSERT_INSTANCES, [jsonText(instances.map(write.instance))]);
}

/** Inside a transaction: a deployment change (see DeploymentChange). */
async function writeDeploymentChange(client: PoolClient, change: DeploymentChange): Promise<void> {
  const id = change.deploymentId;
  if (change.deployment) {
    const { model, blueprintId, inputs } = change.deployment;
    const result = await client.query(
      `UPDATE deployments SET model = $2::jsonb, blueprint_id = coalesce($3, blueprint_id),
         inputs = coalesce($4::jsonb, inputs) WHERE id = $1`,
      [id, jsonText(model), blueprintId ?? null, inputs ? jsonText(inputs) : null],
    );
    if (result.rowCount === 0) throw new NotFoundError('deployment', id);
  }
  if (change.addInstances?.length) await insertInstances(client, change.addInstances);
  for (const [instance, list] of Object.entries(change.relationships ?? {})) {
    const result = await client.query('UPDATE node_instances SET relationships = $2::jsonb WHERE id = $1', [
      instance,
      jsonText(list),
    ]);
    if (result.rowCount === 0) throw new NotFoundError('node instance', instance);
  }
  for (const [instance, node] of Object.entries(change.moveInstances ?? {})) {
    const result = await client.query(
      'UPDATE node_instances SET node = $3 WHERE id = $1 AND deployment_id = $2',
      [instance, id, node],
    );
    if (result.rowCount === 0) throw new NotFoundError('node instance', instance);
  }
  if (change.removeInstances?.length)
    await client.query('DELETE FROM node_instances WHERE deployment_id = $1 AND id = ANY($2::text[])', [
      id,
      change.removeInstances,
    ]);
  for (const v of change.versions ?? []) {
    await client.query(
      `INSERT INTO deployment_versions (deployment_id, version, blueprint_id, inputs, model, execution_id, created_at)
       VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7)`,
      [id, v.version, v.blueprintId, jsonText(v.inputs), jsonText(v.model), v.executionId, v.createdAt],
    );
  }
}

async function insertTasks(client: PoolClient, tasks: readonly TaskRecord[]): Promise<void> {
  await client.query(INSERT_TASKS, [jsonText(tasks.map(write.task))]);
}

/** Inside a transaction: the compare-and-set of runtime properties for several instances. */
async function writeRuntimeProperties(client: PoolClient, writes: NonNullable<Batch['runtimeProperties']>) {
  const unique = new Set(writes.map((w) => w.id)).size === writes.length;
  // Several writes to one instance must apply in order, each against the previous one's version.
  const groups = unique ? [writes] : writes.map((w) => [w]);
  for (const group of groups) {
    const updated = await client.query<{ id: string }>(UPDATE_RUNTIME_PROPERTIES, [
      jsonText(
        group.map((w) => ({
          id: w.id,
          runtime_properties: w.runtimeProperties,
          expected: w.expectedVersion,
        })),
      ),
    ]);
    if (updated.rows.length === group.length) continue;
    const seen = new Set(updated.rows.map((r) => r.id));
    const failed = group.filter((w) => !seen.has(w.id));
    const current = await client.query<{ id: string; version: number }>(
      'SELECT id, version FROM node_instances WHERE id = ANY($1::text[])',
      [failed.map((w) => w.id)],
    );
    const versions = new Map(current.rows.map((r) => [r.id, r.version]));
    const first = failed[0]!;
    throw versionError(first.id, first.expectedVersion, versions.get(first.id));
  }
}
