/** The AccessStore on SQLite or PostgreSQL: the same statements on both (sql.ts runs them). */
import {
  type AccessStore,
  type BlueprintDetails,
  DuplicateError,
  InUseError,
  type MembershipRecord,
  MissingReferenceError,
  type NamedBlueprintRecord,
  type NamedDeploymentRecord,
  type Role,
  type StoredPluginRecord,
  type TenantRecord,
  type TokenRecord,
  type UserRecord,
} from './access.js';
import type { Sql } from './sql.js';

/** The PostgreSQL schema the server's own tables live in, beside the tenants' schemas. */
export const ACCESS_SCHEMA = 'weft_access';

/** Each entry brings the schema from the version before it; applied in order, once. */
const MIGRATIONS: string[][] = [
  [
    `CREATE TABLE tenants (name TEXT PRIMARY KEY, created_at TEXT NOT NULL)`,
    `CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, superuser INTEGER NOT NULL,
      created_at TEXT NOT NULL)`,
    `CREATE TABLE memberships (
      tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
      username TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
      role TEXT NOT NULL, PRIMARY KEY (tenant, username))`,
    `CREATE TABLE tokens (id TEXT PRIMARY KEY, username TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
      secret_hash TEXT NOT NULL, description TEXT NOT NULL, expires_at TEXT, created_at TEXT NOT NULL,
      last_used_at TEXT)`,
    `CREATE INDEX tokens_by_user ON tokens (username)`,
    `CREATE TABLE blueprints (
      tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE, id TEXT NOT NULL,
      content_id TEXT NOT NULL, main_file TEXT NOT NULL, description TEXT, created_by TEXT NOT NULL,
      created_at TEXT NOT NULL, PRIMARY KEY (tenant, id))`,
  ],
  [
    // What the blueprint declares, as JSON text: shown without parsing the blueprint again.
    `ALTER TABLE blueprints ADD COLUMN details TEXT`,
    // A named blueprint cannot be deleted while a deployment refers to it (the foreign key says so).
    `CREATE TABLE deployments (
      tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE, id TEXT NOT NULL,
      blueprint TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL,
      PRIMARY KEY (tenant, id), FOREIGN KEY (tenant, blueprint) REFERENCES blueprints(tenant, id))`,
    `CREATE INDEX deployments_by_blueprint ON deployments (tenant, blueprint)`,
  ],
  [
    // The archive as base64 text: one column type that both databases store the same way.
    `CREATE TABLE plugins (name TEXT PRIMARY KEY, version TEXT, sha256 TEXT NOT NULL, kind TEXT NOT NULL,
      size INTEGER NOT NULL, archive TEXT NOT NULL, uploaded_by TEXT NOT NULL, uploaded_at TEXT NOT NULL)`,
  ],
  [
    // A host agent's token (all three set, or none): it goes with its tenant.
    `ALTER TABLE tokens ADD COLUMN agent_tenant TEXT REFERENCES tenants(name) ON DELETE CASCADE`,
    `ALTER TABLE tokens ADD COLUMN agent_deployment TEXT`,
    `ALTER TABLE tokens ADD COLUMN agent_host TEXT`,
  ],
];

interface PluginRow {
  name: string;
  version: string | null;
  sha256: string;
  kind: string;
  size: number | string;
  uploaded_by: string;
  uploaded_at: string;
}

const plugin = (row: PluginRow): StoredPluginRecord => ({
  name: row.name,
  version: row.version,
  sha256: row.sha256,
  kind: row.kind as StoredPluginRecord['kind'],
  size: Number(row.size),
  uploadedBy: row.uploaded_by,
  uploadedAt: row.uploaded_at,
});

interface UserRow {
  name: string;
  password_hash: string;
  superuser: number;
  created_at: string;
}

interface TokenRow {
  id: string;
  username: string;
  secret_hash: string;
  description: string;
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
  agent_tenant: string | null;
  agent_deployment: string | null;
  agent_host: string | null;
}

interface BlueprintRow {
  tenant: string;
  id: string;
  content_id: string;
  main_file: string;
  description: string | null;
  created_by: string;
  created_at: string;
  details: string | null;
}

interface DeploymentRow {
  tenant: string;
  id: string;
  blueprint: string;
  created_by: string;
  created_at: string;
}

const user = (row: UserRow): UserRecord => ({
  name: row.name,
  passwordHash: row.password_hash,
  superuser: Number(row.superuser) === 1,
  createdAt: row.created_at,
});

const token = (row: TokenRow): TokenRecord => ({
  id: row.id,
  user: row.username,
  secretHash: row.secret_hash,
  description: row.description,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  agent:
    row.agent_tenant === null
      ? null
      : { tenant: row.agent_tenant, deployment: row.agent_deployment!, host: row.agent_host! },
});

const blueprint = (row: BlueprintRow): NamedBlueprintRecord => ({
  tenant: row.tenant,
  id: row.id,
  contentId: row.content_id,
  mainFile: row.main_file,
  description: row.description,
  createdBy: row.created_by,
  createdAt: row.created_at,
  details: JSON.parse(row.details ?? 'null') as BlueprintDetails,
});

const deployment = (row: DeploymentRow): NamedDeploymentRecord => ({
  tenant: row.tenant,
  id: row.id,
  blueprint: row.blueprint,
  createdBy: row.created_by,
  createdAt: row.created_at,
});

export class SqlAccessStore implements AccessStore {
  constructor(private readonly sql: Sql) {}

  async migrate(): Promise<void> {
    await this.sql.run('CREATE TABLE IF NOT EXISTS access_schema (version INTEGER NOT NULL)');
    await this.sql.transaction(async (sql) => {
      const [row] = await sql.all<{ version: number }>('SELECT max(version) AS version FROM access_schema');
      const from = Number(row?.version ?? 0);
      for (let version = from + 1; version <= MIGRATIONS.length; version++) {
        for (const statement of MIGRATIONS[version - 1]!) await sql.run(statement);
        await sql.run('INSERT INTO access_schema (version) VALUES (?)', [version]);
      }
    });
  }

  close(): Promise<void> {
    return this.sql.close();
  }

  /** Runs an insert, turning a broken key into a DuplicateError naming `what`. */
  private async insert(what: string, text: string, params: unknown[]): Promise<void> {
    try {
      await this.sql.run(text, params);
    } catch (error) {
      if (this.sql.isDuplicate(error)) throw new DuplicateError(what);
      throw error;
    }
  }

  createTenant(tenant: TenantRecord): Promise<void> {
    return this.insert(`tenant '${tenant.name}'`, 'INSERT INTO tenants (name, created_at) VALUES (?, ?)', [
      tenant.name,
      tenant.createdAt,
    ]);
  }

  async getTenant(name: string): Promise<TenantRecord | undefined> {
    const [row] = await this.sql.all<{ name: string; created_at: string }>(
      'SELECT name, created_at FROM tenants WHERE name = ?',
      [name],
    );
    return row && { name: row.name, createdAt: row.created_at };
  }

  async listTenants(): Promise<TenantRecord[]> {
    const rows = await this.sql.all<{ name: string; created_at: string }>(
      'SELECT name, created_at FROM tenants ORDER BY name',
    );
    return rows.map((row) => ({ name: row.name, createdAt: row.created_at }));
  }

  async deleteTenant(name: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM tenants WHERE name = ?', [name])) > 0;
  }

  createUser(record: UserRecord): Promise<void> {
    return this.insert(
      `user '${record.name}'`,
      'INSERT INTO users (name, password_hash, superuser, created_at) VALUES (?, ?, ?, ?)',
      [record.name, record.passwordHash, record.superuser ? 1 : 0, record.createdAt],
    );
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const [row] = await this.sql.all<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
    return row && user(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.sql.all<UserRow>('SELECT * FROM users ORDER BY name')).map(user);
  }

  async updateUser(
    name: string,
    change: Partial<Pick<UserRecord, 'passwordHash' | 'superuser'>>,
  ): Promise<boolean> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (change.passwordHash !== undefined) {
      sets.push('password_hash = ?');
      params.push(change.passwordHash);
    }
    if (change.superuser !== undefined) {
      sets.push('superuser = ?');
      params.push(change.superuser ? 1 : 0);
    }
    if (sets.length === 0) return (await this.getUser(name)) !== undefined;
    return (await this.sql.run(`UPDATE users SET ${sets.join(', ')} WHERE name = ?`, [...params, name])) > 0;
  }

  async deleteUser(name: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM users WHERE name = ?', [name])) > 0;
  }

  async countSuperusers(): Promise<number> {
    const [row] = await this.sql.all<{ n: number | string }>(
      'SELECT count(*) AS n FROM users WHERE superuser = 1',
    );
    return Number(row?.n ?? 0);
  }

  async setMembership(membership: MembershipRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO memberships (tenant, username, role) VALUES (?, ?, ?)
       ON CONFLICT (tenant, username) DO UPDATE SET role = excluded.role`,
      [membership.tenant, membership.user, membership.role],
    );
  }

  async deleteMembership(tenant: string, username: string): Promise<boolean> {
    return (
      (await this.sql.run('DELETE FROM memberships WHERE tenant = ? AND username = ?', [tenant, username])) >
      0
    );
  }

  async listMemberships(query: { tenant?: string; user?: string }): Promise<MembershipRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.tenant !== undefined) {
      where.push('tenant = ?');
      params.push(query.tenant);
    }
    if (query.user !== undefined) {
      where.push('username = ?');
      params.push(query.user);
    }
    const rows = await this.sql.all<{ tenant: string; username: string; role: string }>(
      `SELECT tenant, username, role FROM memberships${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
       ORDER BY tenant, username`,
      params,
    );
    return rows.map((row) => ({ tenant: row.tenant, user: row.username, role: row.role as Role }));
  }

  createToken(record: TokenRecord): Promise<void> {
    return this.insert(
      `token '${record.id}'`,
      `INSERT INTO tokens (id, username, secret_hash, description, expires_at, created_at, last_used_at,
         agent_tenant, agent_deployment, agent_host)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        record.id,
        record.user,
        record.secretHash,
        record.description,
        record.expiresAt,
        record.createdAt,
        record.lastUsedAt,
        record.agent?.tenant ?? null,
        record.agent?.deployment ?? null,
        record.agent?.host ?? null,
      ],
    );
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const [row] = await this.sql.all<TokenRow>('SELECT * FROM tokens WHERE id = ?', [id]);
    return row && token(row);
  }

  async listTokens(username: string): Promise<TokenRecord[]> {
    return (
      await this.sql.all<TokenRow>('SELECT * FROM tokens WHERE username = ? ORDER BY created_at, id', [
        username,
      ])
    ).map(token);
  }

  async deleteToken(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM tokens WHERE id = ?', [id])) > 0;
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.sql.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', [at, id]);
  }

  async putBlueprint(record: NamedBlueprintRecord): Promise<void> {
    await this.insert(
      `blueprint '${record.id}'`,
      `INSERT INTO blueprints (tenant, id, content_id, main_file, description, created_by, created_at, details)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        record.tenant,
        record.id,
        record.contentId,
        record.mainFile,
        record.description,
        record.createdBy,
        record.createdAt,
        JSON.stringify(record.details),
      ],
    );
  }

  async getBlueprint(tenant: string, id: string): Promise<NamedBlueprintRecord | undefined> {
    const [row] = await this.sql.all<BlueprintRow>('SELECT * FROM blueprints WHERE tenant = ? AND id = ?', [
      tenant,
      id,
    ]);
    return row && blueprint(row);
  }

  async listBlueprints(tenant: string): Promise<NamedBlueprintRecord[]> {
    return (
      await this.sql.all<BlueprintRow>('SELECT * FROM blueprints WHERE tenant = ? ORDER BY id', [tenant])
    ).map(blueprint);
  }

  async setBlueprintDetails(tenant: string, id: string, details: BlueprintDetails): Promise<void> {
    await this.sql.run('UPDATE blueprints SET details = ? WHERE tenant = ? AND id = ?', [
      JSON.stringify(details),
      tenant,
      id,
    ]);
  }

  async deleteBlueprint(tenant: string, id: string): Promise<boolean> {
    try {
      return (await this.sql.run('DELETE FROM blueprints WHERE tenant = ? AND id = ?', [tenant, id])) > 0;
    } catch (error) {
      if (this.sql.isForeignKeyViolation(error)) throw new InUseError(`blueprint '${id}'`);
      throw error;
    }
  }

  async createDeployment(record: NamedDeploymentRecord): Promise<void> {
    try {
      await this.insert(
        `deployment '${record.id}'`,
        'INSERT INTO deployments (tenant, id, blueprint, created_by, created_at) VALUES (?, ?, ?, ?, ?)',
        [record.tenant, record.id, record.blueprint, record.createdBy, record.createdAt],
      );
    } catch (error) {
      if (this.sql.isForeignKeyViolation(error))
        throw new MissingReferenceError(`blueprint '${record.blueprint}'`);
      throw error;
    }
  }

  async getDeployment(tenant: string, id: string): Promise<NamedDeploymentRecord | undefined> {
    const [row] = await this.sql.all<DeploymentRow>('SELECT * FROM deployments WHERE tenant = ? AND id = ?', [
      tenant,
      id,
    ]);
    return row && deployment(row);
  }

  async listDeployments(
    tenant: string,
    query: { blueprint?: string } = {},
  ): Promise<NamedDeploymentRecord[]> {
    const rows =
      query.blueprint === undefined
        ? await this.sql.all<DeploymentRow>('SELECT * FROM deployments WHERE tenant = ? ORDER BY id', [
            tenant,
          ])
        : await this.sql.all<DeploymentRow>(
            'SELECT * FROM deployments WHERE tenant = ? AND blueprint = ? ORDER BY id',
            [tenant, query.blueprint],
          );
    return rows.map(deployment);
  }

  async setDeploymentBlueprint(tenant: string, id: string, blueprint: string): Promise<boolean> {
    try {
      return (
        (await this.sql.run('UPDATE deployments SET blueprint = ? WHERE tenant = ? AND id = ?', [
          blueprint,
          tenant,
          id,
        ])) > 0
      );
    } catch (error) {
      if (this.sql.isForeignKeyViolation(error)) throw new MissingReferenceError(`blueprint '${blueprint}'`);
      throw error;
    }
  }

  async deleteDeployment(tenant: string, id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM deployments WHERE tenant = ? AND id = ?', [tenant, id])) > 0;
  }

  async putPlugin(record: StoredPluginRecord, archive: Buffer, replace: boolean): Promise<void> {
    const params = [
      record.name,
      record.version,
      record.sha256,
      record.kind,
      record.size,
      archive.toString('base64'),
      record.uploadedBy,
      record.uploadedAt,
    ];
    const insert = `INSERT INTO plugins (name, version, sha256, kind, size, archive, uploaded_by, uploaded_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
    if (!replace) return this.insert(`plugin '${record.name}'`, insert, params);
    await this.sql.run(
      `${insert} ON CONFLICT (name) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256,
        kind = excluded.kind, size = excluded.size, archive = excluded.archive,
        uploaded_by = excluded.uploaded_by, uploaded_at = excluded.uploaded_at`,
      params,
    );
  }

  async listPlugins(): Promise<StoredPluginRecord[]> {
    const rows = await this.sql.all<PluginRow>(
      'SELECT name, version, sha256, kind, size, uploaded_by, uploaded_at FROM plugins ORDER BY name',
    );
    return rows.map(plugin);
  }

  async getPluginArchive(name: string): Promise<{ sha256: string; archive: Buffer } | undefined> {
    const [row] = await this.sql.all<{ sha256: string; archive: string }>(
      'SELECT sha256, archive FROM plugins WHERE name = ?',
      [name],
    );
    return row && { sha256: row.sha256, archive: Buffer.from(row.archive, 'base64') };
  }

  async deletePlugin(name: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM plugins WHERE name = ?', [name])) > 0;
  }
}
