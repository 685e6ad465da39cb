/**
 * Executions on a server, as the CLI shows local ones: started through the API, followed live from
 * its event stream with the same progress view and lines, ended with the same report and exit code.
 * The execution runs on the server: Ctrl-C stops following it, not it.
 */
import type { EventRecord, ExecutionRecord, Json } from '@weft/engine';
import { inform, UsageError } from '../output.js';
import { progressReporter } from '../progress/reporter.js';
import type { TrackedInstance, TrackedTask } from '../progress/tracker.js';
import { failureReport } from '../render.js';
import type { ApiClient } from './client.js';

export interface RemoteRunFlags {
  json?: boolean;
}

type Page<T> = { items: T[]; total: number };

/** The deployment a command is about: -d, or the only one the tenant has. */
export async function remoteDeploymentFor(client: ApiClient, given: string | undefined): Promise<string> {
  if (given) return given;
  const all = await client.get<Page<{ id: string }>>('/deployments?size=2');
  if (all.total === 1) return all.items[0]!.id;
  if (all.total === 0)
    throw new UsageError(
      `there are no deployments on ${client.server.url} yet; run weft install BLUEPRINT first`,
    );
  throw new UsageError(`there are ${all.total} deployments on ${client.server.url}; choose one with -d`);
}

export async function remoteInstances(client: ApiClient, deploymentId: string): Promise<TrackedInstance[]> {
  return (
    await client.get<Page<TrackedInstance>>(
      `/node-instances?deploymentId=${encodeURIComponent(deploymentId)}&size=1000`,
    )
  ).items;
}

/** Starts a workflow on the server and follows it to its end. */
export async function remoteExecute(
  client: ApiClient,
  deploymentId: string,
  workflow: string,
  parameters: Record<string, Json>,
  flags: RemoteRunFlags,
  allowCustomParameters = false,
): Promise<ExecutionRecord> {
  const execution = await client.request<ExecutionRecord>('POST', '/executions', {
    deploymentId,
    workflowId: workflow,
    parameters,
    allowCustomParameters,
  });
  return followExecution(client, execution, flags);
}

/** Ctrl-C while following: the execution goes on on the server; say how to come back to it. */
function detachOnInterrupt(client: ApiClient, execution: ExecutionRecord, stop: () => void) {
  const onSignal = () => {
    process.stderr.write(
      `\nStopped following execution ${execution.id} (${execution.workflow}); it goes on on ${client.server.url}.\n  follow it again: weft events --follow -e ${execution.id}\n  cancel it: weft cancel ${execution.id}\n`,
    );
    process.exitCode = 130;
    stop();
  };
  process.once('SIGINT', onSignal);
  return () => process.off('SIGINT', onSignal);
}

/** Shows an execution's progress from the server's event stream until it ends; sets the exit code. */
export async function followExecution(
  client: ApiClient,
  execution: ExecutionRecord,
  flags: RemoteRunFlags,
): Promise<ExecutionRecord> {
  // The server took a HOT stack over (its update or delete while its create or update ran): said
  // as the local command says it, once it is done.
  const { tookOver } = execution as ExecutionRecord & { tookOver?: string };
  if (tookOver !== undefined)
    inform(
      execution.workflow === 'uninstall'
        ? `Stopped execution ${tookOver} of stack '${execution.deploymentId}' first, with its running operations`
        : `Stopped execution ${tookOver} of stack '${execution.deploymentId}' first: what was under way finished, nothing new started`,
      flags.json,
    );
  const [tasks, instances] = await Promise.all([
    client.get<TrackedTask[]>(`/executions/${execution.id}/tasks`),
    remoteInstances(client, execution.deploymentId),
  ]);
  const progress = await progressReporter(
    {
      nodes: [...new Set(instances.map((i) => i.node))],
      instances: () => remoteInstances(client, execution.deploymentId),
      operation: () => undefined,
    },
    execution,
    flags.json === true,
    tasks,
  );
  let detached = false;
  const logs: EventRecord[] = [];
  const abort = new AbortController();
  const detach = detachOnInterrupt(client, execution, () => {
    detached = true;
    abort.abort();
  });
  try {
    await client.stream(
      `/events/stream?executionId=${execution.id}`,
      (message) => {
        if (message.event === 'end') return true;
        const event = JSON.parse(message.data) as EventRecord;
        if (event.type === 'log') {
          logs.push(event);
          if (logs.length > 10) logs.shift();
        }
        progress.event(event);
        return undefined;
      },
      abort.signal,
    );
  } finally {
    detach();
    await progress.end();
  }
  const result = await client.get<ExecutionRecord>(`/executions/${execution.id}`);
  if (detached) return result;
  if (result.status !== 'terminated' && !flags.json)
    process.stderr.write(`${failureReport(result, progress.showsLogs ? [] : logs)}\n`);
  return result;
}
