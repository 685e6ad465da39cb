/** Helpers both store backends share: JSON and byte encoding, batch normalisation, row mapping. */
import { setOwn } from '@weft/sdk';
import { MASK } from '../executor/masker.js';
import {
  type Batch,
  type CancelRequest,
  type DeploymentRecord,
  type DeploymentSummary,
  type DeploymentVersionRecord,
  EVENT_LEVELS,
  type EventQuery,
  type EventRecord,
  type ExecutionRecord,
  type InstanceState,
  type Json,
  type NodeInstanceRecord,
  type SnapshotRecord,
  type TaskRecord,
} from './types.js';

/**
 * JSON text for a JSON column. U+0000 is replaced by U+FFFD: PostgreSQL cannot store it in jsonb
 * (nor in text), and a log line with a NUL byte must not fail the batch that carries it. Both
 * backends do the same, so what is read back does not depend on the backend.
 */
export function jsonText(value: unknown): string {
  const text = JSON.stringify(value ?? null);
  if (!text.includes('u0000')) return text;
  // An escaped NUL is "\u0000" preceded by an even number of other backslashes.
  return text.replace(/\\+u0000/g, (match) =>
    (match.length - 5) % 2 === 1 ? `${match.slice(0, -6)}\\ufffd` : match,
  );
}

/**
 * A value as the store gives it back: what JSON cannot hold is gone (-0 is 0, NaN and the
 * infinities are null, U+0000 is U+FFFD). Compare given values with stored ones in this form.
 */
export function asStored<T>(value: T): T {
  return parseJson(jsonText(value)) as T;
}

/** A text column value with U+0000 replaced (see jsonText). */
export function cleanText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\ufffd') : text;
}

/** Parses a JSON column read as text (SQLite); SQL NULL reads as JSON null. */
export function parseJson<T = Json>(text: string | null): T {
  return (text === null ? null : JSON.parse(text)) as T;
}

/** A Buffer view of bytes, without copying, for the database drivers. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array view of bytes read from a driver (which returns Buffers). */
export function toBytes(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Keeps the last entry for each key, in the order of the last occurrences. */
export function lastByKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  const map = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    map.delete(k);
    map.set(k, item);
  }
  return [...map.values()];
}

export type BatchTask = NonNullable<Batch['tasks']>[number];
export type BatchExecution = NonNullable<Batch['execution']>;

/** Key of a task in a batch (execution id and task id). */
export function taskKey(t: { executionId: string; id: number }): string {
  return `${t.executionId}\u0000${t.id}`;
}

/** Display id of a task in errors. */
export function taskName(t: { executionId: string; id: number }): string {
  return `${t.executionId}#${t.id}`;
}

/** The columns a batch's execution entry sets, in a fixed order, skipping absent fields. */
export function executionChanges(e: BatchExecution): [column: string, value: string | null][] {
  const out: [string, string | null][] = [];
  if (e.status !== undefined) out.push(['status', e.status]);
  if (e.error !== undefined) out.push(['error', jsonText(e.error)]);
  if (e.startedAt !== undefined) out.push(['started_at', e.startedAt]);
  if (e.endedAt !== undefined) out.push(['ended_at', e.endedAt]);
  if (e.cancelRequest !== undefined) out.push(['cancel_request', jsonText(e.cancelRequest)]);
  return out;
}

export function nowIso(): string {
  return new Date().toISOString();
}

/*
 * The rows both backends read, by table. `J` is how a JSON column arrives: text from SQLite,
 * parsed values from PostgreSQL's jsonb. Booleans arrive from SQLite as 0 or 1 and 64-bit
 * integers from PostgreSQL as strings.
 */

export interface DeploymentRow<J> {
  id: string;
  blueprint_id: string;
  inputs: J;
  model: J | null;
  created_at: string;
}

export interface InstanceRow<J> {
  id: string;
  deployment_id: string;
  node: string;
  idx: number;
  state: string;
  runtime_properties: J;
  version: number;
  contained_in: string | null;
  host_id: string | null;
  relationships: J | null;
  scaling_groups: J | null;
}

export interface ExecutionRow<J> {
  id: string;
  deployment_id: string;
  workflow: string;
  parameters: J;
  status: string;
  error: J | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  cancel_request: J | null;
}

export interface TaskRow<J> {
  execution_id: string;
  id: number;
  kind: string;
  instance_id: string;
  node: string;
  operation: string | null;
  target_state: string | null;
  relationship: J | null;
  depends_on: J;
  inputs: J | null;
  ignore_failure: boolean | number;
  state: string;
  attempt: number;
  not_before: number | string | null;
  error: J | null;
  result: J | null;
  updated_at: string;
}

export interface DeploymentVersionRow<J> {
  deployment_id: string;
  version: number;
  blueprint_id: string;
  inputs: J;
  model: J;
  execution_id: string | null;
  created_at: string;
}

export interface SnapshotRow<J> {
  id: string;
  deployment_id: string;
  name: string;
  blueprint_id: string;
  inputs: J;
  model: J;
  data: J;
  created_at: string;
}

export interface EventRow<J> {
  seq: number | string;
  execution_id: string | null;
  deployment_id: string | null;
  node: string | null;
  instance_id: string | null;
  operation: string | null;
  task_id: number | null;
  type: string;
  level: string;
  message: string;
  data: J | null;
  emitted_at: string;
}

/**
 * The records of rows, for a backend whose JSON columns `json` reads (SQL NULL as null). The
 * functions use no `this`, so they can be passed to `rows.map`.
 */
export function rowReaders<J>(json: <T = Json>(value: J | null) => T) {
  return {
    deployment: (r: DeploymentRow<J>): DeploymentRecord => ({
      id: r.id,
      blueprintId: r.blueprint_id,
      inputs: json(r.inputs),
      model: json(r.model),
      createdAt: r.created_at,
    }),
    deploymentVersion: (r: DeploymentVersionRow<J>): DeploymentVersionRecord => ({
      deploymentId: r.deployment_id,
      version: r.version,
      blueprintId: r.blueprint_id,
      inputs: json(r.inputs),
      model: json(r.model),
      executionId: r.execution_id,
      createdAt: r.created_at,
    }),
    snapshot: (r: SnapshotRow<J>): SnapshotRecord => ({
      id: r.id,
      deploymentId: r.deployment_id,
      name: r.name,
      blueprintId: r.blueprint_id,
      inputs: json(r.inputs),
      model: json(r.model),
      data: json(r.data),
      createdAt: r.created_at,
    }),
    instance: (r: InstanceRow<J>): NodeInstanceRecord => ({
      id: r.id,
      deploymentId: r.deployment_id,
      node: r.node,
      index: r.idx,
      state: r.state as NodeInstanceRecord['state'],
      runtimeProperties: json(r.runtime_properties),
      version: r.version,
      containedIn: r.contained_in,
      hostId: r.host_id,
      relationships: json(r.relationships),
      scalingGroups: json(r.scaling_groups),
    }),
    execution: (r: ExecutionRow<J>): ExecutionRecord => {
      const cancelRequest = json<CancelRequest | null>(r.cancel_request ?? null);
      return {
        id: r.id,
        deploymentId: r.deployment_id,
        workflow: r.workflow,
        parameters: json(r.parameters),
        status: r.status as ExecutionRecord['status'],
        error: json(r.error),
        createdAt: r.created_at,
        startedAt: r.started_at,
        endedAt: r.ended_at,
        // Only once a cancel asked for something, so that other executions read as they were written.
        ...(cancelRequest !== null && { cancelRequest }),
      };
    },
    task: (r: TaskRow<J>): TaskRecord => ({
      executionId: r.execution_id,
      id: r.id,
      kind: r.kind as TaskRecord['kind'],
      instanceId: r.instance_id,
      node: r.node,
      operation: r.operation,
      targetState: r.target_state,
      relationship: json(r.relationship),
      dependsOn: json(r.depends_on),
      inputs: json(r.inputs),
      ignoreFailure: Boolean(r.ignore_failure),
      state: r.state as TaskRecord['state'],
      attempt: r.attempt,
      notBefore: r.not_before === null ? null : Number(r.not_before),
      error: json(r.error),
      result: json(r.result),
      updatedAt: r.updated_at,
    }),
    event: (r: EventRow<J>): EventRecord => ({
      seq: Number(r.seq),
      executionId: r.execution_id,
      deploymentId: r.deployment_id,
      node: r.node,
      instanceId: r.instance_id,
      operation: r.operation,
      taskId: r.task_id,
      type: r.type,
      level: r.level as EventRecord['level'],
      message: r.message,
      data: json(r.data),
      timestamp: r.emitted_at,
    }),
  };
}
/**
 * The rows both backends write, by table, as column name -> value: `json` makes a JSON value what
 * the backend binds (SQLite: its text; PostgreSQL: the value, sent inside one jsonb array) and
 * `flag` a boolean (SQLite has none: 1 or 0).
 */
export function rowWriters<J, F>(json: (value: Json | undefined) => J, flag: (value: boolean) => F) {
  return {
    instance: (i: NodeInstanceRecord) => ({
      id: i.id,
      deployment_id: i.deploymentId,
      node: i.node,
      idx: i.index,
      state: i.state,
      runtime_properties: json(i.runtimeProperties),
      version: i.version,
      contained_in: i.containedIn ?? null,
      host_id: i.hostId ?? null,
      relationships: json(i.relationships),
      scaling_groups: json(i.scalingGroups),
    }),
    task: (t: TaskRecord) => ({
      execution_id: t.executionId,
      id: t.id,
      kind: t.kind,
      instance_id: t.instanceId,
      node: t.node,
      operation: t.operation ?? null,
      target_state: t.targetState ?? null,
      relationship: json(t.relationship),
      depends_on: json(t.dependsOn),
      inputs: json(t.inputs),
      ignore_failure: flag(t.ignoreFailure === true),
      state: t.state,
      attempt: t.attempt,
      not_before: t.notBefore ?? null,
      error: json(t.error),
      result: json(t.result),
      updated_at: t.updatedAt,
    }),
    /** A task's change in a batch (its updated_at is the batch's). */
    taskChange: (t: BatchTask) => ({
      execution_id: t.executionId,
      id: t.id,
      state: t.state,
      attempt: t.attempt,
      not_before: t.notBefore ?? null,
      error: json(t.error),
      result: json(t.result),
    }),
    event: (e: EventRecord) => ({
      execution_id: e.executionId ?? null,
      deployment_id: e.deploymentId ?? null,
      node: e.node ?? null,
      instance_id: e.instanceId ?? null,
      operation: e.operation ?? null,
      task_id: e.taskId ?? null,
      type: e.type,
      level: e.level,
      message: cleanText(e.message),
      data: json(e.data),
      emitted_at: e.timestamp,
    }),
  };
}

/**
 * The SELECT of events for a query, with its parameters; `placeholder(n)` writes the n-th
 * parameter (1-based) as the backend wants it. The last N are taken newest first, then put back
 * in order.
 */
export function eventSelect(
  query: EventQuery,
  placeholder: (n: number) => string,
): { sql: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const param = (value: string | number) => {
    params.push(value);
    return placeholder(params.length);
  };
  if (query.executionId !== undefined) where.push(`execution_id = ${param(query.executionId)}`);
  if (query.deploymentId !== undefined) where.push(`deployment_id = ${param(query.deploymentId)}`);
  if (query.afterSeq !== undefined) where.push(`seq > ${param(query.afterSeq)}`);
  if (query.minLevel !== undefined) {
    const levels = EVENT_LEVELS.slice(Math.max(0, EVENT_LEVELS.indexOf(query.minLevel)));
    where.push(`level IN (${levels.map(param).join(', ')})`);
  }
  if (query.node !== undefined)
    where.push(`(node = ${param(query.node)} OR instance_id = ${param(query.node)})`);
  const filter = where.length ? ` WHERE ${where.join(' AND ')}` : '';
  const count = (n: number) => param(Math.max(0, Math.floor(n)));
  if (query.last !== undefined)
    return {
      sql: `SELECT * FROM (SELECT * FROM events${filter} ORDER BY seq DESC LIMIT ${count(query.last)}) AS last_events ORDER BY seq`,
      params,
    };
  return {
    sql: `SELECT * FROM events${filter} ORDER BY seq${query.limit !== undefined ? ` LIMIT ${count(query.limit)}` : ''}`,
    params,
  };
}

/** Deployment summaries from what each backend reads: deployments, instance counts, latest executions. */
/**
 * A deployment's inputs as a summary shows them: those of a HOT template's hidden parameters
 * (the model's blueprint.hiddenInputs) as the mask, so a list never holds their values.
 */
export function maskHiddenInputs(inputs: Record<string, Json>, hidden: Json): Record<string, Json> {
  if (!Array.isArray(hidden) || hidden.length === 0) return inputs;
  const out = { ...inputs };
  for (const name of hidden)
    if (typeof name === 'string' && Object.hasOwn(out, name)) setOwn(out, name, MASK);
  return out;
}

export function deploymentSummaries(
  deployments: Omit<DeploymentSummary, 'instanceStates' | 'lastExecution'>[],
  counts: { deploymentId: string; state: string; count: number }[],
  latest: ExecutionRecord[],
): DeploymentSummary[] {
  const states = new Map<string, Partial<Record<InstanceState, number>>>();
  for (const { deploymentId, state, count } of counts) {
    const of = states.get(deploymentId) ?? {};
    of[state as InstanceState] = Number(count);
    states.set(deploymentId, of);
  }
  const last = new Map(latest.map((e) => [e.deploymentId, e]));
  return deployments.map((d) => ({
    ...d,
    instanceStates: states.get(d.id) ?? {},
    lastExecution: last.get(d.id) ?? null,
  }));
}
