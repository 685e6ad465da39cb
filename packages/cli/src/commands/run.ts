/** The commands that run or steer executions: install, uninstall, exec, resume, cancel. */
import {
  cancelWithoutRollback,
  DEPLOYMENT_UPDATE_WORKFLOWS,
  type ExecutionRecord,
  isDeploymentUpdate,
  isLive,
  type Json,
  modelOf,
  parseScalarText,
  requestCancel,
} from '@weft/engine';
import { isPrototypeKey, prototypeKeyReason } from '@weft/sdk';
import { type Command, Option } from 'commander';
import { confirm } from '../confirm.js';
import { EXIT, printJson, UsageError } from '../output.js';
import {
  cancellingLine,
  remoteCancel,
  remoteExec,
  remoteOr,
  remoteResume,
  remoteUninstall,
} from '../remote/commands.js';
import { deploymentFor, runnerOf, type State, type StateOptions, stateOptions } from '../state.js';
import { pluginDispatcher } from './dispatchers.js';
import {
  execute,
  executionParameters,
  finish,
  printOutputs,
  type RunFlags,
  requirePlugins,
  runExecution,
  runOptions,
  withState,
} from './execution.js';
import { installCommand } from './install.js';
import { collect } from './options.js';
import { preemptRunningStack } from './stack-preempt.js';

const deploymentOption = (command: Command) =>
  command.option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)');

export function runCommands(program: Command): void {
  installCommand(program);
  uninstallCommand(program);
  execCommand(program);
  resumeCommand(program);
  cancelCommand(program);
}

type UninstallFlags = RunFlags & { ignoreFailure?: boolean; yes?: boolean };

function uninstallCommand(program: Command): void {
  runOptions(
    stateOptions(
      deploymentOption(program.command('uninstall').description('run the uninstall workflow'))
        .option('--ignore-failure', 'go on past failing operations')
        .option('-y, --yes', 'do not ask for confirmation on a terminal'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft uninstall\n  weft uninstall -d prod --ignore-failure --task-retries 0',
    )
    .action((flags: UninstallFlags) =>
      remoteOr(
        flags,
        (client) => remoteUninstall(client, flags.deploymentId, uninstallParameters(flags), flags),
        () => withState(flags, (state) => uninstall(state, flags)),
      ),
    );
}

const uninstallParameters = (flags: UninstallFlags): Record<string, Json> => ({
  ...executionParameters(flags),
  ...(flags.ignoreFailure ? { ignore_failure: true } : {}),
});

async function uninstall(state: State, flags: UninstallFlags): Promise<void> {
  const deploymentId = await deploymentFor(state.store, flags.deploymentId);
  const params = uninstallParameters(flags);
  const live = (await state.store.listInstances(deploymentId)).filter((i) => isLive(i.state)).length;
  const question = `Uninstall deployment '${deploymentId}' (${live} live ${live === 1 ? 'instance' : 'instances'})?`;
  if (!flags.yes && !(await confirm(question))) {
    process.stderr.write('Nothing uninstalled\n');
    process.exitCode = EXIT.failed;
    return;
  }
  const deployment = await state.store.getDeployment(deploymentId);
  if (deployment) await preemptRunningStack(state, deployment, 'delete', flags.json);
  await execute(state, deploymentId, 'uninstall', params, flags);
}

type ExecFlags = RunFlags & { parameter?: string[]; allowCustomParameters?: boolean };

function execCommand(program: Command): void {
  runOptions(
    stateOptions(
      deploymentOption(
        program
          .command('exec')
          .description('run a workflow (built-in or declared in the blueprint)')
          .argument(
            '<workflow>',
            'install, uninstall, reinstall, start, stop, restart, execute_operation, heal, scale, or a custom one',
          )
          .option('-p, --parameter <KEY=VALUE>', 'a workflow parameter, read as YAML (repeatable)', collect),
      ).option('--allow-custom-parameters', 'accept parameters the workflow does not declare'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft exec execute_operation -p operation=cloudify.interfaces.lifecycle.start -p node_ids=[web]\n  weft exec heal -p node_instance_id=web_a1b2c3',
    )
    .action((workflow: string, flags: ExecFlags) =>
      remoteOr(
        flags,
        async (client) => {
          let deploymentId = flags.deploymentId;
          if (DEPLOYMENT_UPDATE_WORKFLOWS.includes(workflow)) {
            // The deployment update's update or rollback (started through their own routes, as
            // locally with their own planning), unless the blueprint has a workflow of that name.
            const { remoteExecUpdate, remoteRollback, remoteRunsDeploymentUpdate } = await import(
              '../remote/update.js'
            );
            const { remoteDeploymentFor } = await import('../remote/run.js');
            deploymentId = await remoteDeploymentFor(client, deploymentId);
            if (await remoteRunsDeploymentUpdate(client, deploymentId, workflow))
              return workflow === 'update'
                ? remoteExecUpdate(client, deploymentId, execParameters(flags), flags)
                : remoteRollback(client, deploymentId, execParameters(flags), flags);
          }
          return remoteExec(
            client,
            deploymentId,
            workflow,
            execParameters(flags),
            flags,
            flags.allowCustomParameters === true,
          );
        },
        () => withState(flags, (state) => exec(state, workflow, flags)),
      ),
    );
}

/** -p KEY=VALUE (read as YAML) over --task-retries and --task-retry-interval. */
function execParameters(flags: ExecFlags): Record<string, Json> {
  const params: Record<string, Json> = { ...executionParameters(flags) };
  for (const pair of flags.parameter ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`-p ${pair}: expected KEY=VALUE`);
    if (isPrototypeKey(pair.slice(0, at)))
      throw new UsageError(`-p ${pair}: ${prototypeKeyReason(pair.slice(0, at))}`);
    params[pair.slice(0, at)] = parseScalarText(pair.slice(at + 1)) as Json;
  }
  return params;
}

async function exec(state: State, workflow: string, flags: ExecFlags): Promise<void> {
  const deploymentId = await deploymentFor(state.store, flags.deploymentId);
  const params = execParameters(flags);
  const deployment = await state.store.getDeployment(deploymentId);
  if (deployment && isDeploymentUpdate(modelOf(deployment.model), workflow)) {
    const { execUpdate, rollback } = await import('./update.js');
    if (workflow === 'update') await execUpdate(state, deploymentId, params, flags);
    else await rollback(state, deploymentId, params, flags);
    return;
  }
  await execute(state, deploymentId, workflow, params, flags, flags.allowCustomParameters);
}

type ResumeFlags = RunFlags & { retryInFlight?: boolean };

function resumeCommand(program: Command): void {
  runOptions(
    stateOptions(
      deploymentOption(
        program
          .command('resume')
          .description('continue an execution after a crash, a failure or a cancel')
          .argument('[execution]', 'the execution id (default: the latest one that did not succeed)'),
      ).option(
        '--retry-in-flight',
        'also run again the operations a crash interrupted that are not resumable',
      ),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft resume\n  weft resume 0b6f2c1e-1d2a-4e0b-9f63-2a4c2e8d9a10 --retry-in-flight',
    )
    .action((executionId: string | undefined, flags: ResumeFlags) =>
      remoteOr(
        flags,
        (client) => remoteResume(client, executionId, flags.deploymentId, flags),
        () => withState(flags, (state) => resume(state, executionId, flags)),
      ),
    );
}

async function resume(state: State, executionId: string | undefined, flags: ResumeFlags): Promise<void> {
  let execution: ExecutionRecord | undefined;
  if (executionId) execution = await state.store.getExecution(executionId);
  else {
    const deploymentId = await deploymentFor(state.store, flags.deploymentId);
    execution = (await state.store.listExecutions(deploymentId))
      .filter((e) => e.status !== 'terminated')
      .pop();
  }
  if (!execution)
    throw new UsageError(
      executionId
        ? `no execution '${executionId}'`
        : 'there is no unfinished execution to resume (an install that never started continues with weft install)',
    );
  if (execution.status === 'terminated')
    throw new UsageError(`execution ${execution.id} has already succeeded`);
  const deployment = await state.store.getDeployment(execution.deploymentId);
  requirePlugins(pluginDispatcher(modelOf(deployment!.model), flags, state.dir), execution.deploymentId);
  const result = await runExecution(state, execution, flags, { retryInFlight: flags.retryInFlight === true });
  if (result.status === 'terminated' && execution.workflow === 'install')
    await printOutputs(state, execution.deploymentId, flags.json);
  finish(result, flags.json);
}

type CancelFlags = StateOptions & {
  deploymentId?: string;
  force?: boolean;
  rollback?: boolean;
  json?: boolean;
};

function cancelCommand(program: Command): void {
  stateOptions(
    deploymentOption(
      program
        .command('cancel')
        .description('stop a running execution: no new tasks (or, with --force, kill the running ones)')
        .argument('[execution]', 'the execution id (default: the running one)'),
    )
      .addOption(new Option('--force', 'also stop operations that are running').conflicts('rollback'))
      .option(
        '--no-rollback',
        "a Heat stack's create or update (Heat's stack cancel --no-rollback): what is under way finishes, nothing new starts, and the stack stays CREATE_FAILED or UPDATE_FAILED instead of rolling back",
      )
      .option('--json', 'print the execution id and its new status as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft cancel\n  weft cancel -d prod --force\n  weft cancel -d stack --no-rollback',
    )
    .action((executionId: string | undefined, flags: CancelFlags) =>
      remoteOr(
        flags,
        (client) => remoteCancel(client, executionId, flags.deploymentId, flags),
        () => withState(flags, (state) => cancel(state, executionId, flags)),
      ),
    );
}

async function cancel(state: State, executionId: string | undefined, flags: CancelFlags): Promise<void> {
  let execution: ExecutionRecord | undefined;
  if (executionId) execution = await state.store.getExecution(executionId);
  else {
    const deploymentId = await deploymentFor(state.store, flags.deploymentId);
    execution = (await state.store.listExecutions(deploymentId)).find((e) =>
      ['pending', 'started', 'cancelling'].includes(e.status),
    );
  }
  if (!execution) throw new UsageError('there is no running execution to cancel');
  if (!['pending', 'started', 'cancelling', 'force_cancelling'].includes(execution.status)) {
    throw new UsageError(
      `execution ${execution.id} is ${execution.status}; only a running one can be cancelled`,
    );
  }
  const ask = {
    force: flags.force === true,
    ...(flags.rollback === false && { cancelRequest: await cancelWithoutRollback(state.store, execution) }),
  };
  const status = await requestCancel(
    state.store,
    execution,
    ask,
    runnerOf(state.dir, execution.id) !== undefined,
  );
  if (status === 'cancelled') {
    // No process is running it (it crashed or never started): it ended here.
    if (flags.json) printJson({ execution: execution.id, status, running: false });
    else
      process.stdout.write(
        `Execution ${execution.id} (${execution.workflow}) cancelled; no process was running it\n`,
      );
    return;
  }
  if (flags.json) printJson({ execution: execution.id, status, running: true });
  else process.stdout.write(cancellingLine(execution, flags));
}
