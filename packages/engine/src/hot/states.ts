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

/** What a stack's state is made of: its executions' workflows, how they stand, what a cancel asked. */
interface StackExecution {
  workflow: string;
  status: string;
  parameters?: Record<string, unknown>;
  cancelRequest?: { rollback: boolean } | null;
}

/**
 * A stack's state from its executions (oldest first): the latest one's action and how it stands.
 * An uninstall right after a failed install is the rollback of a failed create, as Heat names it;
 * the install of a stack made by adopting resources (`adopted`) is Heat's ADOPT, and an update
 * that restores a snapshot (its `restore` parameter) Heat's RESTORE; taking a snapshot is
 * SNAPSHOT, deleting one changes nothing.
 */
export function heatStackState(executions: StackExecution[], adopted = false): string {
  const state = stackAction(executions, adopted);
  return state ? `${state.action}_${state.status}` : 'INIT_COMPLETE';
}

/**
 * The stack's status reason, as Heat words it (heat/engine/stack.py): `Stack CREATE started`,
 * `Stack CREATE completed successfully`, or for a failed resource `Resource CREATE failed:` its
 * path in the stack (resources.victim.resources.oops for oops in template resource victim) and
 * its error; the execution's error when no resource failed; Operation cancelled for a cancel.
 */
export function heatStackStatusReason(
  executions: (StackExecution & { error?: unknown })[],
  adopted = false,
): string {
  const state = stackAction(executions, adopted);
  if (!state) return 'Stack INIT completed successfully';
  if (state.status === 'IN_PROGRESS') return `Stack ${state.action} started`;
  if (state.status === 'COMPLETE') return `Stack ${state.action} completed successfully`;
  // Heat's cancel without rollback stops the stack's traversal (heat/engine/worker.py
  // _stop_traversal) with this reason; its cancel with rollback raises ForcedCancel in the stack's
  // task, whose text is the other.
  if (state.execution.cancelRequest?.rollback === false) return `Stack ${state.action} cancelled`;
  if (state.execution.status === 'cancelled') return `Resource ${state.action} failed: Operation cancelled`;
  const { error } = state.execution;
  const message = isMapping(error) && typeof error.message === 'string' ? error.message : undefined;
  if (message === undefined) return `Stack ${state.action} failed`;
  const task = isMapping(error) ? error.task : undefined;
  const node = isMapping(task) && typeof task.node === 'string' ? task.node : undefined;
  if (!node) return `Stack ${state.action} failed: ${message}`;
  // A node of a nested stack or group is named by its path (victim.oops); Heat's is
  // resources.victim.resources.oops.
  const path = node
    .split('.')
    .map((name) => `resources.${name}`)
    .join('.');
  return `Resource ${state.action} failed: ${path}: ${message}`;
}

/** The latest execution that is an action of the stack's, the action and how it stands. */
function stackAction<E extends StackExecution>(
  executions: E[],
  adopted: boolean,
): { action: string; status: string; execution: E } | undefined {
  // Deleting a snapshot is no action of the stack's (Heat leaves its state as it is).
  const actions = executions.some((e) => e.workflow === 'delete_snapshot')
    ? executions.filter((e) => e.workflow !== 'delete_snapshot')
    : executions;
  const execution = actions.at(-1);
  if (!execution) return undefined;
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
  // Cancelled without rollback, the stack has failed at once, while what was under way finishes.
  const status =
    execution.status === 'terminated'
      ? 'COMPLETE'
      : ['pending', 'started', 'cancelling', 'force_cancelling'].includes(execution.status) &&
          execution.cancelRequest?.rollback !== false
        ? 'IN_PROGRESS'
        : 'FAILED';
  return { action, status, execution };
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
 * Each resource's state (heatResourceState), where a nested stack's resource (a template
 * resource, group or chain: nodes `NAME.X` are its stack's) that has not started an action of its
 * own shows its stack's: Heat marks it CREATE_IN_PROGRESS while its stack is made, and
 * CREATE_FAILED when a resource in it fails, where Weft starts it after its members. One whose
 * update has begun (it goes UPDATE_IN_PROGRESS before its stack's resources change, finished
 * after them) fails when a resource in its stack fails, as Heat's fails with its nested stack,
 * and once the stack's action has `ended` without finishing it, as Heat's resource whose action
 * is stopped goes FAILED ('UPDATE aborted').
 */
export function heatResourceStates<
  I extends { node: string; state: string; runtimeProperties: Record<string, unknown> },
>(instances: readonly I[], ended = false): Map<I, string> {
  const states = new Map(instances.map((i) => [i, heatResourceState(i)]));
  const byNode = new Map<string, I[]>();
  for (const i of instances) {
    const of = byNode.get(i.node);
    if (of) of.push(i);
    else byNode.set(i.node, [i]);
  }
  // A stack resource's members: the instances of the nodes one level down.
  const members = new Map<string, I[]>();
  for (const [node, of] of byNode) {
    const parent = node.slice(0, node.lastIndexOf('.'));
    if (!node.includes('.') || !byNode.has(parent)) continue;
    const theirs = members.get(parent);
    if (!theirs) members.set(parent, [...of]);
    else for (const i of of) theirs.push(i);
  }
  // Deepest first, so that a stack's state reaches the stack resources around it.
  const parents = [...members.keys()].sort((a, b) => b.split('.').length - a.split('.').length);
  for (const parent of parents) {
    const theirs = members.get(parent)!.map((m) => states.get(m)!);
    const failed = theirs.find((state) => state.endsWith('_FAILED'));
    const started = theirs.some((state) => state !== 'INIT_COMPLETE');
    for (const resource of byNode.get(parent)!) {
      const own = states.get(resource)!;
      if (own.endsWith('_IN_PROGRESS') && (failed || ended))
        states.set(resource, `${own.slice(0, -'_IN_PROGRESS'.length)}_FAILED`);
      if (own !== 'INIT_COMPLETE') continue;
      if (failed) states.set(resource, `${failed.slice(0, failed.indexOf('_'))}_FAILED`);
      else if (started) states.set(resource, 'CREATE_IN_PROGRESS');
    }
  }
  return states;
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
