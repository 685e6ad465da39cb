// A HOT stack's snapshot and the deletion of one as executions (Heat's Stack.snapshot and
// Stack.delete_snapshot): each resource's handleSnapshot (in dependency order, as Heat's stack
// task runs it) or handleDeleteSnapshot with what the snapshot kept of it, polled on the retry
// timer as every handle/check pair is. They are not workflows a user starts by name: the stack
// commands start them, with the snapshot they are for.
import { randomUUID } from 'node:crypto';
import type { Json } from '@weft/sdk';
import { type DeploymentModel, modelOf } from '../model/deployment-model.js';
import { InstanceIdFactory } from '../model/instance-ids.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import type { ExecutionRecord, Store, TaskRecord } from '../store/types.js';
import { operationSteps, WorkflowError } from '../workflows/builtin.js';
import type { TaskGraph } from '../workflows/lifecycle.js';
import { taskRecords } from './deployments.js';
import {
  type DELETE_SNAPSHOT_WORKFLOW,
  RESOURCE_DELETE_SNAPSHOT,
  SNAPSHOT_WORKFLOW,
  snapshotDeletionGraph,
} from './stack-data.js';

/** The operation a stack's snapshot runs on each resource (a Resource class's). */
export const RESOURCE_SNAPSHOT = 'weft.interfaces.resource.snapshot';

export type StackSnapshotAction =
  | { workflow: typeof SNAPSHOT_WORKFLOW; snapshot: string; name?: string }
  | {
      workflow: typeof DELETE_SNAPSHOT_WORKFLOW;
      snapshot: string;
      /** What the snapshot kept of each resource, by node name (abandon data's resources, flattened). */
      resources: Record<string, Json>;
    };

/**
 * Creates the execution (pending) that takes a snapshot of the stack's resources (its snapshot
 * stored IN_PROGRESS), or deletes what they made for one: every created resource whose class has the operation (a resource of a class
 * without handleSnapshot is recorded SNAPSHOT_COMPLETE; only those the snapshot has data of are
 * asked to delete theirs, as in Heat).
 */
export async function startStackSnapshotExecution(options: {
  store: Store;
  deploymentId: string;
  action: StackSnapshotAction;
  /** The execution's id (a server claims it before the execution is stored); a new one if not given. */
  id?: string;
  /** task_retries, task_retry_interval. */
  parameters?: Record<string, Json>;
}): Promise<{ execution: ExecutionRecord; tasks: TaskRecord[] }> {
  const { store, action } = options;
  const deployment = await store.getDeployment(options.deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  let model = modelOf(deployment.model);
  const instances = await store.listInstances(deployment.id);
  let started = instances.filter((i) => i.state === 'started');
  let graph: TaskGraph;
  let borrowed: Borrowed | undefined;
  const parameters: Record<string, Json> = { ...(options.parameters ?? {}), snapshot: action.snapshot };
  if (action.workflow === SNAPSHOT_WORKFLOW) {
    graph = operationSteps(model, started, [RESOURCE_SNAPSHOT], action.workflow, false);
  } else {
    const snapshot = (await store.listSnapshots(deployment.id)).find((s) => s.id === action.snapshot);
    borrowed = snapshot && borrow(model, instances, modelOf(snapshot.model), action.resources, deployment.id);
    if (borrowed) {
      model = borrowed.model;
      started = [...started, ...borrowed.instances];
      parameters.borrowed = {
        nodes: borrowed.nodes,
        plugins: borrowed.plugins,
        instances: borrowed.instances.map((i) => i.id),
      };
    }
    graph = snapshotDeletionGraph(model, started, action.resources, action.workflow);
  }
  const execution: ExecutionRecord = {
    id: options.id ?? randomUUID(),
    deploymentId: deployment.id,
    workflow: action.workflow,
    parameters,
    status: 'pending',
    error: null,
    createdAt: new Date().toISOString(),
    startedAt: null,
    endedAt: null,
  };
  const tasks = taskRecords(execution.id, graph);
  // A snapshot is stored IN_PROGRESS first, as Heat's stack_snapshot does; whichever process ends
  // its execution stores its data and status (finishExecution).
  if (action.workflow === SNAPSHOT_WORKFLOW)
    await store.putSnapshot({
      id: action.snapshot,
      deploymentId: deployment.id,
      name: action.name ?? action.snapshot,
      blueprintId: deployment.blueprintId,
      inputs: deployment.inputs,
      model: deployment.model,
      data: { status: 'IN_PROGRESS' },
      createdAt: execution.createdAt,
    });
  await store.createExecution(
    execution,
    tasks,
    borrowed && {
      deploymentId: deployment.id,
      deployment: { model: model as unknown as Json },
      addInstances: borrowed.instances,
    },
  );
  return { execution, tasks };
}

/** What a snapshot's deletion borrows from the snapshot for resources the stack no longer has. */
interface Borrowed {
  model: DeploymentModel;
  nodes: string[];
  plugins: string[];
  instances: NodeInstanceRecord[];
}

/**
 * The resources a snapshot kept data of that the stack no longer has, made from the snapshot's
 * definition for its deletion, as Heat's Stack.delete_snapshot builds every resource of the
 * snapshot's template: their nodes (flagged removed) and the plugins they need join the model, and
 * each gets an instance of its own, until the deletion ends (endStackSnapshotExecution).
 */
function borrow(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  kept: DeploymentModel,
  resources: Record<string, Json>,
  deploymentId: string,
): Borrowed | undefined {
  const nodes = Object.keys(resources).filter(
    (name) =>
      resources[name] &&
      !model.nodes[name] &&
      kept.nodes[name]?.operations[RESOURCE_DELETE_SNAPSHOT] !== undefined,
  );
  if (nodes.length === 0) return undefined;
  const next: DeploymentModel = { ...model, nodes: { ...model.nodes }, plugins: { ...model.plugins } };
  const plugins: string[] = [];
  const ids = new InstanceIdFactory(deploymentId, new Set(instances.map((i) => i.id)));
  const made: NodeInstanceRecord[] = [];
  for (const name of nodes) {
    next.nodes[name] = { ...kept.nodes[name]!, removed: true };
    for (const operation of Object.values(kept.nodes[name]!.operations)) {
      const plugin = operation.plugin;
      if (plugin && !Object.hasOwn(next.plugins, plugin) && kept.plugins[plugin]) {
        next.plugins[plugin] = kept.plugins[plugin];
        plugins.push(plugin);
      }
    }
    made.push({
      id: ids.next(name),
      deploymentId,
      node: name,
      index: 1,
      state: 'started',
      runtimeProperties: {},
      version: 0,
      containedIn: null,
      hostId: null,
      relationships: [],
      scalingGroups: [],
    });
  }
  return { model: next, nodes, plugins, instances: made };
}
