/**
 * Versioned schema migrations, one list per backend. The two lists have the same versions and
 * build the same tables (same names, columns and keys); only the column types differ
 * (TEXT JSON / jsonb, BLOB / bytea, AUTOINCREMENT / BIGSERIAL).
 *
 * Rules: a released migration is never edited; a change is a new version appended to BOTH lists.
 * Each store's migrate() applies the missing versions in one transaction, under a lock
 * (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), and records them in schema_migrations.
 */

export interface Migration {
  version: number;
  name: string;
  /** One or more SQL statements separated by semicolons. */
  sql: string;
}

/**
 * The statuses in the "one active execution per deployment" index. Written out rather than built
 * from ACTIVE_EXECUTION_STATUSES so that a released migration never changes; the test suite checks
 * that the two agree.
 */
export const MIGRATION_ACTIVE_STATUSES = ['pending', 'started', 'cancelling', 'force_cancelling'] as const;

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE blueprints (
  id TEXT PRIMARY KEY,
  main_file TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE blueprint_files (
  blueprint_id TEXT NOT NULL REFERENCES blueprints(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  content BLOB NOT NULL,
  PRIMARY KEY (blueprint_id, path)
);
CREATE TABLE deployments (
  id TEXT PRIMARY KEY,
  blueprint_id TEXT NOT NULL REFERENCES blueprints(id),
  inputs TEXT NOT NULL,
  model TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX deployments_blueprint ON deployments (blueprint_id);
CREATE TABLE node_instances (
  id TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  node TEXT NOT NULL,
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  runtime_properties TEXT NOT NULL,
  version INTEGER NOT NULL,
  contained_in TEXT,
  host_id TEXT,
  relationships TEXT,
  scaling_groups TEXT
);
CREATE INDEX node_instances_deployment ON node_instances (deployment_id);
CREATE TABLE executions (
  id TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  workflow TEXT NOT NULL,
  parameters TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT
);
CREATE INDEX executions_deployment ON executions (deployment_id, created_at, id);
CREATE INDEX executions_created ON executions (created_at, id);
CREATE UNIQUE INDEX executions_one_active ON executions (deployment_id)
  WHERE status IN ('pending', 'started', 'cancelling', 'force_cancelling');
CREATE TABLE tasks (
  execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  node TEXT NOT NULL,
  operation TEXT,
  target_state TEXT,
  relationship TEXT,
  depends_on TEXT NOT NULL,
  inputs TEXT,
  ignore_failure INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  not_before INTEGER,
  error TEXT,
  result TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (execution_id, id)
);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  execution_id TEXT REFERENCES executions(id) ON DELETE CASCADE,
  deployment_id TEXT REFERENCES deployments(id) ON DELETE CASCADE,
  node TEXT,
  instance_id TEXT,
  operation TEXT,
  task_id INTEGER,
  type TEXT NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT,
  emitted_at TEXT NOT NULL
);
CREATE INDEX events_execution ON events (execution_id, seq);
CREATE INDEX events_deployment ON events (deployment_id, seq);
CREATE TABLE secrets (
  key TEXT PRIMARY KEY,
  ciphertext BLOB NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'deployment versions',
    sql: `
CREATE TABLE deployment_versions (
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  blueprint_id TEXT NOT NULL REFERENCES blueprints(id),
  inputs TEXT NOT NULL,
  model TEXT NOT NULL,
  execution_id TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (deployment_id, version)
);
`,
  },
  {
    version: 3,
    name: 'stack snapshots',
    sql: `
CREATE TABLE snapshots (
  id TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  blueprint_id TEXT NOT NULL REFERENCES blueprints(id),
  inputs TEXT NOT NULL,
  model TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX snapshots_deployment ON snapshots (deployment_id, created_at);
`,
  },
  {
    version: 4,
    name: 'cancel requests',
    sql: 'ALTER TABLE executions ADD COLUMN cancel_request TEXT',
  },
];

/** Text columns that are sorted on use the "C" collation, so that order is bytewise as in SQLite. */
export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE blueprints (
  id TEXT COLLATE "C" PRIMARY KEY,
  main_file TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE blueprint_files (
  blueprint_id TEXT COLLATE "C" NOT NULL REFERENCES blueprints(id) ON DELETE CASCADE,
  path TEXT COLLATE "C" NOT NULL,
  content BYTEA NOT NULL,
  PRIMARY KEY (blueprint_id, path)
);
CREATE TABLE deployments (
  id TEXT COLLATE "C" PRIMARY KEY,
  blueprint_id TEXT COLLATE "C" NOT NULL REFERENCES blueprints(id),
  inputs JSONB NOT NULL,
  model JSONB,
  created_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX deployments_blueprint ON deployments (blueprint_id);
CREATE TABLE node_instances (
  id TEXT COLLATE "C" PRIMARY KEY,
  deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  node TEXT COLLATE "C" NOT NULL,
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  runtime_properties JSONB NOT NULL,
  version INTEGER NOT NULL,
  contained_in TEXT,
  host_id TEXT,
  relationships JSONB,
  scaling_groups JSONB
);
CREATE INDEX node_instances_deployment ON node_instances (deployment_id);
CREATE TABLE executions (
  id TEXT COLLATE "C" PRIMARY KEY,
  deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  workflow TEXT NOT NULL,
  parameters JSONB NOT NULL,
  status TEXT NOT NULL,
  error JSONB,
  created_at TEXT COLLATE "C" NOT NULL,
  started_at TEXT,
  ended_at TEXT
);
CREATE INDEX executions_deployment ON executions (deployment_id, created_at, id);
CREATE INDEX executions_created ON executions (created_at, id);
CREATE UNIQUE INDEX executions_one_active ON executions (deployment_id)
  WHERE status IN ('pending', 'started', 'cancelling', 'force_cancelling');
CREATE TABLE tasks (
  execution_id TEXT COLLATE "C" NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  node TEXT NOT NULL,
  operation TEXT,
  target_state TEXT,
  relationship JSONB,
  depends_on JSONB NOT NULL,
  inputs JSONB,
  ignore_failure BOOLEAN NOT NULL DEFAULT FALSE,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  not_before BIGINT,
  error JSONB,
  result JSONB,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (execution_id, id)
);
CREATE TABLE events (
  seq BIGSERIAL PRIMARY KEY,
  execution_id TEXT COLLATE "C" REFERENCES executions(id) ON DELETE CASCADE,
  deployment_id TEXT COLLATE "C" REFERENCES deployments(id) ON DELETE CASCADE,
  node TEXT,
  instance_id TEXT,
  operation TEXT,
  task_id INTEGER,
  type TEXT NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL,
  data JSONB,
  emitted_at TEXT NOT NULL
);
CREATE INDEX events_execution ON events (execution_id, seq);
CREATE INDEX events_deployment ON events (deployment_id, seq);
CREATE TABLE secrets (
  key TEXT COLLATE "C" PRIMARY KEY,
  ciphertext BYTEA NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'deployment versions',
    sql: `
CREATE TABLE deployment_versions (
  deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  blueprint_id TEXT COLLATE "C" NOT NULL REFERENCES blueprints(id),
  inputs JSONB NOT NULL,
  model JSONB NOT NULL,
  execution_id TEXT COLLATE "C",
  created_at TEXT NOT NULL,
  PRIMARY KEY (deployment_id, version)
);
`,
  },
  {
    version: 3,
    name: 'stack snapshots',
    sql: `
CREATE TABLE snapshots (
  id TEXT COLLATE "C" PRIMARY KEY,
  deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  blueprint_id TEXT COLLATE "C" NOT NULL REFERENCES blueprints(id),
  inputs JSONB NOT NULL,
  model JSONB NOT NULL,
  data JSONB NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX snapshots_deployment ON snapshots (deployment_id, created_at);
`,
  },
  {
    version: 4,
    name: 'cancel requests',
    sql: 'ALTER TABLE executions ADD COLUMN cancel_request JSONB',
  },
];

/** The migrations from `list` not yet in `applied`; throws when the database is newer than this code. */
export function pendingMigrations(
  list: readonly Migration[],
  applied: Iterable<number>,
  where: string,
): Migration[] {
  const done = new Set(applied);
  const latest = list.reduce((max, m) => Math.max(max, m.version), 0);
  const newest = Math.max(0, ...done);
  if (newest > latest) {
    throw new Error(
      `${where} has schema version ${newest}, newer than this version of Weft knows (${latest}); upgrade Weft`,
    );
  }
  return list.filter((m) => !done.has(m.version)).sort((a, b) => a.version - b.version);
}
