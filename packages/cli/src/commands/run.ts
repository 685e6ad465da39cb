import {
  ActiveExecutionError,
  createDeployment,
  type DeploymentModel,
  Diagnostics,
  type EventRecord,
  type ExecutionRecord,
  Executor,
  evaluateOutputs,
  fileSystemReader,
  finishExecution,
  type Json,
  parseScalarText,
  SecretKeyError,
  type Store,
  startExecution,
  WorkflowError,
} from '@weft/engine';
import type { Command } from 'commander';
import { readInputs } from '../inputs.js';
import { EXIT, printProblems, UsageError } from '../output.js';
import { progressReporter } from '../progress/reporter.js';
import { failureReport } from '../render.js';
import {
  deploymentFor,
  lockExecution,
  openState,
  runnerOf,
  type State,
  type StateOptions,
  stateOptions,
  workDir,
} from '../state.js';
import { checkOperationFunctions, collect, defaultDeploymentId, loadFromArgs } from './common.js';
import { type PluginDirOptions, pluginDispatcher, pluginResolver, workerDispatcher } from './plugins.js';

interface RunFlags extends StateOptions, PluginDirOptions {
  concurrency?: string;
  taskRetries?: string;
  taskRetryInterval?: string;
  json?: boolean;
}

function integer(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min)
    throw new UsageError(`${name} must be a number >= ${min}, got '${value}'`);
  return n;
}

function executionParameters(flags: RunFlags): Record<string, Json> {
  const params: Record<string, Json> = {};
  const retries = integer(flags.taskRetries, '--task-retries', -1);
  const interval = integer(flags.taskRetryInterval, '--task-retry-interval', 0);
  if (retries !== undefined) params.task_retries = retries;
  if (interval !== undefined) params.task_retry_interval = interval;
  return params;
}

/**
 * The state options a follow-up command needs (a database URL's password left out), so that the
 * resume command printed after a failure works as printed.
 */
/** The options a later `weft resume` needs to find this state and these plugins again. */
function stateArguments(flags: StateOptions & PluginDirOptions): string {
  const quote = (value: string) =>
    /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
  let out = '';
  if (flags.stateDir) out += ` --state-dir ${quote(flags.stateDir)}`;
  if (flags.db) {
    const url = new URL(flags.db);
    if (url.password) url.password = '***';
    out += ` --db ${quote(url.toString())}`;
  }
  for (const dir of flags.pluginDir ?? []) out += ` --plugin-dir ${quote(dir)}`;
  return out;
}

/**
 * Refuses, before an execution is started or resumed, a deployment whose operations name plugins
 * that are not here: their tasks could only fail.
 */
function requirePlugins(dispatcher: { missingPlugins(): string[] }, deploymentId: string): void {
  const missing = dispatcher.missingPlugins();
  if (missing.length === 0) return;
  const one = missing.length === 1;
  throw new UsageError(
    `${missing.map((name) => `plugin '${name}'`).join(', ')} of deployment '${deploymentId}' ${one ? 'is' : 'are'} not installed here: install ${one ? 'it' : 'them'} (weft plugins install) or name ${one ? 'its' : 'their'} directory with --plugin-dir`,
  );
}

/** Runs (or resumes) an execution to its end, printing events as they are stored. */
async function runExecution(
  state: State,
  execution: ExecutionRecord,
  flags: RunFlags,
  retryInFlight = false,
): Promise<ExecutionRecord> {
  const deployment = await state.store.getDeployment(execution.deploymentId);
  const model = deployment!.model as unknown as DeploymentModel;
  const dispatcher = workerDispatcher(model, flags, state.dir);
  await dispatcher.load();
  const unlock = lockExecution(state.dir, execution.id);
  const logs: EventRecord[] = [];
  const progress = await progressReporter(state.store, execution, model, flags.json === true);
  try {
    const executor = new Executor({
      store: state.store,
      dispatcher,
      concurrency: integer(flags.concurrency, '--concurrency', 1) ?? 8,
      secrets: () => state.secrets.all(),
      workdir: workDir(state.dir),
      onEvent: (event) => {
        if (event.type === 'log') {
          logs.push(event);
          if (logs.length > 10) logs.shift();
        }
        progress.event(event);
      },
    });
    const result = await executor.run(execution.id, { retryInFlight });
    await finishExecution(state.store, result);
    await progress.end();
    if (result.status !== 'terminated' && !flags.json)
      process.stderr.write(`${failureReport(result, logs, stateArguments(flags))}\n`);
    return result;
  } finally {
    await progress.end();
    dispatcher.close();
    unlock();
  }
}

async function printOutputs(
  store: Store,
  state: State,
  deploymentId: string,
  json: boolean | undefined,
): Promise<void> {
  const outputs = await evaluateOutputs(store, deploymentId, await state.secrets.all());
  if (json) return;
  if (Object.keys(outputs).length === 0) return;
  process.stdout.write('Outputs:\n');
  for (const [name, value] of Object.entries(outputs))
    process.stdout.write(`  ${name}: ${JSON.stringify(value)}\n`);
}

function finish(
  execution: ExecutionRecord,
  json: boolean | undefined,
  extra: Record<string, unknown> = {},
): void {
  if (json) process.stdout.write(`${JSON.stringify({ execution, ...extra }, null, 2)}\n`);
  process.exitCode = execution.status === 'terminated' ? EXIT.ok : EXIT.failed;
}

async function withState<T>(flags: StateOptions, body: (state: State) => Promise<T>): Promise<T> {
  const state = await openState(flags);
  try {
    return await body(state);
  } catch (error) {
    if (
      error instanceof WorkflowError ||
      error instanceof ActiveExecutionError ||
      error instanceof SecretKeyError
    ) {
      throw new UsageError(error.message);
    }
    throw error;
  } finally {
    await state.close();
  }
}

const runOptions = (command: Command) =>
  command
    .option('--concurrency <N>', 'operations running at once (default 8)')
    .option('--task-retries <N>', 'retries of a failing operation (-1: forever; default 5)')
    .option('--task-retry-interval <S>', 'seconds between retries (default 3)')
    .option('--json', 'print the execution (and outputs) as JSON at the end instead of events')
    .addHelpText(
      'after',
      '\nOn a terminal, progress is drawn live (a line per node); through a pipe or with CI set,\none timestamped line per event. NO_COLOR=1 turns colours off.',
    );

export function runCommands(program: Command): void {
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
    .action(async (blueprint: string, flags: RunFlags & { input?: string[] }) => {
      await withState(flags, async (state) => {
        const deploymentId = flags.deploymentId ?? defaultDeploymentId(blueprint);
        if (!(await state.store.getDeployment(deploymentId))) {
          const problems = new Diagnostics();
          const inputs = flags.input?.length ? readInputs(flags.input, problems) : {};
          if (!problems.ok) {
            printProblems(problems, flags.json === true);
            process.exitCode = EXIT.badInput;
            return;
          }
          // Operations naming functions their plugin does not export are refused before anything is stored.
          const checked = loadFromArgs(blueprint, { ...flags, deploymentId }, true);
          await checkOperationFunctions(checked, flags);
          if (!checked.problems.ok) {
            printProblems(checked.problems, flags.json === true);
            process.exitCode = EXIT.badInput;
            return;
          }
          const created = await createDeployment({
            store: state.store,
            reader: fileSystemReader({ resolvePlugin: pluginResolver(flags, state.dir) }),
            blueprintPath: blueprint,
            deploymentId,
            inputs,
          });
          if (!created.deployment) {
            printProblems(created.problems, flags.json === true);
            process.exitCode = EXIT.badInput;
            return;
          }
          if (!flags.json)
            process.stdout.write(
              `Deployment '${deploymentId}' created (${created.instances!.length} ${created.instances!.length === 1 ? 'instance' : 'instances'})\n`,
            );
        } else if (flags.input?.length) {
          throw new UsageError(
            `deployment '${deploymentId}' already exists; its inputs cannot change (delete it with 'weft deployments delete ${deploymentId}' or use another -d)`,
          );
        }
        // Secrets that cannot be read stop here, before an execution exists.
        await state.secrets.all();
        const deployment = await state.store.getDeployment(deploymentId);
        const dispatcher = pluginDispatcher(
          deployment!.model as unknown as DeploymentModel,
          flags,
          state.dir,
        );
        await dispatcher.load();
        // An install that a crash stopped (no process runs it any more) is continued, not refused.
        const unfinished = (await state.store.listExecutions(deploymentId)).find(
          (e) =>
            e.workflow === 'install' &&
            ['pending', 'started'].includes(e.status) &&
            !runnerOf(state.dir, e.id),
        );
        if (unfinished && !flags.json)
          process.stdout.write(`Continuing install execution ${unfinished.id}, which was interrupted\n`);
        const execution =
          unfinished ??
          (await startExecution({
            store: state.store,
            dispatcher,
            deploymentId,
            workflow: 'install',
            parameters: executionParameters(flags),
          }));
        const result = await runExecution(state, execution, flags);
        if (result.status === 'terminated') await printOutputs(state.store, state, deploymentId, flags.json);
        finish(
          result,
          flags.json,
          flags.json && result.status === 'terminated'
            ? { outputs: await evaluateOutputs(state.store, deploymentId, await state.secrets.all()) }
            : {},
        );
      });
    });

  runOptions(
    stateOptions(
      program
        .command('uninstall')
        .description('run the uninstall workflow')
        .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)')
        .option('--ignore-failure', 'go on past failing operations'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft uninstall\n  weft uninstall -d prod --ignore-failure --task-retries 0',
    )
    .action(async (flags: RunFlags & { ignoreFailure?: boolean }) => {
      await withState(flags, async (state) => {
        const deploymentId = await deploymentFor(state.store, flags.deploymentId);
        await execute(
          state,
          deploymentId,
          'uninstall',
          { ...executionParameters(flags), ...(flags.ignoreFailure ? { ignore_failure: true } : {}) },
          flags,
        );
      });
    });

  runOptions(
    stateOptions(
      program
        .command('exec')
        .description('run a workflow (built-in or declared in the blueprint)')
        .argument(
          '<workflow>',
          'install, uninstall, reinstall, start, stop, restart, execute_operation, heal, or a custom one',
        )
        .option('-p, --parameter <KEY=VALUE>', 'a workflow parameter, read as YAML (repeatable)', collect)
        .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)')
        .option('--allow-custom-parameters', 'accept parameters the workflow does not declare'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft exec execute_operation -p operation=cloudify.interfaces.lifecycle.start -p node_ids=[web]\n  weft exec heal -p node_instance_id=web_a1b2c3',
    )
    .action(
      async (
        workflow: string,
        flags: RunFlags & { parameter?: string[]; allowCustomParameters?: boolean },
      ) => {
        await withState(flags, async (state) => {
          const deploymentId = await deploymentFor(state.store, flags.deploymentId);
          const params: Record<string, Json> = { ...executionParameters(flags) };
          for (const pair of flags.parameter ?? []) {
            const at = pair.indexOf('=');
            if (at <= 0) throw new UsageError(`-p ${pair}: expected KEY=VALUE`);
            params[pair.slice(0, at)] = parseScalarText(pair.slice(at + 1)) as Json;
          }
          await execute(state, deploymentId, workflow, params, flags, flags.allowCustomParameters);
        });
      },
    );

  runOptions(
    stateOptions(
      program
        .command('resume')
        .description('continue an execution after a crash, a failure or a cancel')
        .argument('[execution]', 'the execution id (default: the latest one that did not succeed)')
        .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)')
        .option(
          '--retry-in-flight',
          'also run again the operations a crash interrupted that are not resumable',
        ),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft resume\n  weft resume 0b6f2c1e-1d2a-4e0b-9f63-2a4c2e8d9a10 --retry-in-flight',
    )
    .action(async (executionId: string | undefined, flags: RunFlags & { retryInFlight?: boolean }) => {
      await withState(flags, async (state) => {
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
        requirePlugins(
          pluginDispatcher(deployment!.model as unknown as DeploymentModel, flags, state.dir),
          execution.deploymentId,
        );
        const result = await runExecution(state, execution, flags, flags.retryInFlight === true);
        if (result.status === 'terminated' && execution.workflow === 'install')
          await printOutputs(state.store, state, execution.deploymentId, flags.json);
        finish(result, flags.json);
      });
    });

  stateOptions(
    program
      .command('cancel')
      .description('stop a running execution: no new tasks (or, with --force, kill the running ones)')
      .argument('[execution]', 'the execution id (default: the running one)')
      .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)')
      .option('--force', 'also stop operations that are running')
      .option('--json', 'print the execution id and its new status as JSON'),
  )
    .addHelpText('after', '\nExamples:\n  weft cancel\n  weft cancel -d prod --force')
    .action(
      async (executionId: string | undefined, flags: StateOptions & { force?: boolean; json?: boolean }) => {
        await withState(flags, async (state) => {
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
          if (!runnerOf(state.dir, execution.id)) {
            // No process is running it (it crashed or never started): it ends here.
            await state.store.applyBatch({
              execution: { id: execution.id, status: 'cancelled', endedAt: new Date().toISOString() },
            });
            process.stdout.write(
              flags.json
                ? `${JSON.stringify({ execution: execution.id, status: 'cancelled', running: false })}\n`
                : `Execution ${execution.id} (${execution.workflow}) cancelled; no process was running it\n`,
            );
            return;
          }
          const status = flags.force ? 'force_cancelling' : 'cancelling';
          await state.store.applyBatch({ execution: { id: execution.id, status } });
          process.stdout.write(
            flags.json
              ? `${JSON.stringify({ execution: execution.id, status, running: true })}\n`
              : `Cancelling execution ${execution.id} (${execution.workflow})${flags.force ? ', stopping running operations' : ''}\n`,
          );
        });
      },
    );
}

async function execute(
  state: State,
  deploymentId: string,
  workflow: string,
  params: Record<string, Json>,
  flags: RunFlags,
  allowCustomParameters = false,
): Promise<void> {
  await state.secrets.all();
  const deployment = await state.store.getDeployment(deploymentId);
  const dispatcher = pluginDispatcher(deployment!.model as unknown as DeploymentModel, flags, state.dir);
  requirePlugins(dispatcher, deploymentId);
  await dispatcher.load();
  const execution = await startExecution({
    store: state.store,
    dispatcher,
    deploymentId,
    workflow,
    parameters: params,
    allowCustomParameters,
  });
  const result = await runExecution(state, execution, flags);
  finish(result, flags.json);
}
