import { WeftError } from '@weft/sdk';
/**
 * The one store interface. SQL lives only in this folder; the executor, workflows and CLI see
 * these records and methods. Both implementations (SQLite, PostgreSQL) pass the same suite.
 *
 * JSON-typed fields are stored as JSON text (SQLite) or jsonb (PostgreSQL) and come back parsed.
 * Times are ISO-8601 strings in UTC; `notBefore` fields are epoch milliseconds.
 */

import type { Json } from '@weft/sdk';

export type { Json };

export interface BlueprintRecord {
  /** Content hash of the blueprint's files (sha256 hex). */
  id: string;
  /** Path of the main file, relative to the blueprint's directory. */
  mainFile: string;
  /** Every file of the blueprint directory that was read, by relative path. */
  files: Record<string, Uint8Array>;
  createdAt: string;
}

export interface DeploymentRecord {
  id: string;
  blueprintId: string;
  inputs: Record<string, Json>;
  /** The planned deployment model the executor runs from (nodes, operations, outputs...). */
  model: Json;
  createdAt: string;
}

/**
 * One version of a deployment: what it was created from, then what each update made it. Kept so
 * that `deployments history` can show them and a rollback can go back to the one before.
 */
export interface DeploymentVersionRecord {
  deploymentId: string;
  /** 1 for what the deployment was created from, then one more for each update. */
  version: number;
  blueprintId: string;
  inputs: Record<string, Json>;
  model: Json;
  /** The update execution that brings the deployment to this version (null for version 1). */
  executionId: string | null;
  createdAt: string;
}

/**
 * A snapshot of a HOT stack (Heat's stack snapshot): the version it was at (its blueprint, inputs
 * and model) and what each resource held then (the resources of its abandon data), for a restore
 * to bring it back to.
 */
export interface SnapshotRecord {
  id: string;
  deploymentId: string;
  name: string;
  blueprintId: string;
  inputs: Record<string, Json>;
  model: Json;
  /** Heat's snapshot data: the stack's abandon data (its resources with their ids and data). */
  data: Json;
  createdAt: string;
}

/**
 * Changes to a deployment written all or nothing: with the execution that makes them (an update's
 * new model, the instances it adds) or when it has ended (the instances it removed).
 */
export interface DeploymentChange {
  deploymentId: string;
  /** A new model (and blueprint and inputs, when they change). */
  deployment?: { model: Json; blueprintId?: string; inputs?: Record<string, Json> };
  addInstances?: NodeInstanceRecord[];
  /** New relationship instances, by node instance id. */
  relationships?: Record<string, Json>;
  /** Node instances that move to another node of the model, by id: the node's name. */
  moveInstances?: Record<string, string>;
  removeInstances?: string[];
  /** Versions to record (their blueprints must be stored). */
  versions?: DeploymentVersionRecord[];
}

export type { InstanceState, NodeInstanceRecord } from '../model/instance-record.js';

import type { InstanceState, NodeInstanceRecord } from '../model/instance-record.js';

export type ExecutionStatus =
  | 'pending'
  | 'started'
  | 'cancelling'
  | 'force_cancelling'
  | 'cancelled'
  | 'terminated'
  | 'failed'
  /** Stopped after a crash with tasks that were in flight and are not resumable. */
  | 'interrupted';

/** Statuses in which an execution holds its deployment: only one such execution per deployment. */
export const ACTIVE_EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  'pending',
  'started',
  'cancelling',
  'force_cancelling',
];

export interface ExecutionRecord {
  id: string;
  deploymentId: string;
  workflow: string;
  parameters: Record<string, Json>;
  status: ExecutionStatus;
  /** Why it failed: {message, task?, causes?}. */
  error: Json;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** What a cancel asked beyond stopping, once one did (see CancelRequest). */
  cancelRequest?: CancelRequest;
}

/**
 * What `weft cancel` asked of a running execution beyond stopping. `rollback: false` is Heat's
 * `stack cancel --no-rollback` of a stack's create or update: what is under way finishes, nothing
 * new starts, and the stack stays CREATE_FAILED or UPDATE_FAILED, not rolled back.
 */
export interface CancelRequest {
  rollback: boolean;
}

export type TaskState = 'pending' | 'sent' | 'started' | 'succeeded' | 'failed' | 'rescheduled' | 'cancelled';

export interface TaskRecord {
  executionId: string;
  /** Position in the execution's task graph (0-based). */
  id: number;
  /**
   * An operation; a state change; an event a workflow script sends; or a workflow script itself
   * (task 0 of its execution, with no instance; its `operation` is the script's path, and every
   * other task of the execution is one it asked for).
   */
  kind: 'operation' | 'state' | 'event' | 'workflow';
  instanceId: string;
  node: string;
  /** Full operation name (the script's path for a workflow script), or null for state and event tasks. */
  operation: string | null;
  /** For state tasks: the instance state to set. */
  targetState: string | null;
  /** For relationship operations: {side, sourceId, targetId, targetNode, type, index}. */
  relationship: Json;
  dependsOn: number[];
  /**
   * Inputs given for this task over the operation's own (e.g. execute_operation kwargs), or null;
   * for an event task, the event: {message, type}.
   */
  inputs: Json;
  /** A failure of this task does not fail the execution. */
  ignoreFailure: boolean;
  state: TaskState;
  /** Attempts made so far (Cloudify's retry_number of the next run). */
  attempt: number;
  /** Earliest time (epoch ms) a rescheduled task may run again. */
  notBefore: number | null;
  error: Json;
  result: Json;
  updatedAt: string;
}

export interface EventRecord {
  /** Assigned by the store, increasing. */
  seq?: number;
  executionId: string | null;
  deploymentId: string | null;
  node: string | null;
  instanceId: string | null;
  operation: string | null;
  taskId: number | null;
  /** e.g. workflow_started, task_started, task_succeeded, task_failed, task_rescheduled, log */
  type: string;
  level: 'debug' | 'info' | 'warning' | 'error';
  message: string;
  data: Json;
  timestamp: string;
}

export interface SecretRecord {
  key: string;
  /** AES-256-GCM ciphertext with its nonce and tag; never the plain value. */
  ciphertext: Uint8Array;
  createdAt: string;
  updatedAt: string;
}

/** Changes the executor writes together, in one transaction (group commit). */
export interface Batch {
  /** Tasks added to a running execution (a workflow script asked for them), inserted first. */
  newTasks?: TaskRecord[];
  tasks?: Pick<TaskRecord, 'executionId' | 'id' | 'state' | 'attempt' | 'notBefore' | 'error' | 'result'>[];
  instanceStates?: { id: string; state: InstanceState }[];
  /** Runtime properties writes: applied only when the instance is still at `expectedVersion`. */
  runtimeProperties?: { id: string; runtimeProperties: Record<string, Json>; expectedVersion: number }[];
  events?: EventRecord[];
  execution?: { id: string } & Partial<
    Pick<ExecutionRecord, 'status' | 'error' | 'startedAt' | 'endedAt' | 'cancelRequest'>
  >;
}

/** A runtime properties write lost a race: someone else wrote the instance first. */
export class VersionConflictError extends WeftError {
  static override readonly code = 'version_conflict';
  constructor(
    readonly instanceId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(
      `runtime properties of ${instanceId} changed concurrently (expected version ${expectedVersion}, found ${actualVersion})`,
    );
    this.name = 'VersionConflictError';
  }
}

/** A deployment already has an execution that has not ended. */
export class ActiveExecutionError extends WeftError {
  static override readonly code = 'execution_active';
  static override readonly kind = 'usage';
  constructor(
    readonly deploymentId: string,
    readonly activeExecutionId: string,
    readonly activeWorkflow: string,
  ) {
    super(
      `deployment '${deploymentId}' already has a running execution ${activeExecutionId} (${activeWorkflow}); wait for it, or cancel it with 'weft cancel'`,
    );
    this.name = 'ActiveExecutionError';
  }
}

/**
 * The store's server could not be reached for longer than the store waits, or the connection was
 * lost while a transaction committed (so whether it was stored is not known).
 */
export class StoreConnectionError extends WeftError {
  static override readonly code = 'store_connection';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreConnectionError';
  }
}

/** A record with that id is already stored (a deployment, an execution). */
export class AlreadyExistsError extends WeftError {
  static override readonly code = 'already_exists';
  static override readonly kind = 'usage';
  constructor(what: string, id: string, options?: ErrorOptions) {
    super(`${what} '${id}' already exists`, options);
    this.name = 'AlreadyExistsError';
  }
}

export class NotFoundError extends WeftError {
  static override readonly code = 'not_found';
  static override readonly kind = 'usage';
  constructor(what: string, id: string) {
    super(`${what} '${id}' not found`);
    this.name = 'NotFoundError';
  }
}

export interface EventQuery {
  executionId?: string;
  deploymentId?: string;
  /** Only events with seq greater than this. */
  afterSeq?: number;
  /** Only events at this level or a more severe one (debug < info < warning < error). */
  minLevel?: EventRecord['level'];
  /** Only events of this node, or of the node instance with this id. */
  node?: string;
  /** The first `limit` events that match... */
  limit?: number;
  /** ...or the last `last` ones (still in order). */
  last?: number;
}

/** The levels of events from the least severe, for `minLevel`. */
export const EVENT_LEVELS: readonly EventRecord['level'][] = ['debug', 'info', 'warning', 'error'];

/** A deployment as a list shows it: where it came from, its instances' states, its last execution. */
export interface DeploymentSummary {
  id: string;
  blueprintId: string;
  /** The main blueprint file it was created from (absolute), or null when the model does not say. */
  blueprintPath: string | null;
  inputs: Record<string, Json>;
  createdAt: string;
  /** How many of its instances are in each state. */
  instanceStates: Partial<Record<InstanceState, number>>;
  /** Its most recently created execution, if any. */
  lastExecution: ExecutionRecord | null;
}

/**
 * A deployment with what a detail view shows of it, read at once: its record, how many of its
 * instances are in each state per node, its last execution, and a version of the store's secrets.
 */
export interface DeploymentDetail {
  /** Null when the caller already holds this version of it (`known` of getDeploymentDetail). */
  deployment: DeploymentRecord | null;
  /**
   * Changes whenever the deployment's record does (an update, a scale, being deleted and created
   * again): a reader may keep what it worked out from the record while it stays the same.
   */
  version: string;
  /** Instances per node and state (only the pairs that have some). */
  instanceCounts: { node: string; state: InstanceState; count: number }[];
  /** Its most recently created execution, if any. */
  lastExecution: ExecutionRecord | null;
  /**
   * Changes when a secret is added, changed or deleted: a masker made from the secrets can be
   * kept while it stays the same.
   */
  secretsVersion: string;
}

export interface Store {
  /** Creates or upgrades the schema (versioned migrations); safe to call every time. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  putBlueprint(blueprint: BlueprintRecord): Promise<void>;
  getBlueprint(id: string): Promise<BlueprintRecord | undefined>;

  /** Creates a deployment with its instances, all or nothing. */
  createDeployment(deployment: DeploymentRecord, instances: NodeInstanceRecord[]): Promise<void>;
  getDeployment(id: string): Promise<DeploymentRecord | undefined>;
  listDeployments(): Promise<DeploymentRecord[]>;
  /** Every deployment with its status, without its model, in order of creation. */
  listDeploymentSummaries(): Promise<DeploymentSummary[]>;
  /**
   * A deployment with its instance counts, last execution and secrets version (one round trip);
   * without its record (the largest part: the model) when its version is still `known`.
   */
  getDeploymentDetail(id: string, known?: string): Promise<DeploymentDetail | undefined>;
  /** Replaces the deployment model (after scale or update). */
  updateDeploymentModel(id: string, model: Json): Promise<void>;
  /** Deletes a deployment and everything under it (instances, executions, tasks, events). */
  deleteDeployment(id: string): Promise<void>;

  listInstances(deploymentId: string): Promise<NodeInstanceRecord[]>;
  getInstance(id: string): Promise<NodeInstanceRecord | undefined>;
  addInstances(instances: NodeInstanceRecord[]): Promise<void>;
  removeInstances(ids: string[]): Promise<void>;
  /** Replaces the relationship instances of an instance (after scaling added or removed targets). */
  setInstanceRelationships(id: string, relationships: Json): Promise<void>;
  /** Writes runtime properties if the instance is at `expectedVersion`; returns the new version. */
  updateRuntimeProperties(
    id: string,
    runtimeProperties: Record<string, Json>,
    expectedVersion: number,
  ): Promise<number>;

  /**
   * Creates an execution and its tasks, and makes the deployment change given with them, all or
   * nothing. Throws ActiveExecutionError when the deployment already has an active execution
   * (enforced by the database, not by a read first).
   */
  createExecution(execution: ExecutionRecord, tasks: TaskRecord[], change?: DeploymentChange): Promise<void>;
  /** Makes a deployment change, all or nothing. */
  changeDeployment(change: DeploymentChange): Promise<void>;
  /** The deployment's recorded versions, oldest first (none before its first update). */
  listDeploymentVersions(deploymentId: string): Promise<DeploymentVersionRecord[]>;
  /** Stores a snapshot of a deployment (its blueprint must be stored), or a new state of one stored (by id). */
  putSnapshot(snapshot: SnapshotRecord): Promise<void>;
  /** The deployment's snapshots, oldest first. */
  listSnapshots(deploymentId: string): Promise<SnapshotRecord[]>;
  /** Deletes one of the deployment's snapshots; false when it has none of that id. */
  deleteSnapshot(deploymentId: string, id: string): Promise<boolean>;
  getExecution(id: string): Promise<ExecutionRecord | undefined>;
  listExecutions(deploymentId?: string): Promise<ExecutionRecord[]>;
  listTasks(executionId: string): Promise<TaskRecord[]>;

  /** Writes a batch in one transaction; a runtime properties version conflict rolls it all back. */
  applyBatch(batch: Batch): Promise<void>;

  listEvents(query: EventQuery): Promise<EventRecord[]>;

  putSecret(secret: SecretRecord): Promise<void>;
  getSecret(key: string): Promise<SecretRecord | undefined>;
  listSecrets(): Promise<Pick<SecretRecord, 'key' | 'createdAt' | 'updatedAt'>[]>;
  /** Returns false when there was no such secret. */
  deleteSecret(key: string): Promise<boolean>;
  /** Changes when a secret is added, changed or deleted (as DeploymentDetail.secretsVersion). */
  secretsVersion(): Promise<string>;
}
