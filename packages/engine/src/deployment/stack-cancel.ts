/**
 * Heat's `stack cancel --no-rollback` (heat/engine/service.py stack_cancel_update with
 * cancel_with_rollback=False): a stack's create or update stops where it is, not rolled back.
 */
import { WeftError } from '@weft/sdk/errors';
import { heatStackState } from '../hot/states.js';
import { modelOf } from '../model/deployment-model.js';
import type { CancelRequest, ExecutionRecord, Store } from '../store/types.js';

/** A cancel without rollback of what is not a stack's create or update. */
export class CancelWithoutRollbackError extends WeftError {
  static override readonly code = 'cancel_not_supported';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'CancelWithoutRollbackError';
  }
}

/**
 * The cancel request that stops an execution without rollback. Heat allows it only while the
 * stack's create or update is in progress, and says so in these words otherwise; a deployment
 * that is no Heat stack has nothing to roll back on a cancel.
 */
export async function cancelWithoutRollback(
  store: Store,
  execution: ExecutionRecord,
): Promise<CancelRequest> {
  const deployment = await store.getDeployment(execution.deploymentId);
  if (!deployment || modelOf(deployment.model).blueprint.heatTemplateVersion === undefined)
    throw new CancelWithoutRollbackError(
      `--no-rollback is for a Heat stack's create or update: deployment '${execution.deploymentId}' is no HOT stack`,
    );
  if (execution.workflow !== 'install' && execution.workflow !== 'update') {
    const state = heatStackState(await store.listExecutions(execution.deploymentId));
    throw new CancelWithoutRollbackError(`Cancelling update when stack is ${state} is not supported.`);
  }
  return { rollback: false };
}
