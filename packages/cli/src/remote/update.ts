/**
 * The deployment update on a server: `weft plan -d DEP`, `weft update` and `weft exec rollback`.
 * The blueprint is one stored on the server (`weft blueprints upload`, then `-b ID`), as the API
 * takes it; without one, the deployment's own (an inputs-only update). Printed and followed as the
 * local commands print and follow theirs.
 */
import {
  Diagnostics,
  type ExecutionRecord,
  type Json,
  type SavedUpdatePlan,
  type UpdatePlanDocument,
} from '@weft/engine';
import { givenInputs } from '../commands/common.js';
import { executionParameters } from '../commands/execution.js';
import { ROLLBACK_HISTORY, rollbackUninstalls } from '../commands/rollback-choice.js';
import {
  givenSavedPlan,
  refreshTargets,
  type UpdateFlags,
  updateParameters,
  writeSavedPlan,
} from '../commands/update.js';
import { updatePlanText } from '../commands/update-view.js';
import { EXIT, inform, printJson, printProblems, SCHEMA_VERSION, UsageError } from '../output.js';
import type { ApiClient } from './client.js';
import { finishRemote } from './commands.js';
import { printRemoteOutputs } from './install.js';
import { followExecution, type RemoteRunFlags } from './run.js';

type Page<T> = { items: T[]; total: number };

export type RemoteUpdateFlags = UpdateFlags & { deploymentId?: string };

/**
 * The options the local command has that the API does not take: refused by name rather than
 * quietly dropped. Keys are the flags' names as commander stores them.
 */
const LOCAL_ONLY: Record<string, string> = {
  dryRun: '--dry-run',
  environment: '-e/--environment',
  pluginDir: '--plugin-dir',
  concurrency: '--concurrency',
};

/** Refuses, with exit 2, the first option given that the server's update does not take. */
export function refuseLocalOnly(flags: object, command: string): void {
  for (const [key, option] of Object.entries(LOCAL_ONLY))
    if ((flags as Record<string, unknown>)[key] !== undefined)
      throw new UsageError(
        `${option} is not available for weft ${command} with a server (the API does not take it): leave it out, or act on local state with --state-dir`,
      );
}

/**
 * A blueprint path given with a server: the API updates to stored blueprints only, so the path
 * is refused with the way to store it.
 */
export function refuseBlueprintPath(blueprint: string | undefined, command: string): void {
  if (blueprint === undefined) return;
  throw new UsageError(
    `with a server, weft ${command} takes a blueprint stored on it, not a path: weft blueprints upload ${blueprint} --id ID, then weft ${command} -b ID -d DEPLOYMENT`,
  );
}

function deploymentOf(flags: RemoteUpdateFlags, command: string): string {
  if (!flags.deploymentId) throw new UsageError(`name the deployment to ${command} with -d DEPLOYMENT`);
  return flags.deploymentId;
}

/**
 * The API's request body from the flags: blueprint, inputs (-i, and a HOT template's -p) and
 * Cloudify's update parameters, as the local command reads them.
 */
function requestBody(flags: RemoteUpdateFlags): Record<string, Json> | undefined {
  const problems = new Diagnostics();
  const inputs = givenInputs(flags, problems) as Record<string, Json> | undefined;
  if (!problems.ok) {
    printProblems(problems, flags.json === true);
    process.exitCode = EXIT.badInput;
    return undefined;
  }
  return {
    ...(flags.blueprintId !== undefined ? { blueprintId: flags.blueprintId } : {}),
    ...(inputs ? { inputs } : {}),
    parameters: updateParameters(flags),
  };
}

/** `weft plan -d DEP` with a server: the server's plan, printed as the local one (saved with --out). */
export async function remoteUpdatePlan(client: ApiClient, flags: RemoteUpdateFlags): Promise<void> {
  const deploymentId = deploymentOf(flags, 'plan an update of');
  const body = requestBody(flags);
  if (!body) return;
  const { saved, ...document } = await client.request<UpdatePlanDocument & { saved?: SavedUpdatePlan }>(
    'POST',
    `/deployments/${encodeURIComponent(deploymentId)}/update-plan`,
    { ...body, ...(flags.out ? { save: true } : {}) },
  );
  if (flags.out && saved) writeSavedPlan(flags.out, saved, flags.json);
  const plan = { schemaVersion: SCHEMA_VERSION, ...document };
  if (flags.json) printJson(plan);
  else process.stdout.write(updatePlanText(plan, process.stdout));
}

/**
 * `weft update` with a server: the update started there and followed to its end. With --plan,
 * the saved plan is sent as it is (the server refuses it when the deployment changed since); with
 * --refresh, the deployment is checked first and what drifted is updated too.
 */
export async function remoteUpdate(client: ApiClient, flags: RemoteUpdateFlags): Promise<void> {
  if (flags.preview) return remoteUpdatePlan(client, flags);
  const deploymentId = deploymentOf(flags, 'update');
  const saved = givenSavedPlan(flags, flags.blueprintId);
  const body = saved === undefined ? requestBody(flags) : { plan: saved as Json };
  if (!body) return;
  if (flags.refresh) {
    const { remoteCheckDeployment } = await import('./check.js');
    const { report } = await remoteCheckDeployment(client, deploymentId, flags);
    body.refresh = refreshTargets(report, flags.json);
  }
  const started = await client.request<ExecutionRecord>(
    'POST',
    `/deployments/${encodeURIComponent(deploymentId)}/updates`,
    body,
  );
  inform(
    `Updating deployment '${deploymentId}' on ${client.server.url}${flags.blueprintId ? ` to blueprint '${flags.blueprintId}'` : saved !== undefined ? ` to the plan saved in ${flags.plan}` : ''}`,
    flags.json,
  );
  const result = await followExecution(client, started, flags);
  if (result.status !== 'terminated' && flags.rollbackOnFailure && process.exitCode !== 130) {
    inform(
      `The update failed: rolling deployment '${deploymentId}' back to its previous version`,
      flags.json,
    );
    await remoteRollback(client, deploymentId, executionParameters(flags), flags);
    // The update failed, whatever the rollback did.
    if (process.exitCode === EXIT.ok) process.exitCode = EXIT.failed;
    return;
  }
  await reportRemoteUpdate(client, deploymentId, result, flags);
}

async function reportRemoteUpdate(
  client: ApiClient,
  deploymentId: string,
  result: ExecutionRecord,
  flags: RemoteRunFlags,
): Promise<void> {
  if (result.status === 'terminated') await printRemoteOutputs(client, deploymentId, flags.json);
  else if (!flags.json && process.exitCode !== 130)
    process.stderr.write(
      `Deployment '${deploymentId}' is between two versions: the new blueprint is in place, not every change is. Continue with weft resume ${result.id}, go back with weft exec rollback -d ${deploymentId}, or run weft update again.\n`,
    );
  finishRemote(result, flags.json);
}

/** Whether the server runs `workflow` as the deployment update's, not as the blueprint's own. */
export async function remoteRunsDeploymentUpdate(
  client: ApiClient,
  deploymentId: string,
  workflow: string,
): Promise<boolean> {
  const { workflows } = await client.get<{ workflows: { name: string; deploymentUpdate: boolean }[] }>(
    `/deployments/${encodeURIComponent(deploymentId)}`,
  );
  return workflows.some((w) => w.name === workflow && w.deploymentUpdate);
}

/**
 * `weft exec rollback` with a server: after an update (failed or not), the update back to the
 * version before it; after a failed install, its uninstall (as the local command does).
 */
export async function remoteRollback(
  client: ApiClient,
  deploymentId: string,
  parameters: Record<string, Json>,
  flags: RemoteRunFlags,
): Promise<void> {
  // Newest first.
  const last = (
    await client.get<Page<ExecutionRecord>>(
      `/executions?deploymentId=${encodeURIComponent(deploymentId)}&size=1000`,
    )
  ).items.find((e) => ROLLBACK_HISTORY.includes(e.workflow));
  if (rollbackUninstalls(last, deploymentId, flags.json)) {
    const { remoteExecute } = await import('./run.js');
    finishRemote(await remoteExecute(client, deploymentId, 'uninstall', parameters, flags), flags.json);
    return;
  }
  const started = await client.request<ExecutionRecord>(
    'POST',
    `/deployments/${encodeURIComponent(deploymentId)}/rollback`,
    { parameters },
  );
  inform(`Rolling back deployment '${deploymentId}' on ${client.server.url}`, flags.json);
  await reportRemoteUpdate(client, deploymentId, await followExecution(client, started, flags), flags);
}
