/**
 * What the server keeps beside the engine's per-tenant stores: tenants, users, their roles in each
 * tenant, API tokens, and the names users give to uploaded blueprints. One implementation over
 * SQLite or PostgreSQL (sql-access.ts); SQL lives only in this folder.
 */

/** Roles within a tenant, weakest first: each can do what the ones before it can. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TenantRecord {
  name: string;
  createdAt: string;
}

export interface UserRecord {
  name: string;
  /** argon2id PHC string; never leaves the server. */
  passwordHash: string;
  /** Manages users and tenants, and is admin in every tenant. */
  superuser: boolean;
  createdAt: string;
}

export interface MembershipRecord {
  tenant: string;
  user: string;
  role: Role;
}

export interface TokenRecord {
  /** Public part of the token, shown in lists (the secret part is only ever stored hashed). */
  id: string;
  user: string;
  /** sha256 of the secret part (hex): tokens are random, so a slow hash buys nothing. */
  secretHash: string;
  description: string;
  /** ISO time after which the token is refused, or null for one that does not expire. */
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  /** Set for a host agent's token: it may only take and report that host's operations. */
  agent: AgentScope | null;
}

/**
 * What a host agent's token is limited to: the operations that run on one host instance (its
 * queue, named by the instance id) of one deployment of one tenant.
 */
export interface AgentScope {
  tenant: string;
  deployment: string;
  host: string;
}

/** A blueprint uploaded under a name: the files are in the tenant's engine store by content hash. */
export interface NamedBlueprintRecord {
  tenant: string;
  id: string;
  /** The engine store's blueprint id (content hash of the files). */
  contentId: string;
  mainFile: string;
  description: string | null;
  createdBy: string;
  createdAt: string;
  /** What the blueprint declares (inputs, nodes, workflows...), as the upload's validation found it. */
  details: BlueprintDetails;
}

/** A schema entry of an input or workflow parameter, as a person filling it in needs it. */
export interface ParameterDetails {
  name: string;
  type: string | null;
  description: string | null;
  required: boolean;
  /** Absent when there is no default. */
  default?: unknown;
  constraints: { name: string; argument: unknown }[];
}

export interface BlueprintDetails {
  dslVersion: string;
  inputs: ParameterDetails[];
  nodes: {
    name: string;
    type: string;
    typeHierarchy: string[];
    /** The node it is contained in; absent in what was stored before it was recorded. */
    containedIn?: string | null;
    /** Its other relationships; absent in what was stored before they were recorded. */
    relationships?: { type: string; target: string }[];
  }[];
  workflows: { name: string; parameters: ParameterDetails[] }[];
  outputs: { name: string; description: string | null }[];
  capabilities: { name: string; description: string | null }[];
  /** The plugins it declares. */
  plugins: string[];
}

/**
 * Which named blueprint a deployment was created from, and by whom (the deployment itself is in
 * the tenant's engine store, which knows only the content hash).
 */
export interface NamedDeploymentRecord {
  tenant: string;
  id: string;
  blueprint: string;
  createdBy: string;
  createdAt: string;
}

/**
 * A plugin uploaded through the API, kept in the database so that every server process sharing
 * it can unpack and use it.
 */
export interface StoredPluginRecord {
  name: string;
  version: string | null;
  /** sha256 of the archive (hex): a server process holding another one unpacks this one again. */
  sha256: string;
  /** How the archive was sent. */
  kind: 'tar.gz' | 'tar' | 'zip';
  size: number;
  uploadedBy: string;
  uploadedAt: string;
}

export interface AccessStore {
  migrate(): Promise<void>;
  close(): Promise<void>;

  createTenant(tenant: TenantRecord): Promise<void>;
  getTenant(name: string): Promise<TenantRecord | undefined>;
  listTenants(): Promise<TenantRecord[]>;
  /** Deletes the tenant's memberships and named blueprints with it. */
  deleteTenant(name: string): Promise<boolean>;

  createUser(user: UserRecord): Promise<void>;
  getUser(name: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  updateUser(name: string, change: Partial<Pick<UserRecord, 'passwordHash' | 'superuser'>>): Promise<boolean>;
  /** Deletes the user's memberships and tokens with it. */
  deleteUser(name: string): Promise<boolean>;
  countSuperusers(): Promise<number>;

  /** Gives a user a role in a tenant (replacing the one they had). */
  setMembership(membership: MembershipRecord): Promise<void>;
  deleteMembership(tenant: string, user: string): Promise<boolean>;
  listMemberships(query: { tenant?: string; user?: string }): Promise<MembershipRecord[]>;

  createToken(token: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(user: string): Promise<TokenRecord[]>;
  deleteToken(id: string): Promise<boolean>;
  /** Records a use (at most once a minute per token is enough for "last used"). */
  touchToken(id: string, at: string): Promise<void>;

  putBlueprint(blueprint: NamedBlueprintRecord): Promise<void>;
  getBlueprint(tenant: string, id: string): Promise<NamedBlueprintRecord | undefined>;
  listBlueprints(tenant: string): Promise<NamedBlueprintRecord[]>;
  /** Replaces what is stored of what the blueprint declares (worked out again by a newer server). */
  setBlueprintDetails(tenant: string, id: string, details: BlueprintDetails): Promise<void>;
  /** Throws InUseError while a deployment refers to it. */
  deleteBlueprint(tenant: string, id: string): Promise<boolean>;

  /** Throws DuplicateError for an id taken, MissingReferenceError when the blueprint is gone. */
  createDeployment(deployment: NamedDeploymentRecord): Promise<void>;
  getDeployment(tenant: string, id: string): Promise<NamedDeploymentRecord | undefined>;
  listDeployments(tenant: string, query?: { blueprint?: string }): Promise<NamedDeploymentRecord[]>;
  deleteDeployment(tenant: string, id: string): Promise<boolean>;
  /** The blueprint a deployment is now of (an update); MissingReferenceError when it is gone. */
  setDeploymentBlueprint(tenant: string, id: string, blueprint: string): Promise<boolean>;

  /** Stores an uploaded plugin, replacing the one of that name; throws DuplicateError unless `replace`. */
  putPlugin(plugin: StoredPluginRecord, archive: Buffer, replace: boolean): Promise<void>;
  listPlugins(): Promise<StoredPluginRecord[]>;
  getPluginArchive(name: string): Promise<{ sha256: string; archive: Buffer } | undefined>;
  deletePlugin(name: string): Promise<boolean>;
}

/** A record with that key is already stored. */
export class DuplicateError extends Error {
  constructor(readonly what: string) {
    super(`${what} already exists`);
    this.name = 'DuplicateError';
  }
}

/** A record others refer to cannot be deleted. */
export class InUseError extends Error {
  constructor(readonly what: string) {
    super(`${what} is in use`);
    this.name = 'InUseError';
  }
}

/** A record refers to one that does not exist (any more). */
export class MissingReferenceError extends Error {
  constructor(readonly what: string) {
    super(`${what} does not exist`);
    this.name = 'MissingReferenceError';
  }
}
