// What the check_status and check_drift workflows found, per instance, read from their tasks:
// Cloudify's rules (an instance is unhealthy when its check_status failed; it has drifted when its
// check_drift, or one of its relationships', returned something truthy or failed).
import type { Json, NodeInstanceRecord, TaskRecord } from '../store/types.js';
import { CHECK_DRIFT, CHECK_STATUS } from '../workflows/builtin.js';

export interface CheckOutcome {
  /** The check ran to an end (false: the node does not implement it). */
  checked: boolean;
  /** Failed: the error's message. */
  error?: string;
  /** What the check returned. */
  result?: Json;
}

export interface InstanceCheck {
  instance: string;
  node: string;
  status: CheckOutcome & { healthy: boolean };
  drift: CheckOutcome & { drifted: boolean };
  /** check_drift of its relationships, by target instance, where an end implements it. */
  relationships: (CheckOutcome & { target: string; side: 'source' | 'target'; drifted: boolean })[];
}

export interface DriftReport {
  instances: InstanceCheck[];
  /** Instances whose check_status failed. */
  unhealthy: string[];
  /** Instances that drifted (themselves or a relationship). */
  drifted: string[];
}

/** What a report reads of a check's task (all a server's API shows of one has). */
type CheckTask = Pick<TaskRecord, 'instanceId' | 'operation' | 'relationship' | 'state' | 'error' | 'result'>;

function outcome(task: CheckTask | undefined): CheckOutcome {
  if (!task || (task.state !== 'succeeded' && task.state !== 'failed')) return { checked: false };
  if (task.state === 'failed') {
    const error = task.error as { message?: string } | null;
    return { checked: true, error: error?.message ?? 'failed' };
  }
  return task.result === null || task.result === undefined
    ? { checked: true }
    : { checked: true, result: task.result };
}

/** Cloudify's test: any truthy return value is drift (even `{drift: false}`), and so is a failed check. */
function drifted(o: CheckOutcome): boolean {
  if (!o.checked) return false;
  if (o.error !== undefined) return true;
  const r = o.result;
  return !(
    r === undefined ||
    r === null ||
    r === false ||
    r === 0 ||
    r === '' ||
    (Array.isArray(r) && r.length === 0) ||
    (typeof r === 'object' && !Array.isArray(r) && Object.keys(r).length === 0)
  );
}

export function driftReport(
  instances: Pick<NodeInstanceRecord, 'id' | 'node' | 'state'>[],
  statusTasks: CheckTask[],
  driftTasks: CheckTask[],
): DriftReport {
  const own = (tasks: CheckTask[], operation: string) =>
    new Map(tasks.filter((t) => t.operation === operation && !t.relationship).map((t) => [t.instanceId, t]));
  const statuses = own(statusTasks, CHECK_STATUS);
  const drifts = own(driftTasks, CHECK_DRIFT);
  const relationshipDrifts = driftTasks.filter((t) => t.relationship);
  const report: DriftReport = { instances: [], unhealthy: [], drifted: [] };
  for (const i of instances) {
    if (i.state !== 'started') continue;
    const status = outcome(statuses.get(i.id));
    const drift = outcome(drifts.get(i.id));
    const relationships = relationshipDrifts
      .filter((t) => t.instanceId === i.id)
      .map((t) => {
        const rel = t.relationship as { side: 'source' | 'target'; targetId: string };
        const o = outcome(t);
        return { ...o, target: rel.targetId, side: rel.side, drifted: drifted(o) };
      });
    const check: InstanceCheck = {
      instance: i.id,
      node: i.node,
      status: { ...status, healthy: status.error === undefined },
      drift: { ...drift, drifted: drifted(drift) },
      relationships,
    };
    report.instances.push(check);
    if (!check.status.healthy) report.unhealthy.push(i.id);
    if (check.drift.drifted || relationships.some((r) => r.drifted)) report.drifted.push(i.id);
  }
  return report;
}
