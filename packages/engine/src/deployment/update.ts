// A deployment update as an execution: planned against the stored deployment, started with the
// new model in the same transaction as its execution (so after a crash the deployment is either
// on its old model, or on the new one with the update resumable), and finished once it succeeded.
import { randomUUID } from 'node:crypto';
import type { Json } from '@weft/sdk';
import type { DeploymentModel } from '../model/deployment-model.js';
import type { DeploymentVersionRecord, ExecutionRecord, Store } from '../store/types.js';
import { EXECUTION_PARAMETERS, WorkflowError } from '../workflows/builtin.js';
import { finalModel, planUpdate, type UpdatePlan, updateParameters } from '../workflows/update.js';
import { type PreparedDeployment, taskRecords } from './deployments.js';

const now = () => new Date().toISOString();

/** Where a deployment update's execution keeps what to do once it has succeeded. */
interface UpdateRecord {
  removed: string[];
  relationships: Record<string, Json>;
  fromVersion: number;
  toVersion: number;
}

export interface PlanDeploymentUpdateOptions {
  store: Store;
  deploymentId: string;
  /** The blueprint, inputs and model to update to (prepareDeployment's result). */
  next: PreparedDeployment;
  /** The update workflow's parameters (skip_install, reinstall_list...) and the common ones. */
  parameters?: Record<string, Json>;
  maxInstances?: number;
}

/** The update's plan against the stored deployment, without storing anything. */
export async function planDeploymentUpdate(options: PlanDeploymentUpdateOptions): Promise<UpdatePlan> {
  const deployment = await options.store.getDeployment(options.deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  const instances = await options.store.listInstances(deployment.id);
  return planUpdate(
    deployment.model as unknown as DeploymentModel,
    instances,
    options.next.deployment.model as unknown as DeploymentModel,
    deployment.id,
    updateParameters(options.parameters ?? {}),
    options.maxInstances,
  );
}

/**
 * Plans the update and creates its execution (pending), storing the new blueprint, the
 * transition model, the added instances and the new version in the same transaction.
 */
export async function startDeploymentUpdate(
  options: PlanDeploymentUpdateOptions,
): Promise<{ execution: ExecutionRecord; plan: UpdatePlan }> {
  const { store, next } = options;
  const deployment = await store.getDeployment(options.deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  const given = options.parameters ?? {};
  for (const name of Object.keys(given))
    if (!Object.hasOwn(UPDATE_PARAMETER_NAMES, name) && !EXECUTION_PARAMETERS.includes(name))
      throw new WorkflowError(
        `workflow 'update' has no parameter '${name}' (it has: ${Object.keys(UPDATE_PARAMETER_NAMES).join(', ')})`,
      );
  const plan = await planDeploymentUpdate(options);
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
  const execution: ExecutionRecord = {
    id: randomUUID(),
    deploymentId: deployment.id,
    workflow: 'update',
    parameters: {
      ...given,
      ...(updateParameters(given) as unknown as Record<string, Json>),
      update: {
        removed: plan.removed,
        relationships: plan.finalRelationships,
        fromVersion,
        toVersion: fromVersion + 1,
      } as unknown as Json,
    },
    status: 'pending',
    error: null,
    createdAt: now(),
    startedAt: null,
    endedAt: null,
  };
  recorded.push({
    deploymentId: deployment.id,
    version: fromVersion + 1,
    blueprintId: next.blueprint.id,
    inputs: next.deployment.inputs,
    model: next.deployment.model,
    executionId: execution.id,
    createdAt: execution.createdAt,
  });
  await store.putBlueprint(next.blueprint);
  await store.createExecution(execution, taskRecords(execution.id, plan.graph), {
    deploymentId: deployment.id,
    deployment: {
      model: plan.transition as unknown as Json,
      blueprintId: next.blueprint.id,
      inputs: next.deployment.inputs,
    },
    addInstances: plan.added,
    relationships: plan.relationships as unknown as Record<string, Json>,
    versions: recorded,
  });
  return { execution, plan };
}

const UPDATE_PARAMETER_NAMES = {
  skip_install: true,
  skip_uninstall: true,
  skip_reinstall: true,
  reinstall_list: true,
  ignore_failure: true,
  install_first: true,
};

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

/** Whether the deployment's model still holds what an update keeps only while it runs. */
export function isBetweenVersions(model: DeploymentModel): boolean {
  return Object.values(model.nodes).some((n) => n.removed || n.relationships.some((r) => r.removed));
}
