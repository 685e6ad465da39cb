// A HOT stack's snapshot and the deletion of one as executions (Heat's Stack.snapshot and
// Stack.delete_snapshot): each resource's handleSnapshot (in dependency order, as Heat's stack
// task runs it) or handleDeleteSnapshot with what the snapshot kept of it, polled on the retry
// timer as every handle/check pair is. They are not workflows a user starts by name: the stack
// commands start them, with the snapshot they are for.
import { randomUUID } from 'node:crypto';
import type { Json } from '@weft/sdk';
import { modelOf } from '../model/deployment-model.js';
import type { ExecutionRecord, Store, TaskRecord } from '../store/types.js';
import { operationSteps, WorkflowError } from '../workflows/builtin.js';
import type { TaskGraph } from '../workflows/lifecycle.js';
import { taskRecords } from './deployments.js';
import {
  type Borrowed,
  borrowedChange,
  borrowFromSnapshots,
  type DELETE_SNAPSHOT_WORKFLOW,
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
    borrowed =
      snapshot &&
      borrowFromSnapshots(
        model,
        instances,
        [{ model: modelOf(snapshot.model), resources: action.resources }],
        deployment.id,
      );
    if (borrowed) {
      model = borrowed.model;
      started = [...started, ...borrowed.instances];
      parameters.borrowed = borrowed.parameter;
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
  await store.createExecution(execution, tasks, borrowed && borrowedChange(deployment.id, borrowed));
  return { execution, tasks };
}
