/**
 * Heat's names for the states of stacks and resources (heat/engine/status.py, resource.py):
 * ACTION_STATUS, e.g. CREATE_COMPLETE, UPDATE_FAILED, as `openstack stack resource list` shows.
 */
import { ADOPT_KEY } from '@weft/sdk/resource-keys';
import { isMapping, type Value } from '../dsl/yaml-source.js';

/** The Heat action each workflow is, for a stack. */
const WORKFLOW_ACTIONS: Record<string, string> = {
  install: 'CREATE',
  uninstall: 'DELETE',
  update: 'UPDATE',
  rollback: 'ROLLBACK',
  suspend: 'SUSPEND',
  resume: 'RESUME',
  check: 'CHECK',
  check_status: 'CHECK',
  check_drift: 'CHECK',
  snapshot: 'SNAPSHOT',
};

/**
 * A stack's state from its executions (oldest first): the latest one's action and how it stands.
 * An uninstall right after a failed install is the rollback of a failed create, as Heat names it;
 * the install of a stack made by adopting resources (`adopted`) is Heat's ADOPT, and an update
 * that restores a snapshot (its `restore` parameter) Heat's RESTORE; taking a snapshot is
 * SNAPSHOT, deleting one changes nothing.
 */
export function heatStackState(
  executions: { workflow: string; status: string; parameters?: Record<string, unknown> }[],
  adopted = false,
): string {
  // Deleting a snapshot is no action of the stack's (Heat leaves its state as it is).
  const actions = executions.some((e) => e.workflow === 'delete_snapshot')
    ? executions.filter((e) => e.workflow !== 'delete_snapshot')
    : executions;
  const execution = actions.at(-1);
  if (!execution) return 'INIT_COMPLETE';
  const before = actions.at(-2);
  const rollback =
    execution.workflow === 'uninstall' && before?.workflow === 'install' && before.status === 'failed';
  const action = rollback
    ? 'ROLLBACK'
    : execution.workflow === 'update' && execution.parameters?.restore !== undefined
      ? 'RESTORE'
      : adopted && execution.workflow === 'install'
        ? 'ADOPT'
        : (WORKFLOW_ACTIONS[execution.workflow] ?? execution.workflow.toUpperCase());
  const status =
    execution.status === 'terminated'
      ? 'COMPLETE'
      : ['pending', 'started', 'cancelling', 'force_cancelling'].includes(execution.status)
        ? 'IN_PROGRESS'
        : 'FAILED';
  return `${action}_${status}`;
}

/**
 * A resource's state: what its resource class recorded (the `heat` runtime property: the last
 * action and its status; a failed check is CHECK_FAILED), else what its instance's state means.
 */
export function heatResourceState(instance: {
  state: string;
  runtimeProperties: Record<string, unknown>;
}): string {
  const heat = instance.runtimeProperties.heat as Value | undefined;
  if (isMapping(heat)) {
    const check = heat.check;
    if (isMapping(check) && check.status === 'FAILED') return 'CHECK_FAILED';
    const state = heat.state;
    if (isMapping(state) && typeof state.action === 'string' && typeof state.status === 'string') {
      // A resource whose instance was deleted is deleted, whatever its class recorded last.
      if (instance.state === 'deleted') return 'DELETE_COMPLETE';
      return `${state.action}_${state.status}`;
    }
  }
  switch (instance.state) {
    case 'uninitialized':
      return 'INIT_COMPLETE';
    case 'deleted':
      return 'DELETE_COMPLETE';
    case 'started':
      return 'CREATE_COMPLETE';
    case 'stopping':
    case 'deleting':
      return 'DELETE_IN_PROGRESS';
    default:
      return 'CREATE_IN_PROGRESS';
  }
}

/**
 * Whether a stack was made by adopting resources (weft install --adopt): its resources were
 * marked to adopt theirs, or did.
 */
export function isAdoptedStack(instances: { runtimeProperties: Record<string, unknown> }[]): boolean {
  return instances.some((i) => {
    const heat = i.runtimeProperties.heat as Value | undefined;
    return (
      i.runtimeProperties[ADOPT_KEY] !== undefined ||
      (isMapping(heat) && isMapping(heat.state) && heat.state.action === 'ADOPT')
    );
  });
}
