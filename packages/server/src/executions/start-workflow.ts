import { type DeploymentModel, type ExecutionRecord, type Json, startExecution } from '@weft/engine';
import type { ServerContext } from '../context.js';
import type { TenantState } from '../tenants.js';

export interface WorkflowStart {
  deploymentId: string;
  /** The deployment's model: the plugins its operations need must be on this server. */
  model: DeploymentModel;
  workflow: string;
  parameters: Record<string, Json>;
  allowCustomParameters?: boolean;
}

/**
 * Stores a new execution of a deployment's workflow and runs it in the background, its plugins
 * loaded first (422 when this server does not have some of them).
 */
export async function startWorkflow(
  { runner, plugins }: Pick<ServerContext, 'runner' | 'plugins'>,
  tenant: TenantState,
  { model, ...start }: WorkflowStart,
): Promise<ExecutionRecord> {
  const dispatcher = await plugins.requiredBy(model, start.deploymentId);
  await dispatcher.load();
  return runner.start(tenant, (id) => startExecution({ id, store: tenant.store, dispatcher, ...start }));
}
