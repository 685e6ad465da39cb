/**
 * `weft stack`: what Heat does to a stack as a whole besides running workflows on it. `abandon`
 * prints the stack's abandon data (Heat's Stack.prepare_abandon) and forgets the deployment
 * without deleting its resources; `weft install TEMPLATE --adopt FILE` takes them over again.
 * `template-versions` lists the template versions, as Heat's template version list.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import {
  ACTIVE_EXECUTION_STATUSES,
  abandonData,
  type DeploymentRecord,
  Diagnostics,
  flattenedResources,
  formatProblem,
  isMapping,
  type Json,
  locOf,
  modelOf,
  parseYaml,
  refuseSuspendedUpdate,
  type SnapshotRecord,
  type StackSnapshotAction,
  type Store,
  snapshotResources,
  snapshotStatus,
  snapshotView,
  startStackSnapshotExecution,
  templateVersions,
} from '@weft/engine';
import type { Command } from 'commander';
import { printJson, UsageError } from '../output.js';
import type { ApiClient } from '../remote/client.js';
import { remoteOr } from '../remote/commands.js';
import { deploymentFor, type State, type StateOptions, stateOptions, workDir } from '../state.js';
import { pluginDispatcher } from './dispatchers.js';
import {
  executionParameters,
  finish,
  type RunFlags,
  requirePlugins,
  runExecution,
  runOptions,
  withState,
} from './execution.js';
import { pluginDirOption } from './options.js';
import { reportUpdate, runUpdate } from './update.js';

type AbandonFlags = StateOptions & { deploymentId?: string; outputFile?: string };

type SnapshotFlags = StateOptions & RunFlags & { deploymentId?: string; json?: boolean };

/** The options of a stack command that runs resources' handlers (as an execution). */
const handlerOptions = (command: Command) =>
  pluginDirOption(
    command
      .option('--task-retries <N>', 'retries of a failing operation (-1: forever; default 5)')
      .option('--task-retry-interval <S>', 'seconds between retries (default 3)'),
  );

const deploymentOption = (command: Command) =>
  command.option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)');

export function stackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description(
      "Heat's whole-stack actions on a HOT deployment: abandon (and install --adopt), snapshots and restore, the template versions",
    );
  snapshotCommands(stack);
  stateOptions(
    stack
      .command('abandon')
      .description(
        "print the stack's abandon data (JSON) and forget the deployment, leaving its resources in place",
      )
      .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)')
      .option('-O, --output-file <FILE>', 'write the abandon data to FILE instead of printing it'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft stack abandon -d web > web.json\n  weft install template.yaml -d web --adopt web.json',
    )
    .action((flags: AbandonFlags) =>
      remoteStack(
        flags,
        (r, client) => r.remoteAbandon(client, flags),
        (state) => abandon(state.store, state.dir, flags),
      ),
    );
  stack
    .command('template-versions')
    .description(
      "list the template versions a stack can be made from, as Heat's template version list (each dated version, its release names as aliases)",
    )
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => {
      const versions = templateVersions();
      if (flags.json) printJson({ versions });
      else
        process.stdout.write(
          versions
            .map((v) => `${v.version}  ${v.type}${v.aliases.length > 0 ? `  ${v.aliases.join(', ')}` : ''}\n`)
            .join(''),
        );
    });
}

/** Runs a `weft stack` command on the server in use (its stack routes), or on local state. */
function remoteStack(
  flags: StateOptions,
  remote: (r: typeof import('../remote/stack.js'), client: ApiClient) => Promise<void>,
  body: (state: State) => Promise<void>,
): Promise<void> {
  return remoteOr(
    flags,
    async (client) => remote(await import('../remote/stack.js'), client),
    () => withState(flags, body),
  );
}

/** The deployment, refused unless it was made from a HOT template. */
export async function hotDeployment(store: Store, given: string | undefined): Promise<DeploymentRecord> {
  const id = await deploymentFor(store, given);
  const deployment = (await store.getDeployment(id))!;
  if (modelOf(deployment.model).blueprint.heatTemplateVersion === undefined)
    throw new UsageError(
      `deployment '${id}' is not a Heat stack (it was not made from a heat_template_version template)`,
    );
  return deployment;
}

async function abandon(store: Store, dir: string, flags: AbandonFlags): Promise<void> {
  const deployment = await hotDeployment(store, flags.deploymentId);
  const id = deployment.id;
  // As Heat, which abandons a stack under its lock: not while an action runs on it.
  await refuseActive(store, id, 'abandon');
  const data = await abandonData(store, deployment);
  // Written (or printed) before anything is forgotten, so that what adopts it is never lost.
  writeAbandonData(data, flags);
  await store.deleteDeployment(id);
  rmSync(join(workDir(dir), id), { recursive: true, force: true });
  if (flags.outputFile) process.stderr.write(`Stack '${id}' abandoned; its data is in ${flags.outputFile}\n`);
}

/**
 * Prints abandon data, or writes it to --output-file: Heat's shape as it is, without the
 * schemaVersion of weft's own JSON documents.
 */
export function writeAbandonData(data: Json, flags: { outputFile?: string }): void {
  const text = `${JSON.stringify(data, null, 2)}\n`;
  if (flags.outputFile) writeFileSync(flags.outputFile, text);
  else process.stdout.write(text);
}

/** What `weft install --adopt` reads of an abandon data file. */
export interface AdoptData {
  /** The resources, by node name (a member as `PARENT.MEMBER`). */
  resources: Record<string, Json>;
  /** The template the stack was abandoned with (Heat adopts the stack with it), if the data has one. */
  template?: Json;
  /** A problem with the template, as one line with its place in the file (`FILE:LINE:COL template: ...`). */
  templateProblem?: (message: string) => string;
  /** The stack's name in the data, if any. */
  name?: string;
  /** The data as the file holds it (what a server's adopt takes). */
  document: Record<string, Json>;
  /** The other files of the template (nested templates, get_file), by their path from its directory. */
  files?: Record<string, string>;
  /** The environment the stack was made with (parameters, parameter_defaults, resource_registry). */
  environment?: Record<string, Json>;
}

/**
 * The resources of an abandon data file, by name, and its template, for `weft install --adopt`
 * (Heat's adopt_stack_data): a problem with the file is one line with its place, exit 2.
 */
export function readAdoptFile(file: string): AdoptData {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the adopt file ${file}: ${(error as Error).message}`);
  }
  const problems = new Diagnostics();
  const doc = parseYaml(text, file, problems);
  if (problems.ok && !isMapping(doc))
    problems.add(
      'bad-value',
      locOf(doc),
      '',
      'abandon data must be a mapping (what weft stack abandon prints)',
    );
  else if (problems.ok && isMapping(doc) && !isMapping(doc.resources))
    problems.add(
      'bad-value',
      doc.resources === undefined ? locOf(doc) : locOf(doc, 'resources'),
      'resources',
      'abandon data must have a mapping of resources, by name (what weft stack abandon prints)',
    );
  else if (
    problems.ok &&
    isMapping(doc) &&
    doc.template !== undefined &&
    doc.template !== null &&
    !isMapping(doc.template)
  )
    problems.add(
      'bad-value',
      locOf(doc, 'template'),
      'template',
      "the template of abandon data must be a mapping (the stack's template)",
    );
  else if (problems.ok && isMapping(doc) && doc.files !== undefined && doc.files !== null) {
    // Written beside the template when the stack is adopted with it: only within its directory.
    const files = doc.files;
    if (!isMapping(files))
      problems.add(
        'bad-value',
        locOf(doc, 'files'),
        'files',
        "the files of abandon data must be a mapping of paths to their contents (the template's files)",
      );
    else
      for (const [path, content] of Object.entries(files))
        if (typeof content !== 'string' || isAbsolute(path) || normalize(path).split(sep).includes('..'))
          problems.add(
            'bad-value',
            locOf(files, path),
            `files.${path}`,
            typeof content !== 'string'
              ? 'a file of abandon data must be its content, a string'
              : "a file of abandon data must be a path within the template's directory",
          );
  }
  if (
    problems.ok &&
    isMapping(doc) &&
    doc.environment !== undefined &&
    doc.environment !== null &&
    !isMapping(doc.environment)
  )
    problems.add(
      'bad-value',
      locOf(doc, 'environment'),
      'environment',
      'the environment of abandon data must be a mapping (what an environment file holds)',
    );
  const first = problems.sorted()[0];
  if (first) throw new UsageError(formatProblem(first));
  const data = JSON.parse(JSON.stringify(doc)) as Record<string, Json>;
  const out: AdoptData = {
    resources: flattenedResources(data.resources as Record<string, Json>),
    document: data,
  };
  if (isMapping(data.template)) {
    out.template = data.template;
    out.templateProblem = (message) => {
      const problem = new Diagnostics();
      problem.add('bad-value', locOf(doc, 'template'), 'template', message);
      return formatProblem(problem.sorted()[0]!);
    };
  }
  if (typeof data.name === 'string' && data.name !== '') out.name = data.name;
  if (isMapping(data.files)) out.files = data.files as Record<string, string>;
  if (isMapping(data.environment)) out.environment = data.environment as Record<string, Json>;
  return out;
}

function snapshotCommands(stack: Command): void {
  stateOptions(
    deploymentOption(
      handlerOptions(
        stack
          .command('snapshot')
          .description(
            "take a snapshot of the stack: each resource's handleSnapshot, then its template, parameters and each resource's data",
          )
          .argument('[name]', "the snapshot's name (default: its id)")
          .option('--json', 'print the snapshot (and the execution that took it) as JSON'),
      ),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft stack snapshot -d web before-upgrade\n  weft stack snapshots -d web',
    )
    .action((name: string | undefined, flags: SnapshotFlags) =>
      remoteStack(
        flags,
        (r, client) => r.remoteTakeSnapshot(client, name, flags),
        (state) => takeSnapshot(state, name, flags),
      ),
    );
  stateOptions(
    deploymentOption(
      stack.command('snapshots').description("list the stack's snapshots").option('--json', 'print JSON'),
    ),
  ).action((flags: SnapshotFlags) =>
    remoteStack(
      flags,
      (r, client) => r.remoteListSnapshots(client, flags),
      (state) => listSnapshots(state.store, flags),
    ),
  );
  stateOptions(
    deploymentOption(
      stack
        .command('snapshot-show')
        .description('print a snapshot (JSON): its name, time and data')
        .argument('<snapshot>', 'its id or name'),
    ),
  ).action((snapshot: string, flags: SnapshotFlags) =>
    remoteStack(
      flags,
      (r, client) => r.remoteShowSnapshot(client, snapshot, flags),
      async (state) => {
        const deployment = await hotDeployment(state.store, flags.deploymentId);
        process.stdout.write(
          `${JSON.stringify(snapshotView(await findSnapshot(state.store, deployment.id, snapshot), true), null, 2)}\n`,
        );
      },
    ),
  );
  stateOptions(
    deploymentOption(
      handlerOptions(
        stack
          .command('snapshot-delete')
          .description("delete a snapshot: each resource's handleDeleteSnapshot, then the snapshot")
          .argument('<snapshot>', 'its id or name'),
      ),
    ),
  ).action((snapshot: string, flags: SnapshotFlags) =>
    remoteStack(
      flags,
      (r, client) => r.remoteDeleteSnapshot(client, snapshot, flags),
      (state) => deleteSnapshot(state, snapshot, flags),
    ),
  );
  runOptions(
    stateOptions(
      deploymentOption(
        stack
          .command('restore')
          .description(
            'bring the stack back to a snapshot: an update to its template and parameters, resources made anew restored from its data',
          )
          .argument('<snapshot>', 'its id or name'),
      ),
    ),
  ).action((snapshot: string, flags: SnapshotFlags & RunFlags) =>
    remoteStack(
      flags,
      (r, client) => r.remoteRestore(client, snapshot, flags),
      (state) => restore(state, snapshot, flags),
    ),
  );
}

/** One of the stack's snapshots, by id or name; an unknown one is bad input. */
async function findSnapshot(store: Store, deploymentId: string, given: string): Promise<SnapshotRecord> {
  const all = await store.listSnapshots(deploymentId);
  const byId = all.find((s) => s.id === given);
  if (byId) return byId;
  const named = all.filter((s) => s.name === given);
  if (named.length === 1) return named[0]!;
  if (named.length > 1)
    throw new UsageError(
      `stack '${deploymentId}' has ${named.length} snapshots named '${given}' (${named.map((s) => s.id).join(', ')}); give its id`,
    );
  throw new UsageError(
    `stack '${deploymentId}' has no snapshot '${given}'${all.length > 0 ? ` (it has: ${all.map((s) => s.name).join(', ')})` : ' (it has none: weft stack snapshot takes one)'}`,
  );
}

/** Refuses a stack an execution is running on (Heat refuses a stack action in progress). */
async function refuseActive(store: Store, id: string, what: string): Promise<void> {
  const active = (await store.listExecutions(id)).find((e) => ACTIVE_EXECUTION_STATUSES.includes(e.status));
  if (active)
    throw new UsageError(
      `stack '${id}' has a running execution ${active.id} (${active.workflow}); ${what} it once that has ended`,
    );
}

/**
 * Runs each resource's handler of a snapshot action as an execution, as `weft exec` runs a
 * workflow (events shown, a failure reported): the execution as it ended.
 */
async function runSnapshotAction(
  state: State,
  deploymentId: string,
  action: StackSnapshotAction,
  flags: SnapshotFlags,
) {
  await state.secrets.all();
  const deployment = await state.store.getDeployment(deploymentId);
  const dispatcher = pluginDispatcher(modelOf(deployment!.model), flags, state.dir);
  requirePlugins(dispatcher, deploymentId);
  const { execution, tasks } = await startStackSnapshotExecution({
    store: state.store,
    deploymentId,
    action,
    parameters: executionParameters(flags),
  });
  return runExecution(state, execution, { ...flags, json: flags.json }, { created: tasks });
}

/**
 * Heat's stack snapshot: each resource's handleSnapshot (the stack SNAPSHOT_IN_PROGRESS, then
 * SNAPSHOT_COMPLETE or SNAPSHOT_FAILED), then the stack's data (with what the handlers kept) is
 * stored as the snapshot, COMPLETE or FAILED as the stack ended, as Heat's save_snapshot does. A
 * FAILED snapshot is kept (to be shown and deleted) but not restored.
 */
async function takeSnapshot(state: State, name: string | undefined, flags: SnapshotFlags): Promise<void> {
  const store = state.store;
  const deployment = await hotDeployment(store, flags.deploymentId);
  await refuseActive(store, deployment.id, 'snapshot');
  const id = randomUUID();
  const result = await runSnapshotAction(
    state,
    deployment.id,
    { workflow: 'snapshot', snapshot: id, ...(name !== undefined ? { name } : {}) },
    flags,
  );
  const snapshot = (await store.listSnapshots(deployment.id)).find((s) => s.id === id)!;
  const status = snapshotStatus(snapshot);
  if (flags.json) printJson({ snapshot: snapshotView(snapshot, false), execution: result });
  else
    process.stdout.write(
      `Snapshot ${id} (${snapshot.name}) of stack '${deployment.id}' ${status === 'COMPLETE' ? 'taken' : `${status} (it is kept, and cannot be restored${status === 'FAILED' ? '' : ' until its execution ends'})`}\n`,
    );
  finish(result, false);
}

/**
 * Heat's snapshot delete: each resource the snapshot has data of is asked to delete what its
 * handleSnapshot made (handleDeleteSnapshot), then the snapshot is deleted. When a handler fails
 * the snapshot is kept, to be deleted again.
 */
async function deleteSnapshot(state: State, given: string, flags: SnapshotFlags): Promise<void> {
  const deployment = await hotDeployment(state.store, flags.deploymentId);
  const found = await findSnapshot(state.store, deployment.id, given);
  await refuseActive(state.store, deployment.id, 'delete a snapshot of');
  const kept = snapshotResources(found);
  const result = await runSnapshotAction(
    state,
    deployment.id,
    { workflow: 'delete_snapshot', snapshot: found.id, resources: kept },
    { ...flags, json: false },
  );
  if (result.status !== 'terminated') {
    process.stderr.write(
      `Snapshot ${found.id} (${found.name}) is kept: delete it again once the failure is dealt with\n`,
    );
    finish(result, false);
    return;
  }
  // (Its record is deleted by the end of the execution: finishExecution.)
  process.stderr.write(`Snapshot ${found.id} (${found.name}) deleted\n`);
}

async function listSnapshots(store: Store, flags: SnapshotFlags): Promise<void> {
  const deployment = await hotDeployment(store, flags.deploymentId);
  const all = (await store.listSnapshots(deployment.id)).map((s) => snapshotView(s, false));
  if (flags.json) {
    printJson({ deployment: deployment.id, snapshots: all });
    return;
  }
  if (all.length === 0) {
    process.stdout.write(`Stack '${deployment.id}' has no snapshots (weft stack snapshot takes one)\n`);
    return;
  }
  for (const s of all) process.stdout.write(`${s.id}  ${s.name}  ${s.status}  ${s.creation_time}\n`);
}

/**
 * Heat's stack restore: an update to the snapshot's template and parameters, in which a resource
 * made anew (replaced, or created again) is brought back from what the snapshot kept of it
 * (Resource.handleRestore) instead of created as new.
 */
async function restore(state: State, given: string, flags: SnapshotFlags & RunFlags): Promise<void> {
  const deployment = await hotDeployment(state.store, flags.deploymentId);
  const snapshot = await findSnapshot(state.store, deployment.id, given);
  // As Heat's stack_restore: a snapshot whose resources' handlers failed is not restored.
  if (snapshotStatus(snapshot) !== 'COMPLETE')
    throw new UsageError(
      `Restoring incomplete snapshot is not supported: snapshot ${snapshot.id} (${snapshot.name}) is ${snapshotStatus(snapshot)}`,
    );
  await refuseActive(state.store, deployment.id, 'restore');
  await refuseSuspendedUpdate(state.store, deployment);
  const kept = snapshotResources(snapshot);
  // The engine gives each resource what the snapshot kept of it for this restore alone (a resume
  // of it too): the stack is RESTORE_COMPLETE once it has succeeded, RESTORE_FAILED if not, and
  // the snapshot is left as it was, to be restored again.
  const result = await runUpdate(
    state,
    deployment.id,
    { blueprintId: snapshot.blueprintId, inputs: snapshot.inputs, model: snapshot.model },
    executionParameters(flags),
    flags,
    'update',
    [],
    { snapshot: snapshot.id, resources: kept },
  );
  await reportUpdate(
    state,
    deployment.id,
    result,
    flags,
    `restore the snapshot again (weft stack restore -d ${deployment.id} ${snapshot.id})`,
  );
}
