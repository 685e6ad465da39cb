/**
 * Heat (convergence) takes a stack's update or delete while its create or update is in progress:
 * an update stops the traversal in progress, letting what is under way finish, and goes on from
 * there (heat/engine/service.py update_stack, converge_stack; check_resource.py waits for the
 * resources the old traversal holds); a delete stops it and its workers at once
 * (service.py delete_stack: stop_traversal, stop_all_workers). Weft runs one execution of a
 * deployment at a time, so the one running is asked to stop so, and waited for.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ACTIVE_EXECUTION_STATUSES, type CancelRequest, type DeploymentRecord, modelOf } from '@weft/engine';
import { inform } from '../output.js';
import { runnerOf, type State } from '../state.js';

/** How often the store is read for the end of the execution that was asked to stop. */
const POLL_MS = 100;

/** The executions an update takes over: the stack's create, update or rollback. */
const UPDATE_PREEMPTS = ['install', 'update', 'rollback'];

/**
 * Stops the execution running a HOT stack's create or update before an update of it (`update`:
 * what is under way finishes, as a cancel without rollback) or before its delete (`delete`: any
 * execution, its running operations stopped, as `weft cancel --force`). Nothing for another
 * deployment, or when nothing runs. Whether it stopped one.
 */
export async function preemptRunningStack(
  state: State,
  deployment: DeploymentRecord,
  by: 'update' | 'delete',
  json: boolean | undefined,
): Promise<boolean> {
  if (modelOf(deployment.model).blueprint.heatTemplateVersion === undefined) return false;
  const running = (await state.store.listExecutions(deployment.id)).find((e) =>
    ACTIVE_EXECUTION_STATUSES.includes(e.status),
  );
  if (!running || (by === 'update' && !UPDATE_PREEMPTS.includes(running.workflow))) return false;
  inform(
    by === 'update'
      ? `Stopping execution ${running.id} (${running.workflow}) of stack '${deployment.id}' first: what is under way finishes, nothing new starts`
      : `Stopping execution ${running.id} (${running.workflow}) of stack '${deployment.id}' first, with its running operations`,
    json,
  );
  const cancelRequest: CancelRequest | undefined = by === 'update' ? { rollback: false } : undefined;
  await state.store.applyBatch({
    execution: {
      id: running.id,
      status: by === 'update' ? 'cancelling' : 'force_cancelling',
      ...(cancelRequest && { cancelRequest }),
    },
  });
  for (;;) {
    const now = await state.store.getExecution(running.id);
    if (!now || !ACTIVE_EXECUTION_STATUSES.includes(now.status)) return true;
    if (!runnerOf(state.dir, running.id)) {
      // No process runs it (any more): it ends here, as weft cancel ends one.
      await state.store.applyBatch({
        execution: { id: running.id, status: 'cancelled', endedAt: new Date().toISOString() },
      });
      return true;
    }
    await delay(POLL_MS);
  }
}
