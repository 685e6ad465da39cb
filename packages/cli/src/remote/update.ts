/**
 * The deployment update on a server: `weft plan -d DEP`, `weft update`, `weft exec update` and
 * `weft exec rollback`. The blueprint is one stored on the server (`weft blueprints upload`, then
 * `-b ID`), as the API takes it; without one, the deployment's own (an inputs-only update). A HOT
 * template's `-e` environment files go with the request. Printed and followed as the local
 * commands print and follow theirs.
 */
import { existsSync } from 'node:fs';
import {
  Diagnostics,
  type ExecutionRecord,
  type Json,
  refuseSuspendedStack,
  type SavedUpdatePlan,
  type UpdatePlanDocument,
  updateWorkflowParameters,
} from '@weft/engine';
import { givenInputs } from '../commands/common.js';
import { executionParameters } from '../commands/execution.js';
import { ROLLBACK_HISTORY, rollbackUninstalls } from '../commands/rollback-choice.js';
import {
  givenSavedPlan,
  refreshTargets,
  refuseRefreshInputs,
  type UpdateFlags,
  updateParameters,
  writeSavedPlan,
} from '../commands/update.js';
import { updatePlanText } from '../commands/update-view.js';
import { EXIT, inform, printJson, printProblems, SCHEMA_VERSION, UsageError } from '../output.js';
import { type ApiClient, ApiRefusal } from './client.js';
import { finishRemote } from './commands.js';
import { type SentEnvironment, sentEnvironment } from './environment.js';
import { printRemoteOutputs } from './install.js';
import { printServerProblems } from './problems.js';
import { followExecution, type RemoteRunFlags } from './run.js';

type Page<T> = { items: T[]; total: number };

export type RemoteUpdateFlags = UpdateFlags & { deploymentId?: string };

/**
 * The options the local command has that the API does not take: refused by name rather than
 * quietly dropped. Keys are the flags' names as commander stores them.
 */
const LOCAL_ONLY: Record<string, string> = {
  dryRun: '--dry-run',
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

/**
 * --existing (Heat's PATCH update) is of the stack's own template: refused, as locally, with
 * another blueprint (a path, or -b) or a saved plan.
 */
export function refuseExistingWith(blueprint: string | undefined, flags: RemoteUpdateFlags): void {
  if (flags.existing && (blueprint !== undefined || flags.plan !== undefined))
    throw new UsageError('--existing updates the stack with its own template: give no template or plan');
}

function deploymentOf(flags: RemoteUpdateFlags, command: string): string {
  if (!flags.deploymentId) throw new UsageError(`name the deployment to ${command} with -d DEPLOYMENT`);
  return flags.deploymentId;
}

/** An update's request: its body, and the environment files it sends (where the server's problems are). */
interface UpdateRequest {
  body: Record<string, Json>;
  environment?: SentEnvironment;
}

/**
 * The API's request body from the flags: blueprint, inputs (-i, and a HOT template's -p), its
 * environment files (-e) and Cloudify's update parameters, as the local command reads them.
 */
function updateRequest(flags: RemoteUpdateFlags): UpdateRequest | undefined {
  const problems = new Diagnostics();
  const inputs = givenInputs(flags, problems) as Record<string, Json> | undefined;
  if (!problems.ok) {
    printProblems(problems, flags.json === true);
    process.exitCode = EXIT.badInput;
    return undefined;
  }
  const environment = sentEnvironment(flags);
  if (environment === null) return undefined;
  return {
    body: {
      ...(flags.blueprintId !== undefined ? { blueprintId: flags.blueprintId } : {}),
      ...(inputs ? { inputs } : {}),
      ...(environment ? { environment: environment.environment as unknown as Json } : {}),
      parameters: updateParameters(flags),
      ...(flags.existing ? { existing: true } : {}),
    },
    ...(environment ? { environment } : {}),
  };
}

/**
 * Sends an update's request; the server's problems with the blueprint and inputs are printed as
 * the local command prints its own (exit 2), and undefined answered.
 */
async function sendUpdate<T>(
  client: ApiClient,
  path: string,
  request: UpdateRequest,
  json: boolean | undefined,
): Promise<T | undefined> {
  try {
    return await client.request<T>('POST', path, request.body);
  } catch (error) {
    if (
      error instanceof ApiRefusal &&
      printServerProblems(error, json === true, { environment: request.environment })
    )
      return undefined;
    throw error;
  }
}

/** `weft plan -d DEP` with a server: the server's plan, printed as the local one (saved with --out). */
export async function remoteUpdatePlan(client: ApiClient, flags: RemoteUpdateFlags): Promise<void> {
  const deploymentId = deploymentOf(flags, 'plan an update of');
  const request = updateRequest(flags);
  if (!request) return;
  if (flags.out) request.body.save = true;
  const answer = await sendUpdate<UpdatePlanDocument & { saved?: SavedUpdatePlan }>(
    client,
    `/deployments/${encodeURIComponent(deploymentId)}/update-plan`,
    request,
    flags.json,
  );
  if (!answer) return;
  const { saved, ...document } = answer;
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
  refuseExistingWith(flags.blueprintId, flags);
  if (flags.preview) return remoteUpdatePlan(client, flags);
  const deploymentId = deploymentOf(flags, 'update');
  const saved = givenSavedPlan(flags, flags.blueprintId);
  refuseRefreshInputs(flags, flags.blueprintId, saved);
  const request = saved === undefined ? updateRequest(flags) : { body: { plan: saved as Json } };
  if (!request) return;
  if (flags.refresh) {
    // A suspended stack is refused before its check runs, as locally: once checked, its last
    // action is the check's, and the server would no longer see it suspended.
    const { stackStatus } = await client.get<{ stackStatus?: string }>(
      `/deployments/${encodeURIComponent(deploymentId)}`,
    );
    if (stackStatus !== undefined) refuseSuspendedStack(deploymentId, stackStatus);
    const { remoteCheckDeployment } = await import('./check.js');
    const { report } = await remoteCheckDeployment(client, deploymentId, flags);
    request.body.refresh = refreshTargets(report, flags.json);
  }
  const started = await sendUpdate<ExecutionRecord>(
    client,
    `/deployments/${encodeURIComponent(deploymentId)}/updates`,
    request,
    flags.json,
  );
  if (!started) return;
  inform(
    `Updating deployment '${deploymentId}' on ${client.server.url}${flags.blueprintId ? ` to blueprint '${flags.blueprintId}'` : saved !== undefined ? ` to the plan saved in ${flags.plan}` : ''}`,
    flags.json,
  );
  const result = await followExecution(client, started, flags);
  // As locally (Heat's stack cancel): a HOT stack whose update is cancelled rolls back, unless the
  // cancel asked not to.
  const cancelledStack =
    result.status === 'cancelled' &&
    result.cancelRequest?.rollback !== false &&
    (await client.get<{ stackStatus?: string }>(`/deployments/${encodeURIComponent(deploymentId)}`))
      .stackStatus !== undefined;
  if (
    result.status !== 'terminated' &&
    (flags.rollbackOnFailure || cancelledStack) &&
    process.exitCode !== 130
  ) {
    inform(
      `The update ${result.status === 'cancelled' ? 'was cancelled' : 'failed'}: rolling deployment '${deploymentId}' back to its previous version`,
      flags.json,
    );
    await remoteRollback(client, deploymentId, executionParameters(flags), flags);
    // The update failed, whatever the rollback did.
    if (process.exitCode === EXIT.ok) process.exitCode = EXIT.failed;
    return;
  }
  await reportRemoteUpdate(client, deploymentId, result, flags);
}

export async function reportRemoteUpdate(
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

/**
 * `weft exec update` with a server: the deployment update with the workflow's parameters as the
 * local command takes them. `blueprint` names a blueprint stored on the server, as -b does for
 * `weft update` (a path on this machine is refused with the way to store it); without it, the
 * deployment's own (an inputs-only update).
 */
export async function remoteExecUpdate(
  client: ApiClient,
  deploymentId: string,
  params: Record<string, Json>,
  flags: RemoteRunFlags,
): Promise<void> {
  const { blueprint, inputs, parameters } = updateWorkflowParameters(params);
  if (blueprint !== undefined && existsSync(blueprint) && !(await isStored(client, blueprint)))
    throw new UsageError(
      `with a server, weft exec update takes a blueprint stored on it, not a path: weft blueprints upload ${blueprint} --id ID, then weft exec update -d ${deploymentId} -p blueprint=ID`,
    );
  const started = await sendUpdate<ExecutionRecord>(
    client,
    `/deployments/${encodeURIComponent(deploymentId)}/updates`,
    {
      body: {
        ...(blueprint !== undefined ? { blueprintId: blueprint } : {}),
        ...(inputs ? { inputs } : {}),
        parameters,
      },
    },
    flags.json,
  );
  if (!started) return;
  inform(
    `Updating deployment '${deploymentId}' on ${client.server.url}${blueprint !== undefined ? ` to blueprint '${blueprint}'` : ''}`,
    flags.json,
  );
  await reportRemoteUpdate(client, deploymentId, await followExecution(client, started, flags), flags);
}

/** Whether the server stores a blueprint of this name. */
async function isStored(client: ApiClient, name: string): Promise<boolean> {
  try {
    await client.get(`/blueprints/${encodeURIComponent(name)}`);
    return true;
  } catch (error) {
    // 400: not a name the server could store a blueprint under.
    if (error instanceof ApiRefusal && (error.status === 404 || error.status === 400)) return false;
    throw error;
  }
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
