/** What is stored on a server, shown as the local commands show it: outputs, instances, deployments, blueprints, plugins. */
import type { ExecutionRecord, Json } from '@weft/engine';
import { type ListedInstance, printInstances } from '../commands/instances-view.js';
import { confirm } from '../confirm.js';
import { EXIT, printJson, UsageError } from '../output.js';
import { type ApiClient, ApiRefusal } from './client.js';
import { remoteDeploymentFor } from './run.js';

type Page<T> = { items: T[]; total: number };

const print = (json: boolean | undefined, data: object, text: () => string) => {
  if (json) printJson(data);
  else process.stdout.write(text());
};

export async function remoteOutputs(
  client: ApiClient,
  given: string | undefined,
  name: string | undefined,
  flags: { json?: boolean; raw?: boolean },
): Promise<void> {
  const id = await remoteDeploymentFor(client, given);
  const { status } = await client.get<{ status: string }>(`/deployments/${encodeURIComponent(id)}`);
  const values = await client.get<{ outputs: Record<string, Json>; capabilities: Record<string, Json> }>(
    `/deployments/${encodeURIComponent(id)}/outputs`,
  );
  if (status === 'uninstalled' || status === 'created') {
    const why = `deployment '${id}' is ${status === 'created' ? 'not installed yet' : 'uninstalled'}: its outputs have no values (weft install gives them)`;
    if (name !== undefined) throw new UsageError(why);
    print(
      flags.json,
      { deployment: id, status, outputs: {}, capabilities: {} },
      () => `${why[0]!.toUpperCase()}${why.slice(1)}\n`,
    );
    return;
  }
  if (name !== undefined) {
    const found = Object.hasOwn(values.outputs, name)
      ? values.outputs[name]
      : Object.hasOwn(values.capabilities, name)
        ? values.capabilities[name]
        : undefined;
    if (found === undefined) throw new UsageError(`deployment '${id}' has no output or capability '${name}'`);
    if (flags.json) printJson({ deployment: id, name, value: found });
    else process.stdout.write(`${flags.raw && typeof found === 'string' ? found : JSON.stringify(found)}\n`);
    return;
  }
  const { outputsText } = await import('../commands/outputs.js');
  print(
    flags.json,
    { deployment: id, status, ...values },
    () => outputsText(values) || `Deployment '${id}' has no outputs or capabilities\n`,
  );
}

export async function remoteInstancesCommand(
  client: ApiClient,
  given: string | undefined,
  json: boolean | undefined,
): Promise<void> {
  const id = await remoteDeploymentFor(client, given);
  const path = encodeURIComponent(id);
  const [deployment, instances] = await Promise.all([
    client.get<{ stackStatus?: string; nodes: { id: string; type: string }[] }>(`/deployments/${path}`),
    client.get<Page<ListedInstance>>(`/node-instances?deploymentId=${path}&size=1000`),
  ]);
  // A HOT stack's: the server lists executions newest first.
  const stack =
    deployment.stackStatus !== undefined
      ? {
          executions: (
            await client.get<Page<ExecutionRecord>>(`/executions?deploymentId=${path}&size=1000`)
          ).items.reverse(),
          typeOf: (node: string) => deployment.nodes.find((n) => n.id === node)?.type,
        }
      : undefined;
  printInstances(json, id, instances.items, stack);
}

interface DeploymentSummaryView {
  id: string;
  status: string;
  blueprintId: string | null;
  instanceStates: Record<string, number>;
  lastExecution: { workflow: string; status: string; createdAt: string; endedAt: string | null } | null;
}

export async function remoteDeployments(
  client: ApiClient,
  json: boolean | undefined,
  lines: (rows: string[][]) => string,
): Promise<void> {
  const all = (await client.get<Page<DeploymentSummaryView>>('/deployments?size=1000')).items;
  print(json, { deployments: all }, () =>
    all.length === 0
      ? `No deployments on ${client.server.url} yet (weft install BLUEPRINT creates one)\n`
      : lines(
          all.map((d) => {
            const e = d.lastExecution;
            return [
              d.id,
              d.status,
              d.blueprintId ?? '-',
              e ? `${e.workflow} ${e.status} ${e.endedAt ?? e.createdAt}` : '-',
            ];
          }),
        ),
  );
}

export async function remoteDeleteDeployment(
  client: ApiClient,
  id: string,
  flags: { force?: boolean; yes?: boolean; json?: boolean },
): Promise<void> {
  const path = `/deployments/${encodeURIComponent(id)}`;
  await client.get(path);
  if (
    !flags.yes &&
    !(await confirm(`Delete deployment '${id}' on ${client.server.url} and everything stored for it?`))
  ) {
    process.stderr.write('Nothing deleted\n');
    process.exitCode = EXIT.failed;
    return;
  }
  await client.request('DELETE', `${path}${flags.force ? '?force=true' : ''}`);
  print(flags.json, { deleted: id }, () => `Deployment '${id}' deleted\n`);
}

interface BlueprintSummaryView {
  id: string;
  mainFile: string;
  createdAt: string;
  createdBy: string;
  description: string | null;
}

export async function remoteBlueprints(client: ApiClient, json: boolean | undefined): Promise<void> {
  const all = await client.get<BlueprintSummaryView[]>('/blueprints');
  print(json, { blueprints: all }, () =>
    all.length === 0
      ? `No blueprints on ${client.server.url} yet (weft blueprints upload DIR)\n`
      : all.map((b) => `${b.id}  ${b.mainFile}  ${b.createdAt} by ${b.createdBy}\n`).join(''),
  );
}

export async function remoteDeleteBlueprint(client: ApiClient, id: string, json: boolean | undefined) {
  await client.request('DELETE', `/blueprints/${encodeURIComponent(id)}`).catch((error: unknown) => {
    if (error instanceof ApiRefusal && error.status === 404)
      throw new UsageError(`no blueprint '${id}' on ${client.server.url}`);
    throw error;
  });
  print(json, { deleted: id }, () => `Blueprint '${id}' deleted\n`);
}

export interface PluginView {
  name: string;
  version: string | null;
  format: string;
  source: 'uploaded' | 'directory';
  uploadedBy: string | null;
  problems: { message: string }[];
}

export async function remotePlugins(client: ApiClient, json: boolean | undefined): Promise<void> {
  const all = await client.get<PluginView[]>('/plugins');
  print(json, { plugins: all }, () =>
    all.length === 0
      ? `No plugins on ${client.server.url}\n`
      : all
          .map(
            (p) =>
              `${p.name}  ${p.version ?? '-'}  ${p.source === 'uploaded' ? `uploaded by ${p.uploadedBy}` : "in the server's plugin directories"}${p.problems.length ? `  (${p.problems.length} problems)` : ''}\n`,
          )
          .join(''),
  );
}
