/** A deployment's versions, as `weft deployments history` and the API show them. */
import { Masker } from '../executor/masker.js';
import { hiddenValues } from '../model/deployment-model.js';
import type { Store } from '../store/index.js';
import type { Json } from '../store/types.js';

export interface DeploymentVersionView {
  version: number;
  current: boolean;
  createdAt: string;
  blueprintId: string;
  /** The main blueprint file the version was made from. */
  blueprint: string | null;
  inputs: Record<string, Json>;
  /** The update or rollback that brought the deployment to it (null for what it was created from). */
  execution: { id: string; workflow: string; status: string } | null;
}

/**
 * The deployment's versions, oldest first. The current one is the latest whose execution
 * succeeded (or the first): a failed update leaves the deployment between two versions.
 */
export async function deploymentHistory(
  store: Store,
  deploymentId: string,
): Promise<DeploymentVersionView[]> {
  const versions = await store.listDeploymentVersions(deploymentId);
  const executions = new Map((await store.listExecutions(deploymentId)).map((e) => [e.id, e]));
  const views: DeploymentVersionView[] = versions.map((v) => {
    const execution = v.executionId ? executions.get(v.executionId) : undefined;
    const model = v.model as { blueprint?: { mainFile?: string } };
    const masker = new Masker();
    for (const value of hiddenValues(v)) masker.add(value);
    return {
      version: v.version,
      current: false,
      createdAt: v.createdAt,
      blueprintId: v.blueprintId,
      blueprint: model.blueprint?.mainFile ?? null,
      inputs: masker.maskJson(v.inputs) as Record<string, Json>,
      execution: execution
        ? { id: execution.id, workflow: execution.workflow, status: execution.status }
        : null,
    };
  });
  const current = views.findLast((v) => v.execution === null || v.execution.status === 'terminated');
  if (current) current.current = true;
  return views;
}
