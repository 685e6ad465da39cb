import type { Json, Step, WorkflowFunction, WorkflowInstance, WorkflowNode } from '@weft/sdk';
import type { DeploymentModel, NodeModel } from '../model/deployment-model.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import { WorkflowError } from './builtin.js';
import type { Task, TaskGraph } from './lifecycle.js';

/**
 * The full name of a node's operation given as a workflow names it: in full
 * (`cloudify.interfaces.lifecycle.create`) or by its end (`lifecycle.create`, `create`).
 */
export function operationName(node: NodeModel, operation: string): string | undefined {
  const declared = node.declaredOperations;
  return declared.includes(operation) ? operation : declared.find((d) => d.endsWith(`.${operation}`));
}

/** Runs a custom workflow function to build its task graph. */
export async function customGraph(
  workflow: string,
  fn: WorkflowFunction,
  deploymentId: string,
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  parameters: Record<string, Json>,
): Promise<TaskGraph> {
  const tasks: Task[] = [];
  const add = (task: Omit<Task, 'id' | 'dependsOn'>): Step => {
    const id = tasks.length;
    tasks.push({ ...task, id, dependsOn: [] } as Task);
    return { heads: [id], tails: [id] };
  };
  const byInstance = new Map<string, WorkflowInstance>();
  const nodes: WorkflowNode[] = Object.values(model.nodes).map((node) => ({
    id: node.name,
    type: node.type,
    typeHierarchy: node.typeHierarchy,
    properties: node.properties as Record<string, Json>,
    instances: instances
      .filter((i) => i.node === node.name)
      .map((record) => {
        const instance: WorkflowInstance = {
          id: record.id,
          node: record.node,
          state: record.state,
          runtimeProperties: structuredClone(record.runtimeProperties),
          executeOperation: (operation, options = {}) => {
            const full = operationName(node, operation);
            if (!full)
              throw new WorkflowError(`${workflow}: node '${node.name}' has no operation '${operation}'`);
            // Declared without an implementation (a no-op): nothing to run.
            if (!node.operations[full]) return { heads: [], tails: [] };
            const task: Omit<Task, 'id' | 'dependsOn'> = {
              kind: 'operation',
              instanceId: record.id,
              node: record.node,
              operation: full,
            };
            task.operationDef = node.operations[full];
            if (options.kwargs) task.inputs = options.kwargs;
            if (options.ignoreFailure) task.ignoreFailure = true;
            return add(task);
          },
          setState: (state) => add({ kind: 'state', instanceId: record.id, node: record.node, state }),
        };
        byInstance.set(record.id, instance);
        return instance;
      }),
  }));
  const sequence = (...steps: Step[]): Step => {
    // Empty steps (an operation with nothing to run) are passed over, keeping the chain.
    const real = steps.filter((s) => s.heads.length > 0);
    for (let i = 1; i < real.length; i++) {
      for (const head of real[i]!.heads) {
        for (const tail of real[i - 1]!.tails)
          if (!tasks[head]!.dependsOn.includes(tail)) tasks[head]!.dependsOn.push(tail);
      }
    }
    return { heads: real[0]?.heads ?? [], tails: real[real.length - 1]?.tails ?? [] };
  };
  const parallel = (...steps: Step[]): Step => ({
    heads: steps.flatMap((s) => s.heads),
    tails: steps.flatMap((s) => s.tails),
  });
  try {
    await fn({
      deploymentId,
      workflow,
      parameters,
      nodes,
      node: (name) => nodes.find((n) => n.id === name),
      instance: (id) => byInstance.get(id),
      sequence,
      parallel,
    });
  } catch (error) {
    if (error instanceof WorkflowError) throw error;
    throw new WorkflowError(
      `workflow '${workflow}' failed while building its tasks: ${(error as Error).message}`,
    );
  }
  return { workflow, tasks };
}

/** Cloudify's script plugin function that runs the workflow script its `script_path` names. */
export const EXECUTE_WORKFLOW = 'script_runner.tasks.execute_workflow';

/**
 * A workflow implemented by a Python script: a file of the blueprint (`workflows: NAME:
 * scripts/x.py`), or the long form `script.script_runner.tasks.execute_workflow` with a
 * `script_path` parameter.
 */
export function isScriptWorkflow(workflow: { plugin?: string; function?: string; mapping: string }): boolean {
  return (
    workflow.plugin === 'script' &&
    (workflow.function === workflow.mapping || workflow.function === EXECUTE_WORKFLOW)
  );
}

/**
 * A workflow script's graph: the script alone, as task 0. The tasks it asks for while it runs are
 * added to its execution then.
 */
export function scriptWorkflowGraph(workflow: string, script: string): TaskGraph {
  return {
    workflow,
    tasks: [{ id: 0, kind: 'workflow', instanceId: '', node: '', operation: script, dependsOn: [] }],
  };
}
