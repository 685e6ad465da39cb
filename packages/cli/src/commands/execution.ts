/** What the commands that run executions share: their options, running one to its end, its result. */
import {
  type DeploymentModel,
  type EventRecord,
  type ExecutionRecord,
  Executor,
  finishExecution,
  type InterruptedError,
  type Json,
  modelOf,
  NotFoundError,
  startExecution,
  type TaskRecord,
  type WorkerDispatcher,
} from '@weft/engine';
import type { Command } from 'commander';
import { EXIT, printJson, UsageError } from '../output.js';
import { progressReporter, storeProgressSource } from '../progress/reporter.js';
import { failureReport } from '../render.js';
import { lockExecution, openState, type State, type StateOptions, workDir } from '../state.js';
import { instanceCeiling } from './common.js';
import { pluginDispatcher, workerDispatcher } from './dispatchers.js';
import { executionLimits } from './limits.js';
import { deploymentOutputs, outputsText } from './outputs.js';
import type { PluginDirOptions } from './plugin-search.js';

export interface RunFlags extends StateOptions, PluginDirOptions {
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

/** The parameters every workflow takes, from --task-retries and --task-retry-interval. */
export function executionParameters(flags: RunFlags): Record<string, Json> {
  const params: Record<string, Json> = {};
  const retries = integer(flags.taskRetries, '--task-retries', -1);
  const interval = integer(flags.taskRetryInterval, '--task-retry-interval', 0);
  if (retries !== undefined) params.task_retries = retries;
  if (interval !== undefined) params.task_retry_interval = interval;
  return params;
}

/**
 * The options a later `weft resume` needs to find this state and these plugins again (a database
 * URL's password left out), so that the command printed after a failure works as printed.
 */
export function stateArguments(flags: StateOptions & PluginDirOptions): string {
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
export function requirePlugins(dispatcher: { missingPlugins(): string[] }, deploymentId: string): void {
  const missing = dispatcher.missingPlugins();
  if (missing.length === 0) return;
  const one = missing.length === 1;
  throw new UsageError(
    `${missing.map((name) => `plugin '${name}'`).join(', ')} of deployment '${deploymentId}' ${one ? 'is' : 'are'} not installed here: install ${one ? 'it' : 'them'} (weft plugins install) or name ${one ? 'its' : 'their'} directory with --plugin-dir`,
  );
}

/** The exit code of a run the user interrupted, as a shell reports a process that SIGINT ended. */
const INTERRUPTED_EXIT = 130;

/**
 * Ctrl-C while an execution runs: the first stops new operations and lets the running ones
 * finish, the second aborts them (left in flight for resume), a third ends the process at once.
 */
function interruptHandler(say: (text: string) => void) {
  const interrupt = new AbortController();
  const interruptNow = new AbortController();
  let presses = 0;
  const onSignal = () => {
    presses += 1;
    if (presses === 1) {
      say(
        'Interrupted: no new operations start; waiting for the running ones to finish (Ctrl-C again stops them now)',
      );
      interrupt.abort();
    } else if (presses === 2) {
      say('Stopping the running operations now (Ctrl-C again quits without recording anything)');
      interruptNow.abort();
    } else process.exit(INTERRUPTED_EXIT);
  };
  process.on('SIGINT', onSignal);
  return {
    options: { interrupt: interrupt.signal, interruptNow: interruptNow.signal },
    detach: () => process.off('SIGINT', onSignal),
  };
}

/** Whether an execution ended because the user interrupted it (not a crash found on resume). */
function interruptedByUser(execution: ExecutionRecord): boolean {
  return (
    execution.status === 'interrupted' && (execution.error as { byUser?: boolean } | null)?.byUser === true
  );
}

/** Whether this run was interrupted, by the user or by a store that stopped taking its changes. */
function interruptedNow(execution: ExecutionRecord): boolean {
  return (
    execution.status === 'interrupted' &&
    Array.isArray((execution.error as { notResumable?: unknown } | null)?.notResumable)
  );
}

/** What an interrupted run tells the user: how far it got, what was stopped, and the command that continues. */
async function interruptReport(state: State, execution: ExecutionRecord, flags: RunFlags): Promise<string> {
  // After a store failure the store may not answer: the count is left out then.
  const operations = await state.store.listTasks(execution.id).then(
    (tasks) => tasks.filter((t) => t.kind === 'operation'),
    () => undefined,
  );
  const done = operations?.filter((t) => t.state === 'succeeded').length;
  const error = execution.error as unknown as InterruptedError;
  const retry = error.notResumable.length > 0 ? ' --retry-in-flight' : '';
  return [
    `Execution ${execution.id} (${execution.workflow}) interrupted${operations ? `: ${done} of ${operations.length} operations had finished` : ''}.`,
    `  ${error.message}`,
    `  ${error.byUser ? '' : 'what was stored before is intact; once the store works again, '}continue it with: weft resume ${execution.id}${stateArguments(flags)}${retry}`,
  ].join('\n');
}

/** A deployment's model and the plugin host that runs its operations, its workers starting up. */
export interface PluginHost {
  deploymentId: string;
  model: DeploymentModel;
  dispatcher: WorkerDispatcher;
}

/**
 * Starts the plugin host of a deployment as it is stored: its workers start up (a process start
 * each) while the caller goes on preparing the execution. The caller closes it.
 */
export async function startPluginHost(
  state: State,
  deploymentId: string,
  flags: PluginDirOptions,
): Promise<PluginHost> {
  const deployment = await state.store.getDeployment(deploymentId);
  if (!deployment) throw new NotFoundError('deployment', deploymentId);
  const model = modelOf(deployment.model);
  const dispatcher = workerDispatcher(model, flags, state.dir);
  await dispatcher.load();
  dispatcher.warmUp();
  return { deploymentId, model, dispatcher };
}

export interface RunOptions {
  /** Operations left in flight by a process that died are run again (resume's --retry-in-flight). */
  retryInFlight?: boolean;
  /**
   * The execution's tasks as this process just created them (they are not read back unless
   * another process may have run the execution meanwhile).
   */
  created?: TaskRecord[];
  /** The deployment's plugin host, already started (startPluginHost); closed here. */
  host?: PluginHost;
}

/** Runs (or resumes) an execution to its end, printing events as they are stored. */
export async function runExecution(
  state: State,
  execution: ExecutionRecord,
  flags: RunFlags,
  { retryInFlight = false, created, host: started }: RunOptions = {},
): Promise<ExecutionRecord> {
  // Workers start up while the execution is read and prepared, unless they already are.
  const host =
    started?.deploymentId === execution.deploymentId
      ? started
      : await startPluginHost(state, execution.deploymentId, flags);
  if (started && started !== host) await started.dispatcher.close();
  const { model, dispatcher } = host;
  let unlock: () => void;
  try {
    unlock = lockExecution(state.dir, execution.id);
  } catch (error) {
    // Another process runs it: this one's workers end with it, or they would keep it alive.
    await dispatcher.close();
    throw error;
  }
  try {
    // Read once: the reporter counts them, the executor runs them. The ones just created are as
    // stored while the execution is still pending: a run by another process (that found it
    // unfinished before this one took the lock) would have marked it started first.
    const pending = created && (await state.store.getExecution(execution.id))?.status === 'pending';
    const tasks = pending ? created : await state.store.listTasks(execution.id);
    const progress = await progressReporter(
      storeProgressSource(state.store, execution.deploymentId, model),
      execution,
      flags.json === true,
      tasks,
    );
    const interrupts = interruptHandler((text) => progress.say(text));
    const logs: EventRecord[] = [];
    try {
      const executor = new Executor({
        store: state.store,
        dispatcher,
        concurrency: integer(flags.concurrency, '--concurrency', 1) ?? 8,
        secrets: () => state.secrets.all(),
        sealer: state.secrets.sealer(),
        workdir: workDir(state.dir),
        ...executionLimits(),
        onEvent: (event) => {
          if (event.type === 'log') {
            logs.push(event);
            if (logs.length > 10) logs.shift();
          }
          progress.event(event);
        },
      });
      const result = await executor.run(execution.id, { retryInFlight, tasks, ...interrupts.options });
      await finishExecution(state.store, result);
      await progress.end();
      // The last log lines only when they were not shown as they came (--quiet).
      if (interruptedNow(result)) process.stderr.write(`${await interruptReport(state, result, flags)}\n`);
      else if (result.status !== 'terminated' && !flags.json)
        process.stderr.write(
          `${failureReport(result, progress.showsLogs ? [] : logs, stateArguments(flags))}\n`,
        );
      return result;
    } finally {
      interrupts.detach();
      await progress.end();
    }
  } finally {
    await dispatcher.close();
    unlock();
  }
}

/** Starts a workflow on a deployment and runs it to its end; the exit code says how it ended. */
export async function execute(
  state: State,
  deploymentId: string,
  workflow: string,
  params: Record<string, Json>,
  flags: RunFlags,
  allowCustomParameters = false,
): Promise<void> {
  await state.secrets.all();
  const deployment = await state.store.getDeployment(deploymentId);
  const dispatcher = pluginDispatcher(modelOf(deployment!.model), flags, state.dir);
  requirePlugins(dispatcher, deploymentId);
  await dispatcher.load();
  const execution = await startExecution({
    store: state.store,
    dispatcher,
    deploymentId,
    workflow,
    parameters: params,
    allowCustomParameters,
    ...instanceCeiling(),
  });
  const result = await runExecution(state, execution, flags);
  finish(result, flags.json);
}

/** Prints a deployment's outputs and capabilities after an install (nothing with --json). */
export async function printOutputs(
  state: State,
  deploymentId: string,
  json: boolean | undefined,
): Promise<void> {
  if (!json) process.stdout.write(outputsText(await deploymentOutputs(state, deploymentId)));
}

/** Prints the execution as JSON when asked, and sets the exit code from how it ended. */
export function finish(
  execution: ExecutionRecord,
  json: boolean | undefined,
  extra: Record<string, unknown> = {},
): void {
  if (json) printJson({ execution, ...extra });
  process.exitCode =
    execution.status === 'terminated'
      ? EXIT.ok
      : interruptedByUser(execution)
        ? INTERRUPTED_EXIT
        : EXIT.failed;
}

/**
 * Opens the state for a command and closes it after. Only `create` makes a state where there is
 * none.
 */
export async function withState<T>(
  flags: StateOptions,
  body: (state: State) => Promise<T>,
  { create = false } = {},
): Promise<T> {
  const state = await openState(flags, { create });
  try {
    return await body(state);
  } finally {
    await state.close();
  }
}

/** The options of every command that runs an execution. */
export const runOptions = (command: Command) =>
  command
    .option('--concurrency <N>', 'operations running at once (default 8)')
    .option('--task-retries <N>', 'retries of a failing operation (-1: forever; default 5)')
    .option('--task-retry-interval <S>', 'seconds between retries (default 3)')
    .option('--json', 'print the execution (and outputs) as JSON at the end instead of events')
    .addHelpText(
      'after',
      '\nOn a terminal, progress is drawn live (a line per node); through a pipe or with CI set,\none timestamped line per event. NO_COLOR=1 turns colours off.',
    );
