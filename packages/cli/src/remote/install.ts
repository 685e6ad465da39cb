/**
 * `weft install` on a server: the blueprint's directory is uploaded (as tar.gz; the server checks
 * it as `weft validate` does), the deployment created from it with the inputs, and its install
 * started and followed as a local one is. A deployment that exists is continued, or left as it is
 * when installed.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { Diagnostics, type ExecutionRecord, type Json, type Problem } from '@weft/engine';
import { create as createTar } from 'tar';
import { readInputs } from '../inputs.js';
import { EXIT, inform, printJson, printProblems } from '../output.js';
import { type ApiClient, ApiRefusal } from './client.js';
import { finishRemote } from './commands.js';
import { followExecution, remoteExecute } from './run.js';

/** Directories never uploaded with a blueprint: state, dependencies, version control. */
const SKIPPED = new Set(['.weft', 'node_modules', '.git']);

export interface RemoteInstallFlags {
  deploymentId?: string;
  input?: string[];
  json?: boolean;
  taskRetries?: string;
  taskRetryInterval?: string;
}

interface DeploymentView {
  id: string;
  status: string;
  lastExecution: { id: string; workflow: string; status: string } | null;
}

/** Every file under `dir` but the skipped directories, as paths relative to it. */
function blueprintFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (SKIPPED.has(entry.name)) continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(relative(dir, path));
    }
  };
  walk(dir);
  return files.sort();
}

/** The blueprint's directory as a tar.gz, in memory. */
async function archive(dir: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  const stream = createTar({ gzip: true, cwd: dir, portable: true }, blueprintFiles(dir));
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The server's problems with the blueprint, printed as local ones are (paths on this machine), exit 2. */
function printServerProblems(error: ApiRefusal, blueprintDir: string, json: boolean): boolean {
  const list = error.body.details;
  if (!Array.isArray(list) || list.length === 0) return false;
  const problems = new Diagnostics();
  for (const p of list as {
    code: string;
    file?: string;
    line?: number;
    column?: number;
    path: string;
    message: string;
  }[]) {
    const problem: Problem = { code: p.code, path: p.path, message: p.message };
    if (p.file) Object.assign(problem, { file: join(blueprintDir, p.file), line: p.line, col: p.column });
    problems.problems.push(problem);
  }
  printProblems(problems, json);
  process.exitCode = EXIT.badInput;
  return true;
}

export async function remoteInstall(
  client: ApiClient,
  blueprint: string,
  flags: RemoteInstallFlags,
): Promise<void> {
  const mainFile = resolve(blueprint);
  const dir = dirname(mainFile);
  const deploymentId = flags.deploymentId ?? basename(dir).replace(/[^A-Za-z0-9_.-]+/g, '-');
  const problems = new Diagnostics();
  const inputs = flags.input?.length ? (readInputs(flags.input, problems) as Record<string, Json>) : {};
  if (!problems.ok) {
    printProblems(problems, flags.json === true);
    process.exitCode = EXIT.badInput;
    return;
  }
  let deployment = await client
    .get<DeploymentView>(`/deployments/${encodeURIComponent(deploymentId)}`)
    .catch((error: unknown) => {
      if (error instanceof ApiRefusal && error.status === 404) return undefined;
      throw error;
    });
  if (!deployment) {
    try {
      await upload(client, deploymentId, dir, relative(dir, mainFile));
      await client.request('PUT', `/deployments/${encodeURIComponent(deploymentId)}`, {
        blueprintId: deploymentId,
        inputs,
      });
    } catch (error) {
      if (
        error instanceof ApiRefusal &&
        error.status === 422 &&
        printServerProblems(error, dir, flags.json === true)
      )
        return;
      throw error;
    }
    inform(`Deployment '${deploymentId}' created on ${client.server.url}`, flags.json);
    deployment = await client.get<DeploymentView>(`/deployments/${encodeURIComponent(deploymentId)}`);
  }
  const last = deployment.lastExecution;
  if (deployment.status === 'installed' && last?.workflow === 'install') {
    inform(
      `Deployment '${deploymentId}' is already installed (install ${last.id}); nothing to run. To run its install workflow again: weft exec install -d ${deploymentId}`,
      flags.json,
    );
    await printRemoteOutputs(client, deploymentId, flags.json);
    finishRemote(await client.get<ExecutionRecord>(`/executions/${last.id}`), flags.json);
    return;
  }
  const parameters: Record<string, Json> = {};
  if (flags.taskRetries !== undefined) parameters.task_retries = Number(flags.taskRetries);
  if (flags.taskRetryInterval !== undefined) parameters.task_retry_interval = Number(flags.taskRetryInterval);
  // An install that stopped (the server went down, a failure) is continued rather than started anew.
  const result =
    last?.workflow === 'install' && ['failed', 'cancelled', 'interrupted'].includes(last.status)
      ? await followExecution(
          client,
          await client.request<ExecutionRecord>('POST', `/executions/${last.id}/resume`, {}),
          flags,
        )
      : await remoteExecute(client, deploymentId, 'install', parameters, flags);
  if (result.status === 'terminated') await printRemoteOutputs(client, deploymentId, flags.json);
  finishRemote(result, flags.json);
}

/**
 * Uploads the blueprint under the deployment's id. A blueprint of that id that no deployment uses
 * (an earlier attempt that stopped there) is replaced.
 */
async function upload(client: ApiClient, id: string, dir: string, mainFile: string): Promise<void> {
  const path = `/blueprints/${encodeURIComponent(id)}?main_file=${encodeURIComponent(mainFile)}`;
  const bytes = await archive(dir);
  try {
    await client.upload('PUT', path, 'application/gzip', bytes);
  } catch (error) {
    if (!(error instanceof ApiRefusal) || error.status !== 409) throw error;
    await client.request('DELETE', `/blueprints/${encodeURIComponent(id)}`);
    await client.upload('PUT', path, 'application/gzip', bytes);
  }
}

export async function printRemoteOutputs(client: ApiClient, deploymentId: string, json: boolean | undefined) {
  if (json) return;
  const { outputs, capabilities } = await client.get<{
    outputs: Record<string, Json>;
    capabilities: Record<string, Json>;
  }>(`/deployments/${encodeURIComponent(deploymentId)}/outputs`);
  const { outputsText } = await import('../commands/outputs.js');
  process.stdout.write(outputsText({ outputs, capabilities }));
}

/** `weft blueprints upload`: the directory (or the file's directory) under an id. */
export async function uploadBlueprint(
  client: ApiClient,
  blueprint: string,
  id: string | undefined,
  json: boolean | undefined,
): Promise<void> {
  const file = statSync(blueprint, { throwIfNoEntry: false })?.isDirectory()
    ? join(blueprint, 'blueprint.yaml')
    : resolve(blueprint);
  const dir = dirname(file);
  const name = id ?? basename(dir).replace(/[^A-Za-z0-9_.-]+/g, '-');
  try {
    const uploaded = await client.upload<{ id: string; warnings: Problem[] }>(
      'PUT',
      `/blueprints/${encodeURIComponent(name)}?main_file=${encodeURIComponent(relative(dir, file))}`,
      'application/gzip',
      await archive(dir),
    );
    if (json) printJson({ blueprint: uploaded });
    else process.stdout.write(`Blueprint '${uploaded.id}' uploaded to ${client.server.url}\n`);
  } catch (error) {
    if (error instanceof ApiRefusal && error.status === 422 && printServerProblems(error, dir, json === true))
      return;
    throw error;
  }
}
