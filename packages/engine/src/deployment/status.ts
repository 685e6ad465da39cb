import type { InstanceState } from '../model/instance-record.js';
import { ACTIVE_EXECUTION_STATUSES, type ExecutionRecord } from '../store/types.js';

/**
 * Where a deployment stands: `running` while an execution runs; how its last execution ended when
 * that was not a success (`failed`, `cancelled`, `interrupted`); else from its instances:
 * `installed` (all started), `uninstalled` (none live, after an execution), `created` (never
 * run), `partial` (some live, e.g. after a stop).
 */
export type DeploymentStatus =
  | 'running'
  | 'failed'
  | 'cancelled'
  | 'interrupted'
  | 'installed'
  | 'uninstalled'
  | 'created'
  | 'partial';

/** Instances that exist in the world (Cloudify's "live nodes"): neither uninitialized nor deleted. */
export function isLive(state: InstanceState | string): boolean {
  return state !== 'uninitialized' && state !== 'deleted';
}

export function deploymentStatus(
  instanceStates: Partial<Record<InstanceState, number>>,
  lastExecution: (Pick<ExecutionRecord, 'status'> & { workflow?: string }) | null,
): DeploymentStatus {
  const status = lastExecution?.status;
  if (status && ACTIVE_EXECUTION_STATUSES.includes(status)) return 'running';
  if (status === 'failed' || status === 'cancelled' || status === 'interrupted') return status;
  const counts = Object.entries(instanceStates);
  const total = counts.reduce((sum, [, n]) => sum + (n ?? 0), 0);
  const live = counts.reduce((sum, [state, n]) => sum + (isLive(state) ? (n ?? 0) : 0), 0);
  if (total > 0 && (instanceStates.started ?? 0) === total) return 'installed';
  // A deployment without instances (a HOT template of parameters and outputs only) is as its
  // last install or update left it.
  if (total === 0 && (lastExecution?.workflow === 'install' || lastExecution?.workflow === 'update'))
    return 'installed';
  if (live === 0) return lastExecution ? 'uninstalled' : 'created';
  return 'partial';
}
