/**
 * `weft stack abandon|snapshot|snapshots|snapshot-show|snapshot-delete|restore` with a server:
 * the server's stack routes, their executions followed as any other, with the local commands'
 * output and exit codes.
 */
import type { ExecutionRecord, Json, SnapshotView } from '@weft/engine';
import { executionParameters, type RunFlags } from '../commands/execution.js';
import { writeAbandonData } from '../commands/stack.js';
import { EXIT, inform, printJson } from '../output.js';
import type { ApiClient } from './client.js';
import { followExecution, remoteDeploymentFor } from './run.js';
import { refuseLocalOnly, reportRemoteUpdate } from './update.js';

type StackFlags = RunFlags & { deploymentId?: string; json?: boolean };

const snapshots = (deploymentId: string) => `/deployments/${encodeURIComponent(deploymentId)}/snapshots`;
const one = (deploymentId: string, snapshot: string) =>
  `${snapshots(deploymentId)}/${encodeURIComponent(snapshot)}`;

/** The exit code of a finished execution (130 kept: the user stopped following it). */
function exitFor(execution: ExecutionRecord): void {
  if (process.exitCode === 130) return;
  process.exitCode = execution.status === 'terminated' ? EXIT.ok : EXIT.failed;
}

export async function remoteTakeSnapshot(client: ApiClient, name: string | undefined, flags: StackFlags) {
  refuseLocalOnly(flags, 'stack snapshot');
  const deploymentId = await remoteDeploymentFor(client, flags.deploymentId);
  const started = await client.request<{
    snapshot: { id: string; name: string };
    execution: ExecutionRecord;
  }>('POST', snapshots(deploymentId), {
    ...(name !== undefined ? { name } : {}),
    parameters: executionParameters(flags),
  });
  inform(
    `Taking snapshot ${started.snapshot.id} of stack '${deploymentId}' on ${client.server.url}`,
    flags.json,
  );
  const result = await followExecution(client, started.execution, { json: flags.json === true });
  if (process.exitCode === 130) return;
  // Stored by the server before the execution's stream ended.
  const snapshot = await client.get<SnapshotView>(one(deploymentId, started.snapshot.id));
  const { data: _, ...view } = snapshot;
  if (flags.json) printJson({ snapshot: view, execution: result });
  else
    process.stdout.write(
      `Snapshot ${view.id} (${view.name}) of stack '${deploymentId}' ${view.status === 'COMPLETE' ? 'taken' : 'FAILED (it is kept, and cannot be restored)'}\n`,
    );
  exitFor(result);
}

export async function remoteListSnapshots(client: ApiClient, flags: StackFlags) {
  const deploymentId = await remoteDeploymentFor(client, flags.deploymentId);
  const all = await client.get<SnapshotView[]>(snapshots(deploymentId));
  if (flags.json) {
    printJson({ deployment: deploymentId, snapshots: all });
    return;
  }
  if (all.length === 0) {
    process.stdout.write(`Stack '${deploymentId}' has no snapshots (weft stack snapshot takes one)\n`);
    return;
  }
  for (const s of all) process.stdout.write(`${s.id}  ${s.name}  ${s.status}  ${s.creation_time}\n`);
}

export async function remoteShowSnapshot(client: ApiClient, given: string, flags: StackFlags) {
  const deploymentId = await remoteDeploymentFor(client, flags.deploymentId);
  const snapshot = await client.get<Record<string, Json>>(one(deploymentId, given));
  process.stdout.write(`${JSON.stringify(snapshot, null, 2)}\n`);
}

export async function remoteDeleteSnapshot(client: ApiClient, given: string, flags: StackFlags) {
  refuseLocalOnly(flags, 'stack snapshot-delete');
  const deploymentId = await remoteDeploymentFor(client, flags.deploymentId);
  const found = await client.get<SnapshotView>(one(deploymentId, given));
  const started = await client.request<ExecutionRecord>('DELETE', one(deploymentId, found.id), {
    parameters: executionParameters(flags),
  });
  const result = await followExecution(client, started, { json: false });
  if (process.exitCode === 130) return;
  if (result.status !== 'terminated')
    process.stderr.write(
      `Snapshot ${found.id} (${found.name}) is kept: delete it again once the failure is dealt with\n`,
    );
  else process.stderr.write(`Snapshot ${found.id} (${found.name}) deleted\n`);
  exitFor(result);
}

export async function remoteRestore(client: ApiClient, given: string, flags: StackFlags) {
  refuseLocalOnly(flags, 'stack restore');
  const deploymentId = await remoteDeploymentFor(client, flags.deploymentId);
  const started = await client.request<ExecutionRecord>('POST', `${one(deploymentId, given)}/restore`, {
    parameters: executionParameters(flags),
  });
  inform(
    `Restoring stack '${deploymentId}' from snapshot ${String(started.parameters.restore)} on ${client.server.url}`,
    flags.json,
  );
  await reportRemoteUpdate(client, deploymentId, await followExecution(client, started, flags), flags);
}

export async function remoteAbandon(
  client: ApiClient,
  flags: { deploymentId?: string; outputFile?: string },
) {
  const deploymentId = await remoteDeploymentFor(client, flags.deploymentId);
  const data = await client.request<Json>(
    'POST',
    `/deployments/${encodeURIComponent(deploymentId)}/abandon`,
    {},
  );
  writeAbandonData(data, flags);
  if (flags.outputFile)
    process.stderr.write(`Stack '${deploymentId}' abandoned; its data is in ${flags.outputFile}\n`);
}
