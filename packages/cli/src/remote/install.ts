/**
 * `weft install` on a server: the blueprint's directory is uploaded (as tar.gz; the server checks
 * it as `weft validate` does), the deployment created from it with the inputs, and its install
 * started and followed as a local one is. A deployment that exists is continued, or left as it is
 * when installed, when the blueprint and inputs are what it was created from (else refused).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import {
  type DeploymentChanges,
  Diagnostics,
  type ExecutionRecord,
  type Json,
  type Problem,
} from '@weft/engine';
import { givenInputs } from '../commands/common.js';
import { installRefusal } from '../commands/install-refusal.js';
import type { AdoptData } from '../commands/stack.js';
import { EXIT, inform, printJson, printProblems, UsageError } from '../output.js';
import { type ApiClient, ApiRefusal } from './client.js';
import { finishRemote } from './commands.js';
import { ENVIRONMENT_DIR, type SentEnvironment, sentEnvironment } from './environment.js';
import { printServerProblems } from './problems.js';
import { followExecution, remoteExecute } from './run.js';

/** Directories never uploaded with a blueprint: state, dependencies, version control. */
const SKIPPED = new Set(['.weft', 'node_modules', '.git']);

export interface RemoteInstallFlags {
  deploymentId?: string;
  input?: string[];
  /** A HOT template's parameters (-p) and environment files (-e), as the local command takes them. */
  parameter?: string[];
  environment?: string[];
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

/** Files under `dir` (relative paths) as a tar.gz, in memory. */
async function tarOf(dir: string, files: string[]): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  // Loaded here: only an install through a server sends an archive.
  const { create: createTar } = await import('tar');
  const stream = createTar({ gzip: true, cwd: dir, portable: true }, files);
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * The blueprint's directory as a tar.gz, in memory, with the environment's files (-e) under
 * ENVIRONMENT_DIR when there are some; and the query naming them for the upload.
 */
async function archive(
  dir: string,
  environment?: SentEnvironment,
): Promise<{ bytes: Uint8Array; query: string }> {
  const files = blueprintFiles(dir);
  if (!environment) return { bytes: await tarOf(dir, files), query: '' };
  const staged = mkdtempSync(join(tmpdir(), 'weft-upload-'));
  try {
    for (const file of files) {
      mkdirSync(dirname(join(staged, file)), { recursive: true });
      copyFileSync(join(dir, file), join(staged, file));
    }
    const added = Object.entries(environment.environment.files).map(([path, content]) => {
      const file = `${ENVIRONMENT_DIR}/${path}`;
      mkdirSync(dirname(join(staged, file)), { recursive: true });
      writeFileSync(join(staged, file), Buffer.from(content, 'base64'));
      return file;
    });
    const query = environment.environment.order
      .map((path) => `&environment=${encodeURIComponent(`${ENVIRONMENT_DIR}/${path}`)}`)
      .join('');
    return { bytes: await tarOf(staged, [...files, ...added]), query };
  } finally {
    rmSync(staged, { recursive: true, force: true });
  }
}

/**
 * With `adopt` (weft install --adopt, its file read and checked), the deployment is created to
 * take over the resources of the abandon data (PUT /deployments/{id} with adopt): a new one only.
 */
export async function remoteInstall(
  client: ApiClient,
  blueprint: string,
  flags: RemoteInstallFlags,
  adopt?: AdoptData,
): Promise<void> {
  const mainFile = resolve(blueprint);
  const dir = dirname(mainFile);
  const deploymentId = flags.deploymentId ?? basename(dir).replace(/[^A-Za-z0-9_.-]+/g, '-');
  const problems = new Diagnostics();
  const inputs = givenInputs(flags, problems) as Record<string, Json> | undefined;
  if (!problems.ok) {
    printProblems(problems, flags.json === true);
    process.exitCode = EXIT.badInput;
    return;
  }
  const environment = sentEnvironment(flags);
  if (environment === null) return;
  let deployment = await client
    .get<DeploymentView>(`/deployments/${encodeURIComponent(deploymentId)}`)
    .catch((error: unknown) => {
      if (error instanceof ApiRefusal && error.status === 404) return undefined;
      throw error;
    });
  if (deployment && adopt)
    throw new UsageError(
      `deployment '${deploymentId}' exists; --adopt creates a new stack (give it another id with -d)`,
    );
  if (!deployment) {
    try {
      await upload(client, deploymentId, dir, relative(dir, mainFile), environment);
      await client.request('PUT', `/deployments/${encodeURIComponent(deploymentId)}`, {
        blueprintId: deploymentId,
        inputs: inputs ?? {},
        ...(environment ? { environment: environment.environment } : {}),
        ...(adopt ? { adopt: adopt.document } : {}),
      });
    } catch (error) {
      if (
        error instanceof ApiRefusal &&
        printServerProblems(error, flags.json === true, { blueprintDir: dir, environment })
      )
        return;
      throw error;
    }
    inform(`Deployment '${deploymentId}' created on ${client.server.url}`, flags.json);
    deployment = await client.get<DeploymentView>(`/deployments/${encodeURIComponent(deploymentId)}`);
  } else if (
    !(await requireSameBlueprint(client, deploymentId, blueprint, {
      dir,
      mainFile: relative(dir, mainFile),
      inputs,
      environment,
      json: flags.json,
    }))
  )
    return;
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
 * `weft install` on a deployment that exists goes on only when the blueprint (and the inputs, when
 * given) are what it was created from, as locally: the server compares the blueprint's directory,
 * sent with the request as a tar.gz, and stores nothing of it (a CLI stopped meanwhile leaves
 * nothing behind). A change is refused with what differs; false when the server's problems were
 * printed.
 */
async function requireSameBlueprint(
  client: ApiClient,
  deploymentId: string,
  blueprint: string,
  given: {
    dir: string;
    mainFile: string;
    inputs: Record<string, Json> | undefined;
    environment: SentEnvironment | undefined;
    json: boolean | undefined;
  },
): Promise<boolean> {
  const { dir, inputs, environment } = given;
  try {
    // As the upload that made the deployment's blueprint sent it (the environment files in it).
    const { bytes } = await archive(dir, environment);
    await client.request('POST', `/deployments/${encodeURIComponent(deploymentId)}/compare`, {
      archive: Buffer.from(bytes).toString('base64'),
      mainFile: given.mainFile,
      ...(environment
        ? { environmentFiles: environment.environment.order.map((path) => `${ENVIRONMENT_DIR}/${path}`) }
        : {}),
      ...(inputs ? { inputs } : {}),
      ...(environment ? { environment: environment.environment } : {}),
    });
    return true;
  } catch (error) {
    if (!(error instanceof ApiRefusal)) throw error;
    if (error.status === 409 && isChanges(error.body.details))
      throw installRefusal(
        deploymentId,
        error.body.details,
        `weft blueprints upload ${blueprint} --id ID, then weft update -b ID -d ${deploymentId} (weft plan -b ID -d ${deploymentId} shows what it would do)`,
      );
    if (printServerProblems(error, given.json === true, { blueprintDir: dir, environment })) return false;
    throw error;
  }
}

/** Whether a refusal's details are what differs from what a deployment was created from. */
function isChanges(details: unknown): details is DeploymentChanges {
  const changes = details as Partial<DeploymentChanges> | null;
  return (
    typeof changes === 'object' &&
    changes !== null &&
    typeof changes.files === 'object' &&
    typeof changes.nodes === 'object' &&
    Array.isArray(changes.inputs)
  );
}

/**
 * Uploads the blueprint under the deployment's id. A blueprint of that id that no deployment uses
 * (an earlier attempt that stopped there) is replaced.
 */
async function upload(
  client: ApiClient,
  id: string,
  dir: string,
  mainFile: string,
  environment: SentEnvironment | undefined,
): Promise<void> {
  const { bytes, query } = await archive(dir, environment);
  const path = `/blueprints/${encodeURIComponent(id)}?main_file=${encodeURIComponent(mainFile)}${query}`;
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
  flags: { id?: string; environment?: string[]; json?: boolean },
): Promise<void> {
  const file = statSync(blueprint, { throwIfNoEntry: false })?.isDirectory()
    ? join(blueprint, 'blueprint.yaml')
    : resolve(blueprint);
  const dir = dirname(file);
  const name = flags.id ?? basename(dir).replace(/[^A-Za-z0-9_.-]+/g, '-');
  const environment = sentEnvironment(flags);
  if (environment === null) return;
  const { bytes, query } = await archive(dir, environment);
  try {
    const uploaded = await client.upload<{ id: string; warnings: Problem[] }>(
      'PUT',
      `/blueprints/${encodeURIComponent(name)}?main_file=${encodeURIComponent(relative(dir, file))}${query}`,
      'application/gzip',
      bytes,
    );
    if (flags.json) printJson({ blueprint: uploaded });
    else process.stdout.write(`Blueprint '${uploaded.id}' uploaded to ${client.server.url}\n`);
  } catch (error) {
    if (
      error instanceof ApiRefusal &&
      printServerProblems(error, flags.json === true, { blueprintDir: dir, environment })
    )
      return;
    throw error;
  }
}
