// Which instances a deployment update would replace rather than update in place: those of
// Heat-style resources whose update operation, told the node's old and new properties, says so
// from its class's schema (a changed property that is not updateAllowed, as Heat decides). The
// engine holds no plugin code: the caller gives it the functions the operations run.
import type { Json, UpdatePreview } from '@weft/sdk';
import type { DeploymentModel, NodeModel, OperationModel } from '../model/deployment-model.js';
import { RESOURCE_UPDATE, type Replacement, type UpdatePlan } from '../workflows/update.js';

/** The function an operation runs, with what its plugin attached to it; undefined when it is not here. */
export type OperationFunctionOf = (operation: OperationModel) => Promise<unknown>;

/** What the SDK attaches to a resource's update operation. */
interface Previewing {
  deletesFirst?: (typeHierarchy: string[]) => boolean;
  preview?: (
    before: Record<string, Json>,
    after: Record<string, Json>,
    typeHierarchy: string[],
  ) => UpdatePreview | undefined;
}

/** Whether the class of a node's resources deletes the old one before creating its replacement. */
async function classDeletesFirst(node: NodeModel, functionOf: OperationFunctionOf): Promise<boolean> {
  const operation = node.operations[RESOURCE_UPDATE];
  if (!operation) return false;
  try {
    const update = (await functionOf(operation)) as Previewing | undefined;
    return typeof update?.deletesFirst === 'function' && update.deletesFirst(node.typeHierarchy);
  } catch {
    // As nodeReplacement: the module's problem is reported where the update loads it to run.
    return false;
  }
}

async function nodeReplacement(
  before: NodeModel | undefined,
  after: NodeModel,
  functionOf: OperationFunctionOf,
): Promise<Replacement | undefined> {
  const operation = after.operations[RESOURCE_UPDATE];
  if (!before || !operation) return undefined;
  let preview: UpdatePreview | undefined;
  try {
    const update = (await functionOf(operation)) as Previewing | undefined;
    if (typeof update?.preview !== 'function') return undefined;
    preview = update.preview(
      before.properties as Record<string, Json>,
      after.properties as Record<string, Json>,
      after.typeHierarchy,
    );
  } catch {
    // A plugin that does not load, or cannot tell, leaves the plan as the engine made it (the
    // module's problem is reported where the update loads it to run).
    return undefined;
  }
  return preview?.action === 'replace'
    ? { properties: preview.forcedBy, reason: preview.reason, deletesFirst: preview.deletesFirst === true }
    : undefined;
}

/**
 * The instances of the plan whose resource update replaces the resource, by id, and why: those
 * the plan replaces already (a HOT resource left FAILED, or whose type changes), in the order
 * their class replaces them, and those whose changed properties force it.
 */
export async function resourceReplacements(
  plan: UpdatePlan,
  before: DeploymentModel,
  functionOf: OperationFunctionOf,
): Promise<Record<string, Replacement>> {
  const byNode = new Map<string, Replacement | undefined>();
  const replacements: Record<string, Replacement> = { ...plan.replacements };
  for (const task of plan.graph.tasks) {
    if (task.operation !== RESOURCE_UPDATE || task.relationship || plan.actions[task.instanceId] !== 'update')
      continue;
    const planned = replacements[task.instanceId];
    if (planned) {
      const deletesFirst = await classDeletesFirst(plan.transition.nodes[task.node]!, functionOf);
      replacements[task.instanceId] = { ...planned, deletesFirst };
      continue;
    }
    if (!byNode.has(task.node))
      byNode.set(
        task.node,
        await nodeReplacement(before.nodes[task.node], plan.transition.nodes[task.node]!, functionOf),
      );
    const replacement = byNode.get(task.node);
    if (replacement) replacements[task.instanceId] = replacement;
  }
  return replacements;
}
