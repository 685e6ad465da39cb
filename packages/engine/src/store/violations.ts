/**
 * What both backends make of a write that broke a constraint. Each names the constraint from its
 * driver's error (their codes and messages differ); the error the Store interface promises is
 * found here, looking in the store where the constraint alone does not say enough.
 */
import {
  ActiveExecutionError,
  AlreadyExistsError,
  type Batch,
  type DeploymentRecord,
  type ExecutionRecord,
  type NodeInstanceRecord,
  NotFoundError,
  type TaskRecord,
  VersionConflictError,
} from './types.js';

/** A broken constraint: a primary key taken, the one-active-execution index, a foreign key. */
export type Violation = 'deployment exists' | 'execution exists' | 'active execution' | 'missing reference';

/** What finding the error may look up in the store. */
export interface Lookup {
  exists(table: 'blueprints' | 'deployments', id: string): Promise<boolean>;
  /** The execution of the deployment that has not ended, if one has not. */
  activeExecution(deploymentId: string): Promise<{ id: string; workflow: string } | undefined>;
  /** The deployment's latest execution, if it has one. */
  latestExecution(deploymentId: string): Promise<{ id: string; workflow: string } | undefined>;
  /** The deployment an execution belongs to. */
  deploymentOf(executionId: string): Promise<string | undefined>;
}

export async function createDeploymentError(
  violation: Violation | undefined,
  error: unknown,
  deployment: DeploymentRecord,
  instances: readonly NodeInstanceRecord[],
  look: Lookup,
): Promise<Error | undefined> {
  if (violation === 'deployment exists')
    return new AlreadyExistsError('deployment', deployment.id, { cause: error });
  if (violation !== 'missing reference') return undefined;
  if (!(await look.exists('blueprints', deployment.blueprintId)))
    return new NotFoundError('blueprint', deployment.blueprintId);
  // Instances must belong to the deployment created with them.
  const stray = instances.find((i) => i.deploymentId !== deployment.id);
  return stray && new NotFoundError('deployment', stray.deploymentId);
}

export async function addInstancesError(
  violation: Violation | undefined,
  instances: readonly NodeInstanceRecord[],
  look: Lookup,
): Promise<Error | undefined> {
  if (violation !== 'missing reference') return undefined;
  for (const id of new Set(instances.map((i) => i.deploymentId)))
    if (!(await look.exists('deployments', id))) return new NotFoundError('deployment', id);
  return undefined;
}

/** For 'active execution': undefined when the execution it collided with has ended since. */
export async function createExecutionError(
  violation: Violation | undefined,
  error: unknown,
  execution: ExecutionRecord,
  tasks: readonly TaskRecord[],
  look: Lookup,
): Promise<Error | undefined> {
  if (violation === 'active execution') return activeExecutionError(execution.deploymentId, look);
  if (violation === 'execution exists')
    return new AlreadyExistsError('execution', execution.id, { cause: error });
  if (violation !== 'missing reference') return undefined;
  if (!(await look.exists('deployments', execution.deploymentId)))
    return new NotFoundError('deployment', execution.deploymentId);
  const stray = tasks.find((t) => t.executionId !== execution.id);
  return stray && new NotFoundError('execution', stray.executionId);
}

/** A batch that made its execution active again while another one of the deployment is. */
export async function batchError(
  violation: Violation | undefined,
  batch: Batch,
  look: Lookup,
): Promise<Error | undefined> {
  if (violation !== 'active execution' || !batch.execution) return undefined;
  const deploymentId = await look.deploymentOf(batch.execution.id);
  return deploymentId === undefined ? undefined : activeExecutionError(deploymentId, look);
}

async function activeExecutionError(deploymentId: string, look: Lookup): Promise<Error | undefined> {
  // The one collided with may have ended since (its process went on while this one was kept from
  // its processor): it is the latest, as the collision rolled this one back.
  const active = (await look.activeExecution(deploymentId)) ?? (await look.latestExecution(deploymentId));
  return active && new ActiveExecutionError(deploymentId, active.id, active.workflow);
}

/** A compare-and-set of runtime properties that changed nothing: the instance is gone, or at another version. */
export function versionError(id: string, expectedVersion: number, current: number | undefined): Error {
  return current === undefined
    ? new NotFoundError('node instance', id)
    : new VersionConflictError(id, expectedVersion, current);
}
