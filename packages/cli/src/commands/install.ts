/** `weft install`: create the deployment when it is new, then run (or continue) its install. */
import {
  createDeployment,
  type DeploymentModel,
  Diagnostics,
  type ExecutionRecord,
  evaluateOutputs,
  fileSystemReader,
  startExecution,
} from '@weft/engine';
import type { Command } from 'commander';
import { readInputs } from '../inputs.js';
import { EXIT, printProblems, UsageError } from '../output.js';
import { runnerOf, type State, stateOptions } from '../state.js';
import { checkOperationFunctions, defaultDeploymentId, loadFromArgs } from './common.js';
import {
  executionParameters,
  finish,
  printOutputs,
  type RunFlags,
  runExecution,
  runOptions,
  withState,
} from './execution.js';
import { collect } from './options.js';
import { pluginResolver } from './plugin-search.js';
import { pluginDispatcher } from './plugins.js';

type InstallFlags = RunFlags & { input?: string[] };

export function installCommand(program: Command): void {
  runOptions(
    stateOptions(
      program
        .command('install')
        .description('create the deployment (if new) and run the install workflow')
        .argument('<blueprint>', 'the main blueprint file')
        .option('-d, --deployment-id <ID>', 'deployment id (default: the blueprint directory name)')
        .option(
          '-i, --input <KEY=VALUE|FILE>',
          'an input value or a YAML/JSON inputs file (repeatable)',
          collect,
        ),
    ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft install examples/hello-files/blueprint.yaml -i title="Hi there"
  weft install blueprint.yaml -d prod -i inputs.yaml --concurrency 16
  weft install blueprint.yaml --json > result.json`,
    )
    .action((blueprint: string, flags: InstallFlags) =>
      withState(flags, (state) => install(state, blueprint, flags)),
    );
}

async function install(state: State, blueprint: string, flags: InstallFlags): Promise<void> {
  const deploymentId = flags.deploymentId ?? defaultDeploymentId(blueprint);
  if (!(await state.store.getDeployment(deploymentId))) {
    if (!(await create(state, blueprint, deploymentId, flags))) return;
  } else if (flags.input?.length) {
    throw new UsageError(
      `deployment '${deploymentId}' already exists; its inputs cannot change (delete it with 'weft deployments delete ${deploymentId}' or use another -d)`,
    );
  }
  // Secrets that cannot be read stop here, before an execution exists.
  await state.secrets.all();
  const execution =
    (await unfinishedInstall(state, deploymentId, flags)) ?? (await startInstall(state, deploymentId, flags));
  const result = await runExecution(state, execution, flags);
  if (result.status === 'terminated') await printOutputs(state, deploymentId, flags.json);
  finish(
    result,
    flags.json,
    flags.json && result.status === 'terminated'
      ? { outputs: await evaluateOutputs(state.store, deploymentId, await state.secrets.all()) }
      : {},
  );
}

/** Creates the deployment; false (with its problems printed, exit 2) when the blueprint or inputs are bad. */
async function create(
  state: State,
  blueprint: string,
  deploymentId: string,
  flags: InstallFlags,
): Promise<boolean> {
  const refuse = (problems: Diagnostics) => {
    printProblems(problems, flags.json === true);
    process.exitCode = EXIT.badInput;
    return false;
  };
  const problems = new Diagnostics();
  const inputs = flags.input?.length ? readInputs(flags.input, problems) : {};
  if (!problems.ok) return refuse(problems);
  // Operations naming functions their plugin does not export are refused before anything is stored.
  const checked = loadFromArgs(blueprint, { ...flags, deploymentId }, true);
  await checkOperationFunctions(checked, flags);
  if (!checked.problems.ok) return refuse(checked.problems);
  const created = await createDeployment({
    store: state.store,
    reader: fileSystemReader({ resolvePlugin: pluginResolver(flags, state.dir) }),
    blueprintPath: blueprint,
    deploymentId,
    inputs,
  });
  if (!created.deployment) return refuse(created.problems);
  const count = created.instances!.length;
  if (!flags.json)
    process.stdout.write(
      `Deployment '${deploymentId}' created (${count} ${count === 1 ? 'instance' : 'instances'})\n`,
    );
  return true;
}

/** An install that a crash stopped (no process runs it any more): it is continued, not refused. */
async function unfinishedInstall(
  state: State,
  deploymentId: string,
  flags: InstallFlags,
): Promise<ExecutionRecord | undefined> {
  const unfinished = (await state.store.listExecutions(deploymentId)).find(
    (e) =>
      e.workflow === 'install' && ['pending', 'started'].includes(e.status) && !runnerOf(state.dir, e.id),
  );
  if (unfinished && !flags.json)
    process.stdout.write(`Continuing install execution ${unfinished.id}, which was interrupted\n`);
  return unfinished;
}

async function startInstall(
  state: State,
  deploymentId: string,
  flags: InstallFlags,
): Promise<ExecutionRecord> {
  const deployment = await state.store.getDeployment(deploymentId);
  const dispatcher = pluginDispatcher(deployment!.model as unknown as DeploymentModel, flags, state.dir);
  await dispatcher.load();
  return startExecution({
    store: state.store,
    dispatcher,
    deploymentId,
    workflow: 'install',
    parameters: executionParameters(flags),
  });
}
