/**
 * `weft check` on a server: check_status then check_drift started there and followed as the local
 * command runs them, and the same drift report made from their tasks.
 */
import { type DriftReport, driftReport, type ExecutionRecord, type TaskRecord } from '@weft/engine';
import { CHECK_WORKFLOWS } from '../commands/check.js';
import { executionParameters, type RunFlags } from '../commands/execution.js';
import type { ApiClient } from './client.js';
import { remoteExecute, remoteInstances } from './run.js';

/** Runs the checks on the server's deployment; what they found. */
export async function remoteCheckDeployment(
  client: ApiClient,
  deploymentId: string,
  flags: RunFlags,
): Promise<{ report: DriftReport; executions: ExecutionRecord[] }> {
  const parameters = executionParameters(flags);
  const executions: ExecutionRecord[] = [];
  for (const workflow of CHECK_WORKFLOWS)
    executions.push(await remoteExecute(client, deploymentId, workflow, parameters, flags));
  const [status, drift] = await Promise.all(
    executions.map((e) => client.get<TaskRecord[]>(`/executions/${encodeURIComponent(e.id)}/tasks`)),
  );
  const instances = await remoteInstances(client, deploymentId);
  return { report: driftReport(instances, status!, drift!), executions };
}
