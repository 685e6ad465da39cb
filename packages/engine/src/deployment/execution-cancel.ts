/**
 * Stopping a running execution, as `weft cancel` and `POST /executions/{id}/cancel` do, and a HOT
 * stack's take-over by its update or delete, as Heat's convergence takes a stack whose create or
 * update is in progress: an update stops the traversal in progress, letting what is under way
 * finish, and goes on from there (heat/engine/service.py update_stack, stack.py converge_stack: a
 * new traversal, the previous one's sync points deleted; check_resource.py waits for the resources
 * the old traversal holds); a delete stops it and its workers at once (service.py delete_stack:
 * stop_traversal, stop_all_workers). Weft runs one execution of a deployment at a time, so the
 * one running is asked to stop so, and waited for, before the new one starts.
 */
import { modelOf } from '../model/deployment-model.js';
import {
  ACTIVE_EXECUTION_STATUSES,
  type CancelRequest,
  type DeploymentRecord,
  type ExecutionRecord,
  type ExecutionStatus,
  type Store,
} from '../store/types.js';

/** What a cancel asks: with `force`, running operations are stopped too. */
export interface CancelAsk {
  force?: boolean;
  cancelRequest?: CancelRequest;
}

/**
 * Stores the cancel of a running execution: `cancelling` (or `force_cancelling`) for the process
 * running it to read, or, when no process runs it (it crashed or never started), its end as
 * cancelled here. The status it was left in.
 */
export async function requestCancel(
  store: Store,
  execution: ExecutionRecord,
  ask: CancelAsk,
  running: boolean,
): Promise<ExecutionStatus> {
  const cancelRequest = ask.cancelRequest ? { cancelRequest: ask.cancelRequest } : {};
  if (!running) {
    await store.applyBatch({
      execution: {
        id: execution.id,
        status: 'cancelled',
        endedAt: new Date().toISOString(),
        ...cancelRequest,
      },
    });
    return 'cancelled';
  }
  const status = ask.force ? 'force_cancelling' : 'cancelling';
  await store.applyBatch({ execution: { id: execution.id, status, ...cancelRequest } });
  return status;
}

/** The executions a HOT stack's update takes over: its create, update or rollback. */
const UPDATE_PREEMPTS = ['install', 'update', 'rollback'];

/** What takes a HOT stack over: its update (`update`) or its delete (`delete`, the uninstall). */
export type StackPreemptor = 'update' | 'delete';

/**
 * The execution a HOT stack's update or delete stops first, and how: an update stops its create,
 * update or rollback, letting what is under way finish (a cancel without rollback); a delete stops
 * any, with its running operations (a forced cancel, not rolled back either). Undefined for a deployment that is no HOT
 * stack (it keeps refusing a second execution), or when nothing runs.
 */
export async function stackPreemption(
  store: Store,
  deployment: DeploymentRecord,
  by: StackPreemptor,
): Promise<{ execution: ExecutionRecord; ask: CancelAsk } | undefined> {
  if (modelOf(deployment.model).blueprint.heatTemplateVersion === undefined) return undefined;
  const running = (await store.listExecutions(deployment.id)).find((e) =>
    ACTIVE_EXECUTION_STATUSES.includes(e.status),
  );
  if (!running || (by === 'update' && !UPDATE_PREEMPTS.includes(running.workflow))) return undefined;
  // Neither is rolled back (Heat's stop_traversal fails the stack, `Stack UPDATE cancelled`): a
  // `weft update` following an update a delete stopped would otherwise start its rollback.
  return {
    execution: running,
    ask: { ...(by === 'delete' && { force: true }), cancelRequest: { rollback: false } },
  };
}

/** How the caller learns of an execution's process and of changes to it. */
export interface ExecutionWatch {
  /** Whether a process runs the execution (and so reads a cancel stored). */
  isRunning(executionId: string): Promise<boolean>;
  /** After a cancel was stored for a running execution: tells its process, if the caller can. */
  cancelStored?(executionId: string): Promise<void>;
  /**
   * Called before the execution is read from the store: the wait for a change to it after that
   * read (its end, or a while; the caller's to bound).
   */
  changes(executionId: string): () => Promise<void>;
}

/**
 * Stops the execution `stackPreemption` names and waits for its end; an execution no process runs
 * any more ends here, as `weft cancel` ends one. The execution stopped, or undefined when there
 * was none to stop.
 */
export async function preemptStack(
  store: Store,
  deployment: DeploymentRecord,
  by: StackPreemptor,
  watch: ExecutionWatch,
  inform?: (message: string) => void,
): Promise<ExecutionRecord | undefined> {
  const preemption = await stackPreemption(store, deployment, by);
  if (!preemption) return undefined;
  const { execution, ask } = preemption;
  inform?.(
    by === 'update'
      ? `Stopping execution ${execution.id} (${execution.workflow}) of stack '${deployment.id}' first: what is under way finishes, nothing new starts`
      : `Stopping execution ${execution.id} (${execution.workflow}) of stack '${deployment.id}' first, with its running operations`,
  );
  // Stored as cancelling even when nothing runs it now: it is ended below, once read again.
  await requestCancel(store, execution, ask, true);
  await watch.cancelStored?.(execution.id);
  for (;;) {
    const changed = watch.changes(execution.id);
    const now = await store.getExecution(execution.id);
    if (!now || !ACTIVE_EXECUTION_STATUSES.includes(now.status)) return now ?? execution;
    if (!(await watch.isRunning(execution.id))) {
      // Its process may have ended it between the two reads: only one still active ends here.
      const again = await store.getExecution(execution.id);
      if (again && ACTIVE_EXECUTION_STATUSES.includes(again.status))
        await requestCancel(store, again, ask, false);
      return (await store.getExecution(execution.id)) ?? execution;
    }
    await changed();
  }
}
