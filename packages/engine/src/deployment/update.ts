// A deployment update as an execution: planned against the stored deployment, started with the
// new model in the same transaction as its execution (so after a crash the deployment is either
// on its old model, or on the new one with the update resumable), and finished once it succeeded.
// A rollback is an update back to the version before the last one.
import { randomUUID } from 'node:crypto';
import type { Json } from '@weft/sdk';
import type { DeploymentModel } from '../model/deployment-model.js';
import type { BlueprintRecord, DeploymentVersionRecord, ExecutionRecord, Store } from '../store/types.js';
import { EXECUTION_PARAMETERS, WorkflowError } from '../workflows/builtin.js';
import { finalModel, planUpdate, type UpdatePlan, updateParameters } from '../workflows/update.js';
import { type PreparedDeployment, taskRecords } from './deployments.js';

const now = () => new Date().toISOString();

/** What a deployment update goes to: a blueprint (stored first when given whole), inputs and model. */
export interface NextVersion {
  blueprintId: string;
  inputs: Record<string, Json>;
  model: Json;
  blueprint?: BlueprintRecord;
}

/** The next version of a deployment from a blueprint prepared anew (prepareDeployment). */
export function nextVersion(prepared: PreparedDeployment): NextVersion {
  return {
    blueprintId: prepared.blueprint.id,
    inputs: prepared.deployment.inputs,
    model: prepared.deployment.model,
    blueprint: prepared.blueprint,
  };
}

/** Where an update's execution keeps what to do once it has succeeded. */
interface UpdateRecord {
  removed: string[];
  relationships: Record<string, Json>;
  fromVersion: number;
  toVersion: number;
}

export interface PlanDeploymentUpdateOptions {
  store: Store;
  deploymentId: string;
  next: NextVersion;
  /** The update workflow's parameters (skip_install, reinstall_list...) and the common ones. */
  parameters?: Record<string, Json>;
  maxInstances?: number;
}

const UPDATE_PARAMETER_NAMES = [
  'skip_install',
  'skip_uninstall',
  'skip_reinstall',
  'reinstall_list',
  'ignore_failure',
  'install_first',
];

/** The update's plan against the stored deployment, without storing anything. */
export async function planDeploymentUpdate(
  options: PlanDeploymentUpdateOptions & { restore?: boolean },
): Promise<UpdatePlan> {
  const deployment = await options.store.getDeployment(options.deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  const instances = await options.store.listInstances(deployment.id);
  return planUpdate(
    deployment.model as unknown as DeploymentModel,
    instances,
    options.next.model as unknown as DeploymentModel,
    deployment.id,
    { ...updateParameters(options.parameters ?? {}), restore: options.restore === true },
    options.maxInstances,
  );
}

/**
 * Plans the update and creates its execution (pending), storing the new blueprint, the
 * transition model, the added instances and the new version in the same transaction.
 */
export async function startDeploymentUpdate(
  options: PlanDeploymentUpdateOptions & { workflow?: 'update' | 'rollback' },
): Promise<{ execution: ExecutionRecord; plan: UpdatePlan }> {
  const { store, next } = options;
  const workflow = options.workflow ?? 'update';
  const deployment = await store.getDeployment(options.deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  const given = options.parameters ?? {};
  for (const name of Object.keys(given))
    if (!UPDATE_PARAMETER_NAMES.includes(name) && !EXECUTION_PARAMETERS.includes(name))
      throw new WorkflowError(
        `workflow '${workflow}' has no parameter '${name}' (it has: ${UPDATE_PARAMETER_NAMES.join(', ')})`,
      );
  const plan = await planDeploymentUpdate({ ...options, restore: workflow === 'rollback' });
  const versions = await store.listDeploymentVersions(deployment.id);
  const recorded: DeploymentVersionRecord[] = [];
  if (versions.length === 0)
    recorded.push({
      deploymentId: deployment.id,
      version: 1,
      blueprintId: deployment.blueprintId,
      inputs: deployment.inputs,
      model: finalModel(deployment.model as unknown as DeploymentModel) as unknown as Json,
      executionId: null,
      createdAt: deployment.createdAt,
    });
  const fromVersion = versions.at(-1)?.version ?? 1;
  const record: UpdateRecord = {
    removed: plan.removed,
    relationships: plan.finalRelationships as unknown as Record<string, Json>,
    fromVersion,
    toVersion: fromVersion + 1,
  };
  const execution: ExecutionRecord = {
    id: randomUUID(),
    deploymentId: deployment.id,
    workflow,
    parameters: {
      ...given,
      ...(updateParameters(given) as unknown as Record<string, Json>),
      update: record as unknown as Json,
    },
    status: 'pending',
    error: null,
    createdAt: now(),
    startedAt: null,
    endedAt: null,
  };
  recorded.push({
    deploymentId: deployment.id,
    version: record.toVersion,
    blueprintId: next.blueprintId,
    inputs: next.inputs,
    model: next.model,
    executionId: execution.id,
    createdAt: execution.createdAt,
  });
  if (next.blueprint) await store.putBlueprint(next.blueprint);
  await store.createExecution(execution, taskRecords(execution.id, plan.graph), {
    deploymentId: deployment.id,
    deployment: {
      model: plan.transition as unknown as Json,
      blueprintId: next.blueprintId,
      inputs: next.inputs,
    },
    addInstances: plan.added,
    relationships: plan.relationships as unknown as Record<string, Json>,
    versions: recorded,
  });
  return { execution, plan };
}

/**
 * The version a rollback goes back to: the one before the deployment's latest, whether the
 * update to the latest failed or succeeded. Throws when there is none (never updated).
 */
export async function rollbackTarget(
  store: Store,
  deploymentId: string,
): Promise<{ target: DeploymentVersionRecord; latest: DeploymentVersionRecord }> {
  const versions = await store.listDeploymentVersions(deploymentId);
  const latest = versions.at(-1);
  const target = versions.at(-2);
  if (!latest || !target)
    throw new WorkflowError(
      `deployment '${deploymentId}' was never updated: there is no earlier version to roll back to`,
    );
  return { target, latest };
}

/**
 * Once an update has succeeded: the model loses what it kept for the update, the removed
 * instances go and the others keep only their new relationships, in one transaction. Safe to
 * run again (a second run finds nothing left to do).
 */
export async function finishDeploymentUpdate(store: Store, execution: ExecutionRecord): Promise<void> {
  const record = execution.parameters.update as unknown as UpdateRecord | undefined;
  const deployment = await store.getDeployment(execution.deploymentId);
  if (!record || !deployment) return;
  const model = deployment.model as unknown as DeploymentModel;
  const present = new Set((await store.listInstances(deployment.id)).map((i) => i.id));
  await store.changeDeployment({
    deploymentId: deployment.id,
    deployment: { model: finalModel(model) as unknown as Json },
    removeInstances: record.removed.filter((id) => present.has(id)),
    relationships: Object.fromEntries(Object.entries(record.relationships).filter(([id]) => present.has(id))),
  });
}
