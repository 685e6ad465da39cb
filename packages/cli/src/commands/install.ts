/** `weft install`: create the deployment when it is new, then run (or continue) its install. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  AlreadyExistsError,
  createDeployment,
  type DeploymentRecord,
  Diagnostics,
  deploymentChanges,
  type ExecutionRecord,
  fileSystemReader,
  isHotTemplate,
  type Json,
  markForAdoption,
  modelOf,
  openDeployment,
  parseYaml,
  type StartedExecution,
  startExecutionWithTasks,
} from '@weft/engine';
import { jsonEqual } from '@weft/sdk';
import type { Command } from 'commander';
import { EXIT, inform, printProblems, UsageError } from '../output.js';
import { remoteOr } from '../remote/commands.js';
import { remoteInstall } from '../remote/install.js';
import { runnerOf, type State, stateOptions } from '../state.js';
import {
  blueprintFile,
  checkOperationFunctions,
  defaultDeploymentId,
  environmentFiles,
  givenInputs,
  instanceCeiling,
  loadFromArgs,
} from './common.js';
import { pluginDispatcher } from './dispatchers.js';
import {
  executionParameters,
  finish,
  printOutputs,
  type RunFlags,
  runExecution,
  runOptions,
  startPluginHost,
  withState,
} from './execution.js';
import { installRefusal } from './install-refusal.js';
import { collect, heatOptions } from './options.js';
import { deploymentOutputs } from './outputs.js';
import { pluginReaderOptions } from './plugin-search.js';
import { type AdoptData, readAdoptFile } from './stack.js';
import { prepareNextVersion, rollback } from './update.js';

type InstallFlags = RunFlags & {
  input?: string[];
  parameter?: string[];
  environment?: string[];
  retryInFlight?: boolean;
  rollbackOnFailure?: boolean;
  adopt?: string;
};

export function installCommand(program: Command): void {
  heatOptions(
    runOptions(
      stateOptions(
        program
          .command('install')
          .description('create the deployment (if new) and run the install workflow')
          .argument(
            '[blueprint]',
            "the main blueprint file, or a directory holding blueprint.yaml (with --adopt: the abandon data's template when left out)",
          )
          .option('-d, --deployment-id <ID>', 'deployment id (default: the blueprint directory name)')
          .option(
            '-i, --input <KEY=VALUE|FILE>',
            'an input value or a YAML/JSON inputs file (repeatable)',
            collect,
          )
          .option(
            '--retry-in-flight',
            'when continuing an interrupted install, also run again the operations it interrupted that are not resumable',
          )
          .option(
            '--rollback-on-failure',
            "when the install fails, uninstall what it created (Heat's rollback of a failed create)",
          )
          .option(
            '--adopt <FILE>',
            "create a HOT stack that takes over the resources of abandon data (weft stack abandon) instead of creating them (Heat's stack adopt)",
          ),
      ),
    ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft install examples/hello-files/blueprint.yaml -i title="Hi there"
  weft install blueprint.yaml -d prod -i inputs.yaml --concurrency 16
  weft install blueprint.yaml --json > result.json
  weft install template.yaml -e env.yaml -p count=3   # a HOT template
  weft install template.yaml -d web --adopt web.json  # adopt an abandoned stack`,
    )
    .action((blueprint: string | undefined, flags: InstallFlags) => {
      // As commander says it of a required argument: only --adopt may leave it out.
      if (blueprint === undefined && flags.adopt === undefined)
        throw new UsageError("missing required argument 'blueprint'");
      return remoteOr(
        flags,
        async (client) => {
          if (flags.adopt === undefined) return remoteInstall(client, blueprintFile(blueprint!), flags);
          if (blueprint === undefined)
            return adoptWithItsTemplate(flags, (file, given, data) =>
              remoteInstall(client, file, given, data),
            );
          const file = blueprintFile(blueprint);
          // Checked as a local adopt checks it, before anything is uploaded.
          return remoteInstall(client, file, flags, adoptData(file, flags.adopt, flags, undefined));
        },
        () =>
          withState(
            flags,
            (state) =>
              blueprint === undefined
                ? adoptWithItsTemplate(flags, (file, given, data) => install(state, file, given, data))
                : install(state, blueprint, flags),
            { create: true },
          ),
      );
    });
}

/**
 * `weft install --adopt FILE` without a template: the stack is made from the template its abandon
 * data holds, with the files it holds beside it (nested templates, get_file) and its environment
 * (before those given with -e), as Heat's stack adopt does, named as the data names it unless -d
 * says otherwise.
 */
async function adoptWithItsTemplate(
  flags: InstallFlags,
  run: (template: string, flags: InstallFlags, data: AdoptData) => Promise<void>,
): Promise<void> {
  const data = readAdoptFile(flags.adopt!);
  if (data.template === undefined)
    throw new UsageError(
      `${flags.adopt} has no template: name the template to adopt the stack with (weft install TEMPLATE --adopt ${flags.adopt})`,
    );
  if (flags.deploymentId === undefined && data.name === undefined)
    throw new UsageError(`name the stack with -d ID (${flags.adopt} names none)`);
  const dir = mkdtempSync(join(tmpdir(), 'weft-adopt-'));
  try {
    for (const [path, content] of Object.entries(data.files ?? {})) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    // (Named as none of its files is.)
    const unused = (name: string) => {
      let path = `${name}.yaml`;
      for (let n = 2; Object.hasOwn(data.files ?? {}, path); n++) path = `${name}-${n}.yaml`;
      return join(dir, path);
    };
    const file = unused('template');
    const environment = data.environment ? [unused('environment')] : [];
    if (data.environment) writeFileSync(environment[0]!, `${JSON.stringify(data.environment)}\n`);
    // YAML whose top-level keys start their lines (how a HOT template is recognised), each value
    // as JSON (which YAML reads as it is).
    const template = data.template as Record<string, Json>;
    const key = (name: string) => (/^[A-Za-z_]\w*$/.test(name) ? name : JSON.stringify(name));
    writeFileSync(
      file,
      Object.entries(template)
        .map(([name, value]) => `${key(name)}: ${JSON.stringify(value)}\n`)
        .join(''),
    );
    await run(
      file,
      {
        ...flags,
        deploymentId: flags.deploymentId ?? data.name,
        environment: [...environment, ...(flags.environment ?? [])],
      },
      data,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function install(
  state: State,
  blueprintArg: string,
  flags: InstallFlags,
  given?: AdoptData,
): Promise<void> {
  const blueprint = blueprintFile(blueprintArg);
  const deploymentId = flags.deploymentId ?? defaultDeploymentId(blueprint);
  const existing = await state.store.getDeployment(deploymentId);
  const adopted =
    flags.adopt === undefined ? undefined : adoptData(blueprint, flags.adopt, flags, existing, given);
  const ready = existing
    ? await requireSameBlueprint(state, existing, blueprint, flags)
    : await create(state, blueprint, deploymentId, flags);
  if (!ready) return;
  if (adopted) await markForAdoption(state.store, deploymentId, adopted.resources);
  // Secrets that cannot be read stop here, before an execution exists.
  await state.secrets.all();
  const unfinished = await unfinishedInstall(state, deploymentId, flags);
  // Also when this process created the deployment: another may have installed it meanwhile.
  if (!unfinished && (await alreadyInstalled(state, deploymentId, flags))) return;
  // Its workers start up while the install's tasks are made and stored.
  const host = await startPluginHost(state, deploymentId, flags);
  let started: Awaited<ReturnType<typeof startInstall>> | { execution: ExecutionRecord };
  try {
    started = unfinished ? { execution: unfinished } : await startInstall(state, deploymentId, flags);
  } catch (error) {
    await host.dispatcher.close();
    throw error;
  }
  const result = await runExecution(state, started.execution, flags, {
    retryInFlight: flags.retryInFlight === true,
    created: 'tasks' in started ? started.tasks : undefined,
    host,
  });
  if (result.status === 'failed' && flags.rollbackOnFailure) {
    inform(`The install failed: rolling deployment '${deploymentId}' back`, flags.json);
    await rollback(state, deploymentId, executionParameters(flags), flags);
    // The install failed, whatever the rollback did.
    process.exitCode = EXIT.failed;
    return;
  }
  if (result.status === 'terminated') await printOutputs(state, deploymentId, flags.json);
  finish(
    result,
    flags.json,
    flags.json && result.status === 'terminated' ? { ...(await deploymentOutputs(state, deploymentId)) } : {},
  );
}

/**
 * The abandon data of `--adopt FILE`, read before anything is stored: only a new HOT stack
 * adopts, and, as Heat makes the stack from the template in the data, a template that differs
 * from the data's is refused (the data's is used when none is given).
 */
function adoptData(
  blueprint: string,
  file: string,
  flags: InstallFlags,
  existing: DeploymentRecord | undefined,
  given?: AdoptData,
): AdoptData {
  const reader = fileSystemReader(pluginReaderOptions(flags));
  if (!isHotTemplate(blueprint, reader))
    throw new UsageError(`--adopt takes a HOT template (heat_template_version); ${blueprint} is not one`);
  if (existing)
    throw new UsageError(
      `deployment '${existing.id}' exists; --adopt creates a new stack (give it another id with -d)`,
    );
  const data = given ?? readAdoptFile(file);
  if (data.template !== undefined && !given) {
    const problems = new Diagnostics();
    const parsed = parseYaml(readFileSync(blueprint, 'utf8'), blueprint, problems);
    // A template that does not parse is reported by the install as any other.
    if (problems.ok && !jsonEqual(JSON.parse(JSON.stringify(parsed ?? null)) as Json, data.template))
      throw new UsageError(
        data.templateProblem!(
          `the stack was abandoned with another template than ${blueprint}; Heat adopts a stack with the template of its abandon data: leave ${blueprint} out to adopt with that one, or delete 'template' from ${file} to adopt with ${blueprint}`,
        ),
      );
  }
  return data;
}

/** Prints problems (exit 2) and says that nothing goes on. */
function refuse(problems: Diagnostics, flags: InstallFlags): false {
  printProblems(problems, flags.json === true);
  process.exitCode = EXIT.badInput;
  return false;
}

/**
 * The blueprint's own problems (with the inputs' when given), and operations naming functions
 * their plugin does not export, all in one report; refused before anything is stored or run.
 */
async function checkBlueprint(blueprint: string, deploymentId: string, flags: InstallFlags) {
  const checked = loadFromArgs(blueprint, { ...flags, deploymentId }, true);
  await checkOperationFunctions(checked, flags);
  return checked;
}

/** Creates the deployment; false (with its problems printed, exit 2) when the blueprint or inputs are bad. */
async function create(
  state: State,
  blueprint: string,
  deploymentId: string,
  flags: InstallFlags,
): Promise<boolean> {
  const problems = new Diagnostics();
  const inputs = givenInputs(flags, problems) ?? {};
  if (!problems.ok) return refuse(problems, flags);
  const checked = await checkBlueprint(blueprint, deploymentId, flags);
  if (!checked.problems.ok) return refuse(checked.problems, flags);
  let created: Awaited<ReturnType<typeof createDeployment>>;
  try {
    created = await createDeployment({
      store: state.store,
      sealer: state.secrets.sealer(),
      reader: fileSystemReader(pluginReaderOptions(flags, state.dir)),
      blueprintPath: blueprint,
      deploymentId,
      inputs,
      ...environmentFiles(flags),
      ...instanceCeiling(),
    });
  } catch (error) {
    // Another `weft install` created it since we looked: go on as if it had been there.
    if (!(error instanceof AlreadyExistsError)) throw error;
    const existing = await state.store.getDeployment(deploymentId);
    if (!existing) throw error;
    return requireSameBlueprint(state, existing, blueprint, flags);
  }
  if (!created.deployment) return refuse(created.problems, flags);
  const count = created.instances!.length;
  inform(
    `Deployment '${deploymentId}' created (${count} ${count === 1 ? 'instance' : 'instances'})`,
    flags.json,
  );
  return true;
}

/**
 * `weft install FILE` on a deployment that exists goes on only when FILE (and the inputs, when
 * given) are what the deployment was created from; a change is refused, showing what differs.
 */
async function requireSameBlueprint(
  state: State,
  stored: DeploymentRecord,
  blueprint: string,
  flags: InstallFlags,
): Promise<boolean> {
  // Compared with the inputs as given: a sealed value differs from the same value given again.
  const existing = openDeployment(stored, state.secrets.sealer());
  const prepared = await prepareNextVersion(state, existing, blueprint, flags, false);
  if (!prepared) return false;
  const changes = deploymentChanges(existing, await state.store.getBlueprint(existing.blueprintId), prepared);
  if (!changes) return true;
  throw installRefusal(
    existing.id,
    changes,
    `weft update ${blueprint} -d ${existing.id} (weft plan ${blueprint} -d ${existing.id} shows what it would do)`,
  );
}

/** An install that a crash or the user stopped (no process runs it any more): it is continued, not refused. */
async function unfinishedInstall(
  state: State,
  deploymentId: string,
  flags: InstallFlags,
): Promise<ExecutionRecord | undefined> {
  const unfinished = (await state.store.listExecutions(deploymentId)).find(
    (e) =>
      e.workflow === 'install' &&
      ['pending', 'started', 'interrupted'].includes(e.status) &&
      !runnerOf(state.dir, e.id),
  );
  if (!unfinished) return undefined;
  // Read again now that no process holds it: the one that ran it may have finished it since the
  // list was read (and released it after storing how it ended).
  const now = await state.store.getExecution(unfinished.id);
  if (!now || !['pending', 'started', 'interrupted'].includes(now.status)) return undefined;
  inform(`Continuing install execution ${now.id}, which was interrupted`, flags.json);
  return now;
}

/**
 * A deployment whose install finished and whose instances are all started is not installed again
 * (its operations would create what exists); the user is told, and how to run install anyway.
 */
async function alreadyInstalled(state: State, deploymentId: string, flags: InstallFlags): Promise<boolean> {
  const instances = await state.store.listInstances(deploymentId);
  if (instances.some((instance) => instance.state !== 'started')) return false;
  const installs = (await state.store.listExecutions(deploymentId)).filter((e) => e.workflow === 'install');
  const last = installs.at(-1);
  if (last?.status !== 'terminated') return false;
  inform(
    `Deployment '${deploymentId}' is already installed (install ${last.id} finished ${last.endedAt}); nothing to run. To run its install workflow again: weft exec install -d ${deploymentId}`,
    flags.json,
  );
  await printOutputs(state, deploymentId, flags.json);
  finish(
    last,
    flags.json,
    flags.json ? { alreadyInstalled: true, ...(await deploymentOutputs(state, deploymentId)) } : {},
  );
  return true;
}

async function startInstall(
  state: State,
  deploymentId: string,
  flags: InstallFlags,
): Promise<StartedExecution> {
  const deployment = await state.store.getDeployment(deploymentId);
  const dispatcher = pluginDispatcher(modelOf(deployment!.model), flags, state.dir);
  await dispatcher.load();
  return startExecutionWithTasks({
    store: state.store,
    dispatcher,
    deploymentId,
    workflow: 'install',
    parameters: executionParameters(flags),
  });
}
