/**
 * The embedded store: SQLite through better-sqlite3 (synchronous; wrapped in async methods).
 *
 * WAL journal: a write's promise resolves once its commit is on disk (WalSync syncs the WAL off the
 * event loop, as synchronous = FULL would in it), so nothing a user was told happened is lost by a
 * crash or a power loss.
 * busy_timeout lets a second process (`weft events --follow` while `weft install` runs) read and
 * write. Write transactions start with BEGIN IMMEDIATE so that they take the write lock up front
 * and wait for it, instead of failing when a read lock cannot be upgraded.
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, openSync, realpathSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
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
  maskHiddenInputs,
  nowIso,
  parseJson,
  rowReaders,
  rowWriters,
  type SnapshotRow,
  type TaskRow,
  taskName,
  toBuffer,
  toBytes,
} from './common.js';
import { pendingMigrations, sqliteMigrations } from './migrations.js';
import {
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
import { WalSync } from './wal-sync.js';

/** SQLite returns JSON columns as text, and takes them as text; it has no booleans but 1 and 0. */
const read = rowReaders<string>(parseJson);
const write = rowWriters(jsonText, (flag) => (flag ? 1 : 0));

/** How long a connection waits for another process's write lock before failing (ms). */
export const SQLITE_BUSY_TIMEOUT_MS = 15_000;

/** Opens (creating if needed) the SQLite database at `path` (':memory:' for a private in-memory one). */
export async function openSqliteStore(path: string): Promise<Store> {
  return SqliteStore.open(path);
}

/**
 * The database holds runtime properties and task results: only its owner may read it. SQLite
 * creates files 0644 less the umask, and gives the -wal and -shm files the database file's mode,
 * so the database file is created 0600 before SQLite opens it; files an older version left
 * readable by others are tightened too (quietly: one that is not ours is left as it is).
 */
function ownerOnly(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    } catch {
      // missing, or not ours to change
    }
  }
}

/**
 * Sets the WAL journal. On a new file several processes may race to do it, and SQLite then
 * answers SQLITE_BUSY at once, without waiting on busy_timeout (each holds a read lock the other
 * needs released: waiting could deadlock), so the switch is retried until the timeout.
 */
async function switchToWal(db: Database.Database): Promise<void> {
  const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
  for (let pause = 2; ; pause = Math.min(pause * 2, 100)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      const busy = (error as { code?: string }).code === 'SQLITE_BUSY';
      if (!busy || Date.now() + pause > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause + Math.random() * pause));
    }
  }
}

interface SecretRow {
  key: string;
  ciphertext: Buffer;
  created_at: string;
  updated_at: string;
}

/** The constraint a write broke, from SQLite's error code and message (which names the columns). */
function violation(error: unknown): Violation | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'missing reference';
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return undefined;
  const { message } = error as Error;
  if (message.includes('deployments.id')) return 'deployment exists';
  if (message.includes('executions.deployment_id')) return 'active execution';
  if (message.includes('executions.id')) return 'execution exists';
  return undefined;
}

/**
 * A table's columns as rowWriters names them, in the order its multi-row INSERTs bind them: one
 * INSERT of many rows bound by position instead of a statement per row bound by name (which looks
 * each parameter up on the row object through V8's API) makes a batch of events cheaper.
 */
interface RowsInsert {
  table: string;
  columns: readonly string[];
  /** `(?, ?, ...)`: one row's parameters. */
  row: string;
}

const rowsInsert = (table: string, columns: string): RowsInsert => {
  const names = columns.split(', ');
  return { table, columns: names, row: `(${names.map(() => '?').join(', ')})` };
};

/** Rows per INSERT: 17 columns x 64 rows stays far below SQLite's limit of 32,766 parameters. */
const ROWS_PER_INSERT = 64;

const INSTANCES = rowsInsert(
  'node_instances',
  'id, deployment_id, node, idx, state, runtime_properties, version, contained_in, host_id, relationships, scaling_groups',
);

const TASKS = rowsInsert(
  'tasks',
  'execution_id, id, kind, instance_id, node, operation, target_state, relationship, depends_on, inputs, ignore_failure, state, attempt, not_before, error, result, updated_at',
);

/** A task's change (rowWriters' taskChange, in this order), and the batch's time. */
const UPDATE_TASK = `UPDATE tasks SET state = ?, attempt = ?, not_before = ?, error = ?, result = ?, updated_at = ?
  WHERE execution_id = ? AND id = ?`;

const EVENTS = rowsInsert(
  'events',
  'execution_id, deployment_id, node, instance_id, operation, task_id, type, level, message, data, emitted_at',
);

export class SqliteStore implements Store {
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;

  /** What the errors of broken constraints look up. */
  private readonly look: Lookup;

  private constructor(
    private readonly db: Database.Database,
    /** Syncs commits in WAL mode; without it SQLite syncs them itself (synchronous = FULL). */
    private readonly wal: WalSync | undefined,
  ) {
    this.look = {
      exists: async (table, id) => this.stmt(`SELECT 1 FROM ${table} WHERE id = ?`).get(id) !== undefined,
      activeExecution: async (deploymentId) =>
        this.stmt(
          `SELECT id, workflow FROM executions
           WHERE deployment_id = ? AND status IN ('pending', 'started', 'cancelling', 'force_cancelling')`,
        ).get(deploymentId) as { id: string; workflow: string } | undefined,
      latestExecution: async (deploymentId) =>
        this.stmt(
          `SELECT id, workflow FROM executions WHERE deployment_id = ?
           ORDER BY created_at DESC, id DESC LIMIT 1`,
        ).get(deploymentId) as { id: string; workflow: string } | undefined,
      deploymentOf: async (executionId) =>
        (
          this.stmt('SELECT deployment_id FROM executions WHERE id = ?').get(executionId) as
            | { deployment_id: string }
            | undefined
        )?.deployment_id,
    };
  }

  static async open(path: string): Promise<SqliteStore> {
    if (path !== ':memory:' && path !== '') ownerOnly(path);
    const db = new Database(path, { timeout: SQLITE_BUSY_TIMEOUT_MS });
    let wal = false;
    try {
      db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      await switchToWal(db);
      wal = path !== ':memory:' && path !== '' && db.pragma('journal_mode', { simple: true }) === 'wal';
      // In WAL mode a commit's sync is WalSync's (off the event loop); FULL otherwise.
      db.pragma(`synchronous = ${wal ? 'NORMAL' : 'FULL'}`);
      db.pragma('foreign_keys = ON');
    } catch (error) {
      db.close();
      throw error;
    }
    // SQLite names the WAL after the database file, symbolic links followed.
    return new SqliteStore(db, wal ? new WalSync(`${realpathSync(path)}-wal`) : undefined);
  }

  /** A prepared statement, prepared once per connection. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Inside a write transaction: inserts `rows` (as rowWriters gives them), ROWS_PER_INSERT at a time. */
  private insertRows(into: RowsInsert, rows: readonly Record<string, unknown>[]): void {
    const { table, columns, row: placeholders } = into;
    const values: unknown[] = [];
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
      const end = Math.min(start + ROWS_PER_INSERT, rows.length);
      values.length = 0;
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        for (const column of columns) values.push(row[column]);
      }
      this.stmt(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array(end - start)
          .fill(placeholders)
          .join(', ')}`,
      ).run(values);
    }
  }

  /**
   * Runs `fn` in a write transaction (BEGIN IMMEDIATE), rolled back when it throws; resolves once
   * the commit is on disk (see WalSync).
   */
  private async write<T>(fn: () => T): Promise<T> {
    const result = this.db.transaction(fn).immediate();
    await this.wal?.synced();
    return result;
  }

  async migrate(): Promise<void> {
    await this.write(() => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
      );
      const applied = (
        this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]
      ).map((r) => r.version);
      const record = this.db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
      for (const migration of pendingMigrations(sqliteMigrations, applied, 'the SQLite database')) {
        this.db.exec(migration.sql);
        record.run(migration.version, nowIso());
      }
    });
    this.statements.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.db.close();
    await this.wal?.close();
  }

  // Blueprints

  async putBlueprint(blueprint: BlueprintRecord): Promise<void> {
    await this.write(() => {
      const inserted = this.stmt(
        'INSERT INTO blueprints (id, main_file, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ).run(blueprint.id, blueprint.mainFile, blueprint.createdAt);
      // The id is the content hash: an existing blueprint already has these files.
      if (inserted.changes === 0) return;
      const file = this.stmt('INSERT INTO blueprint_files (blueprint_id, path, content) VALUES (?, ?, ?)');
      for (const [path, content] of Object.entries(blueprint.files))
        file.run(blueprint.id, path, toBuffer(content));
    });
  }

  async getBlueprint(id: string): Promise<BlueprintRecord | undefined> {
    const row = this.stmt('SELECT id, main_file, created_at FROM blueprints WHERE id = ?').get(id) as
      | { id: string; main_file: string; created_at: string }
      | undefined;
    if (!row) return undefined;
    const files = this.stmt(
      'SELECT path, content FROM blueprint_files WHERE blueprint_id = ? ORDER BY path',
    ).all(id) as { path: string; content: Buffer }[];
    return {
      id: row.id,
      mainFile: row.main_file,
      files: Object.fromEntries(files.map((f) => [f.path, toBytes(f.content)])),
      createdAt: row.created_at,
    };
  }

  // Deployments

  async createDeployment(deployment: DeploymentRecord, instances: NodeInstanceRecord[]): Promise<void> {
    try {
      await this.write(() => {
        this.stmt(
          'INSERT INTO deployments (id, blueprint_id, inputs, model, created_at) VALUES (?, ?, ?, ?, ?)',
        ).run(
          deployment.id,
          deployment.blueprintId,
          jsonText(deployment.inputs),
          jsonText(deployment.model),
          deployment.createdAt,
        );
        this.insertInstances(instances);
      });
    } catch (error) {
      throw (await createDeploymentError(violation(error), error, deployment, instances, this.look)) ?? error;
    }
  }

  private insertInstances(instances: readonly NodeInstanceRecord[]): void {
    this.insertRows(INSTANCES, instances.map(write.instance));
  }

  async getDeployment(id: string): Promise<DeploymentRecord | undefined> {
    const row = this.stmt('SELECT * FROM deployments WHERE id = ?').get(id) as
      | DeploymentRow<string>
      | undefined;
    return row && read.deployment(row);
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    const rows = this.stmt(
      'SELECT * FROM deployments ORDER BY created_at, id',
    ).all() as DeploymentRow<string>[];
    return rows.map(read.deployment);
  }

  async getDeploymentDetail(id: string, known?: string): Promise<DeploymentDetail | undefined> {
    const row = this.stmt('SELECT * FROM deployments WHERE id = ?').get(id) as
      | DeploymentRow<string>
      | undefined;
    if (!row) return undefined;
    // The record's text, hashed: what the caller saves by holding a version is parsing the model.
    const version = createHash('sha256')
      .update(JSON.stringify([row.id, row.blueprint_id, row.created_at, row.inputs, row.model]))
      .digest('base64url');
    const counts = this.stmt(
      'SELECT node, state, COUNT(*) AS count FROM node_instances WHERE deployment_id = ? GROUP BY node, state',
    ).all(id) as { node: string; state: InstanceState; count: number }[];
    const last = this.stmt(
      'SELECT * FROM executions WHERE deployment_id = ? ORDER BY created_at DESC, id DESC LIMIT 1',
    ).get(id) as ExecutionRow<string> | undefined;
    return {
      deployment: version === known ? null : read.deployment(row),
      version,
      instanceCounts: counts,
      lastExecution: last ? read.execution(last) : null,
      secretsVersion: await this.secretsVersion(),
    };
  }

  async listDeploymentSummaries(): Promise<DeploymentSummary[]> {
    const deployments = this.stmt(
      `SELECT id, blueprint_id, inputs, created_at, json_extract(model, '$.blueprint.mainFile') AS blueprint_path,
         json_extract(model, '$.blueprint.hiddenInputs') AS hidden_inputs
       FROM deployments ORDER BY created_at, id`,
    ).all() as (Omit<DeploymentRow<string>, 'model'> & {
      blueprint_path: string | null;
      hidden_inputs: string | null;
    })[];
    const counts = this.stmt(
      'SELECT deployment_id AS deploymentId, state, COUNT(*) AS count FROM node_instances GROUP BY deployment_id, state',
    ).all() as { deploymentId: string; state: string; count: number }[];
    // The latest execution of each deployment: the one no other of the deployment comes after.
    const latest = this.stmt(
      `SELECT * FROM executions e WHERE NOT EXISTS (
         SELECT 1 FROM executions later WHERE later.deployment_id = e.deployment_id
           AND (later.created_at > e.created_at OR (later.created_at = e.created_at AND later.id > e.id)))`,
    ).all() as ExecutionRow<string>[];
    return deploymentSummaries(
      deployments.map((r) => ({
        id: r.id,
        blueprintId: r.blueprint_id,
        blueprintPath: r.blueprint_path,
        inputs: maskHiddenInputs(parseJson(r.inputs), r.hidden_inputs ? parseJson(r.hidden_inputs) : null),
        createdAt: r.created_at,
      })),
      counts,
      latest.map(read.execution),
    );
  }

  async updateDeploymentModel(id: string, model: Json): Promise<void> {
    const result = await this.write(() =>
      this.stmt('UPDATE deployments SET model = ? WHERE id = ?').run(jsonText(model), id),
    );
    if (result.changes === 0) throw new NotFoundError('deployment', id);
  }

  async deleteDeployment(id: string): Promise<void> {
    const result = await this.write(() => this.stmt('DELETE FROM deployments WHERE id = ?').run(id));
    if (result.changes === 0) throw new NotFoundError('deployment', id);
  }

  // Instances

  async listInstances(deploymentId: string): Promise<NodeInstanceRecord[]> {
    const rows = this.stmt('SELECT * FROM node_instances WHERE deployment_id = ? ORDER BY node, idx, id').all(
      deploymentId,
    ) as InstanceRow<string>[];
    return rows.map(read.instance);
  }

  async getInstance(id: string): Promise<NodeInstanceRecord | undefined> {
    const row = this.stmt('SELECT * FROM node_instances WHERE id = ?').get(id) as
      | InstanceRow<string>
      | undefined;
    return row && read.instance(row);
  }

  async addInstances(instances: NodeInstanceRecord[]): Promise<void> {
    try {
      await this.write(() => this.insertInstances(instances));
    } catch (error) {
      throw (await addInstancesError(violation(error), instances, this.look)) ?? error;
    }
  }

  async removeInstances(ids: string[]): Promise<void> {
    await this.write(() => {
      const remove = this.stmt('DELETE FROM node_instances WHERE id = ?');
      for (const id of ids) remove.run(id);
    });
  }

  async setInstanceRelationships(id: string, relationships: Json): Promise<void> {
    const result = await this.write(() =>
      this.stmt('UPDATE node_instances SET relationships = ? WHERE id = ?').run(jsonText(relationships), id),
    );
    if (result.changes === 0) throw new NotFoundError('node instance', id);
  }

  async updateRuntimeProperties(
    id: string,
    runtimeProperties: Record<string, Json>,
    expectedVersion: number,
  ): Promise<number> {
    return await this.write(() => this.writeRuntimeProperties(id, runtimeProperties, expectedVersion));
  }

  /** Inside a write transaction: the compare-and-set of one instance's runtime properties. */
  private writeRuntimeProperties(
    id: string,
    runtimeProperties: Record<string, Json>,
    expectedVersion: number,
  ): number {
    const row = this.stmt(
      'UPDATE node_instances SET runtime_properties = ?, version = version + 1 WHERE id = ? AND version = ? RETURNING version',
    ).get(jsonText(runtimeProperties), id, expectedVersion) as { version: number } | undefined;
    if (row) return row.version;
    const current = this.stmt('SELECT version FROM node_instances WHERE id = ?').get(id) as
      | { version: number }
      | undefined;
    throw versionError(id, expectedVersion, current?.version);
  }

  // Executions and tasks

  async createExecution(
    execution: ExecutionRecord,
    tasks: TaskRecord[],
    change?: DeploymentChange,
  ): Promise<void> {
    try {
      await this.write(() => {
        this.stmt(
          `INSERT INTO executions (id, deployment_id, workflow, parameters, status, error, created_at, started_at, ended_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          execution.id,
          execution.deploymentId,
          execution.workflow,
          jsonText(execution.parameters),
          execution.status,
          jsonText(execution.error),
          execution.createdAt,
          execution.startedAt ?? null,
          execution.endedAt ?? null,
        );
        this.insertTasks(tasks);
        if (change) this.writeDeploymentChange(change);
      });
    } catch (error) {
      // Writers are serialised and the failed transaction is rolled back: an active execution it
      // collided with is still there.
      throw (await createExecutionError(violation(error), error, execution, tasks, this.look)) ?? error;
    }
  }

  async changeDeployment(change: DeploymentChange): Promise<void> {
    await this.write(() => this.writeDeploymentChange(change));
  }

  /** Inside a write transaction: a deployment change (see DeploymentChange). */
  private writeDeploymentChange(change: DeploymentChange): void {
    const id = change.deploymentId;
    if (change.deployment) {
      const { model, blueprintId, inputs } = change.deployment;
      const result = this.stmt(
        `UPDATE deployments SET model = ?, blueprint_id = coalesce(?, blueprint_id),
           inputs = coalesce(?, inputs) WHERE id = ?`,
      ).run(jsonText(model), blueprintId ?? null, inputs ? jsonText(inputs) : null, id);
      if (result.changes === 0) throw new NotFoundError('deployment', id);
    }
    if (change.addInstances?.length) this.insertInstances(change.addInstances);
    const relationships = this.stmt('UPDATE node_instances SET relationships = ? WHERE id = ?');
    for (const [instance, list] of Object.entries(change.relationships ?? {})) {
      if (relationships.run(jsonText(list), instance).changes === 0)
        throw new NotFoundError('node instance', instance);
    }
    const move = this.stmt('UPDATE node_instances SET node = ? WHERE id = ? AND deployment_id = ?');
    for (const [instance, node] of Object.entries(change.moveInstances ?? {})) {
      if (move.run(node, instance, id).changes === 0) throw new NotFoundError('node instance', instance);
    }
    const remove = this.stmt('DELETE FROM node_instances WHERE id = ? AND deployment_id = ?');
    for (const instance of change.removeInstances ?? []) remove.run(instance, id);
    const version = this.stmt(
      `INSERT INTO deployment_versions (deployment_id, version, blueprint_id, inputs, model, execution_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const v of change.versions ?? []) {
      version.run(
        id,
        v.version,
        v.blueprintId,
        jsonText(v.inputs),
        jsonText(v.model),
        v.executionId,
        v.createdAt,
      );
    }
  }

  async listDeploymentVersions(deploymentId: string): Promise<DeploymentVersionRecord[]> {
    const rows = this.stmt('SELECT * FROM deployment_versions WHERE deployment_id = ? ORDER BY version').all(
      deploymentId,
    ) as DeploymentVersionRow<string>[];
    return rows.map(read.deploymentVersion);
  }

  async putSnapshot(snapshot: SnapshotRecord): Promise<void> {
    await this.write(() =>
      this.stmt(
        `INSERT INTO snapshots (id, deployment_id, name, blueprint_id, inputs, model, data, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, blueprint_id = excluded.blueprint_id,
           inputs = excluded.inputs, model = excluded.model, data = excluded.data`,
      ).run(
        snapshot.id,
        snapshot.deploymentId,
        snapshot.name,
        snapshot.blueprintId,
        jsonText(snapshot.inputs),
        jsonText(snapshot.model),
        jsonText(snapshot.data),
        snapshot.createdAt,
      ),
    );
  }

  async listSnapshots(deploymentId: string): Promise<SnapshotRecord[]> {
    const rows = this.stmt('SELECT * FROM snapshots WHERE deployment_id = ? ORDER BY created_at, id').all(
      deploymentId,
    ) as SnapshotRow<string>[];
    return rows.map(read.snapshot);
  }

  async deleteSnapshot(deploymentId: string, id: string): Promise<boolean> {
    const result = await this.write(() =>
      this.stmt('DELETE FROM snapshots WHERE deployment_id = ? AND id = ?').run(deploymentId, id),
    );
    return result.changes > 0;
  }

  private insertTasks(tasks: readonly TaskRecord[]): void {
    this.insertRows(TASKS, tasks.map(write.task));
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    const row = this.stmt('SELECT * FROM executions WHERE id = ?').get(id) as
      | ExecutionRow<string>
      | undefined;
    return row && read.execution(row);
  }

  async listExecutions(deploymentId?: string): Promise<ExecutionRecord[]> {
    const rows = (
      deploymentId === undefined
        ? this.stmt('SELECT * FROM executions ORDER BY created_at, id').all()
        : this.stmt('SELECT * FROM executions WHERE deployment_id = ? ORDER BY created_at, id').all(
            deploymentId,
          )
    ) as ExecutionRow<string>[];
    return rows.map(read.execution);
  }

  async listTasks(executionId: string): Promise<TaskRecord[]> {
    const rows = this.stmt('SELECT * FROM tasks WHERE execution_id = ? ORDER BY id').all(
      executionId,
    ) as TaskRow<string>[];
    return rows.map(read.task);
  }

  async applyBatch(batch: Batch): Promise<void> {
    try {
      await this.write(() => {
        for (const w of batch.runtimeProperties ?? []) {
          this.writeRuntimeProperties(w.id, w.runtimeProperties, w.expectedVersion);
        }
        if (batch.newTasks?.length) this.insertTasks(batch.newTasks);
        if (batch.tasks?.length) {
          const update = this.stmt(UPDATE_TASK);
          const at = nowIso();
          for (const t of batch.tasks) {
            const c = write.taskChange(t);
            if (
              update.run(c.state, c.attempt, c.not_before, c.error, c.result, at, c.execution_id, c.id)
                .changes === 0
            )
              throw new NotFoundError('task', taskName(t));
          }
        }
        if (batch.instanceStates?.length) {
          const update = this.stmt('UPDATE node_instances SET state = ? WHERE id = ?');
          for (const s of batch.instanceStates) {
            if (update.run(s.state, s.id).changes === 0) throw new NotFoundError('node instance', s.id);
          }
        }
        if (batch.execution) {
          const changes = executionChanges(batch.execution);
          if (changes.length > 0) {
            const sql = `UPDATE executions SET ${changes.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ?`;
            if (this.stmt(sql).run(...changes.map(([, v]) => v), batch.execution.id).changes === 0) {
              throw new NotFoundError('execution', batch.execution.id);
            }
          } else if (!this.stmt('SELECT 1 FROM executions WHERE id = ?').get(batch.execution.id)) {
            throw new NotFoundError('execution', batch.execution.id);
          }
        }
        if (batch.events?.length) {
          this.insertRows(EVENTS, batch.events.map(write.event));
        }
      });
    } catch (error) {
      throw (await batchError(violation(error), batch, this.look)) ?? error;
    }
  }

  async listEvents(query: EventQuery): Promise<EventRecord[]> {
    const { sql, params } = eventSelect(query, () => '?');
    return (this.stmt(sql).all(...params) as EventRow<string>[]).map(read.event);
  }

  // Secrets

  async putSecret(secret: SecretRecord): Promise<void> {
    await this.write(() =>
      this.stmt(
        `INSERT INTO secrets (key, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
      ).run(secret.key, toBuffer(secret.ciphertext), secret.createdAt, secret.updatedAt),
    );
  }

  async getSecret(key: string): Promise<SecretRecord | undefined> {
    const row = this.stmt('SELECT * FROM secrets WHERE key = ?').get(key) as SecretRow | undefined;
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
    const rows = this.stmt('SELECT key, created_at, updated_at FROM secrets ORDER BY key').all() as Omit<
      SecretRow,
      'ciphertext'
    >[];
    return rows.map((r) => ({ key: r.key, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  async secretsVersion(): Promise<string> {
    const row = this.stmt(
      "SELECT COUNT(*) || ':' || COALESCE(group_concat(key || ':' || updated_at, ','), '') AS version FROM (SELECT key, updated_at FROM secrets ORDER BY key)",
    ).get() as { version: string };
    return row.version;
  }

  async deleteSecret(key: string): Promise<boolean> {
    return (await this.write(() => this.stmt('DELETE FROM secrets WHERE key = ?').run(key))).changes > 0;
  }
}
