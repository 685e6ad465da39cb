/** The bodies of the commands that act on a server instead of local state (see profiles.ts). */
import { type EventRecord, type ExecutionRecord, isLive, type Json } from '@weft/engine';
import { confirm } from '../confirm.js';
import { EXIT, jsonLine, printJson, UsageError } from '../output.js';
import { eventLine } from '../render.js';
import { ApiClient } from './client.js';
import { type Server, serverFor } from './profiles.js';
import {
  followExecution,
  type RemoteRunFlags,
  remoteDeploymentFor,
  remoteExecute,
  remoteInstances,
} from './run.js';

type Page<T> = { items: T[]; total: number };

const ACTIVE = ['pending', 'started', 'cancelling', 'force_cancelling'];

/** Runs `remote` with a client when a server is in use for these flags, else `local`. */
export async function remoteOr(
  flags: { stateDir?: string; db?: string },
  remote: (client: ApiClient) => Promise<void>,
  local: () => Promise<void>,
): Promise<void> {
  const server: Server | undefined = serverFor(flags);
  return server ? remote(new ApiClient(server)) : local();
}

/** The exit code of a finished execution, as `finish` sets it for local ones. */
export function finishRemote(execution: ExecutionRecord, json: boolean | undefined): void {
  if (json) printJson({ execution });
  if (process.exitCode === 130) return;
  process.exitCode = execution.status === 'terminated' ? EXIT.ok : EXIT.failed;
}

export async function remoteUninstall(
  client: ApiClient,
  given: string | undefined,
  params: Record<string, Json>,
  flags: RemoteRunFlags & { yes?: boolean },
): Promise<void> {
  const deploymentId = await remoteDeploymentFor(client, given);
  const live = (await remoteInstances(client, deploymentId)).filter((i) => isLive(i.state as never)).length;
  const question = `Uninstall deployment '${deploymentId}' on ${client.server.url} (${live} live ${live === 1 ? 'instance' : 'instances'})?`;
  if (!flags.yes && !(await confirm(question))) {
    process.stderr.write('Nothing uninstalled\n');
    process.exitCode = EXIT.failed;
    return;
  }
  finishRemote(await remoteExecute(client, deploymentId, 'uninstall', params, flags), flags.json);
}

export async function remoteExec(
  client: ApiClient,
  given: string | undefined,
  workflow: string,
  params: Record<string, Json>,
  flags: RemoteRunFlags,
  allowCustomParameters: boolean,
): Promise<void> {
  const deploymentId = await remoteDeploymentFor(client, given);
  finishRemote(
    await remoteExecute(client, deploymentId, workflow, params, flags, allowCustomParameters),
    flags.json,
  );
}

/** The execution a resume or cancel is about: the one named, else the latest of the deployment that `pick` accepts. */
async function executionFor(
  client: ApiClient,
  executionId: string | undefined,
  given: string | undefined,
  pick: (e: ExecutionRecord) => boolean,
  none: string,
): Promise<ExecutionRecord> {
  if (executionId) return client.get<ExecutionRecord>(`/executions/${encodeURIComponent(executionId)}`);
  const deploymentId = await remoteDeploymentFor(client, given);
  const found = (
    await client.get<Page<ExecutionRecord>>(
      `/executions?deploymentId=${encodeURIComponent(deploymentId)}&size=1000`,
    )
  ).items.find(pick);
  if (!found) throw new UsageError(none);
  return found;
}

export async function remoteResume(
  client: ApiClient,
  executionId: string | undefined,
  given: string | undefined,
  flags: RemoteRunFlags & { retryInFlight?: boolean },
): Promise<void> {
  const execution = await executionFor(
    client,
    executionId,
    given,
    (e) => e.status !== 'terminated',
    'there is no unfinished execution to resume',
  );
  const resumed = await client.request<ExecutionRecord>('POST', `/executions/${execution.id}/resume`, {
    retryInFlight: flags.retryInFlight === true,
  });
  finishRemote(await followExecution(client, resumed, flags), flags.json);
}

export async function remoteCancel(
  client: ApiClient,
  executionId: string | undefined,
  given: string | undefined,
  flags: { force?: boolean; rollback?: boolean; json?: boolean },
): Promise<void> {
  const execution = await executionFor(
    client,
    executionId,
    given,
    (e) => ACTIVE.includes(e.status),
    'there is no running execution to cancel',
  );
  const after = await client.request<ExecutionRecord & { running: boolean }>(
    'POST',
    `/executions/${execution.id}/cancel`,
    { force: flags.force === true, ...(flags.rollback === false && { rollback: false }) },
  );
  if (flags.json) printJson({ execution: after.id, status: after.status, running: after.running });
  else
    process.stdout.write(
      after.running
        ? cancellingLine(after, flags)
        : `Execution ${after.id} (${after.workflow}) cancelled; nothing was running it\n`,
    );
}

/** What `weft cancel` says of an execution that a process is running, locally or on a server. */
export function cancellingLine(
  execution: { id: string; workflow: string },
  flags: { force?: boolean; rollback?: boolean },
): string {
  const how = flags.force
    ? ', stopping running operations'
    : flags.rollback === false
      ? ', without rollback: what is under way finishes'
      : '';
  return `Cancelling execution ${execution.id} (${execution.workflow})${how}\n`;
}

export async function remoteExecutions(
  client: ApiClient,
  deploymentId: string | undefined,
  json: boolean | undefined,
  line: (e: ExecutionRecord, withDeployment: boolean) => string,
): Promise<void> {
  const query = deploymentId ? `deploymentId=${encodeURIComponent(deploymentId)}&` : '';
  // Oldest first, as the local list.
  const executions = (
    await client.get<Page<ExecutionRecord>>(`/executions?${query}size=1000`)
  ).items.reverse();
  if (json) printJson({ executions });
  else
    process.stdout.write(
      executions.length === 0
        ? `No executions${deploymentId ? ` of deployment '${deploymentId}'` : ''} yet\n`
        : executions.map((e) => line(e, !deploymentId)).join(''),
    );
}

export interface RemoteEventsFilter {
  executionId?: string;
  deploymentId?: string;
  level?: EventRecord['level'];
  node?: string;
  tail?: number;
  follow?: boolean;
  json?: boolean;
}

export async function remoteEvents(client: ApiClient, filter: RemoteEventsFilter): Promise<void> {
  const execution = await executionFor(
    client,
    filter.executionId,
    filter.deploymentId,
    () => true,
    filter.deploymentId
      ? `deployment '${filter.deploymentId}' has no executions yet`
      : 'there are no executions yet',
  );
  const params = new URLSearchParams({ executionId: execution.id });
  if (filter.level) params.set('level', filter.level);
  if (filter.node) params.set('node', filter.node);
  const emit = (event: EventRecord) =>
    process.stdout.write(filter.json ? jsonLine(event) : `${eventLine(event)}\n`);
  let after = 0;
  const stored: EventRecord[] = [];
  for (;;) {
    const page = await client.get<{ items: EventRecord[]; last: number }>(
      `/events?${params}&after=${after}&limit=10000`,
    );
    stored.push(...page.items);
    if (page.items.length < 10000) {
      after = page.last;
      break;
    }
    after = page.last;
  }
  for (const event of filter.tail === undefined
    ? stored
    : stored.slice(Math.max(0, stored.length - filter.tail)))
    emit(event);
  if (!filter.follow) return;
  params.set('after', String(after));
  await client.stream(`/events/stream?${params}`, (message) => {
    if (message.event === 'end') return true;
    emit(JSON.parse(message.data) as EventRecord);
    return undefined;
  });
}
