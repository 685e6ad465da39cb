import { format } from 'node:util';
import { type Logger, type OperationContext, type OperationFunction, operation } from './context.js';
import { NonRecoverableError } from './errors.js';
import type { Json } from './workflow.js';

/** What a Loom task returns: a status, an optional message, and key/values for later tasks. */
export interface TaskResult {
  status: 'ok' | 'failed';
  /** Why it failed (the NonRecoverableError's message), or a note. */
  message?: string;
  /** Stored in the instance's `loom` runtime property (merged) and handed to later tasks as `config`. */
  result?: Record<string, Json>;
  /** Captured output, sent to the logs (Loom's @result['stdout'] / ['stderr']). */
  stdout?: string;
  stderr?: string;
}

export type ProviderTaskName = 'create' | 'confirm' | 'delete';
export type AutomatorTaskName =
  | 'bootstrap'
  | 'install'
  | 'configure'
  | 'initialize'
  | 'start'
  | 'stop'
  | 'remove';
export type LoomTaskName = ProviderTaskName | AutomatorTaskName;

/** The whole input of a task (Loom's @task). */
export interface LoomTask {
  /** The method being run, e.g. `confirm`. */
  name: LoomTaskName;
  /** Loom's task name, e.g. `CONFIRM`. */
  taskName: string;
  /** Results of earlier tasks: the host's, then this instance's own (which win). */
  config: Record<string, Json>;
  /** The operation's inputs (the service action's fields). */
  fields: Record<string, Json>;
  /** The node's properties. */
  properties: Record<string, Json>;
  /** The node instance the task runs for. */
  instanceId: string;
}

export type TaskOutcome = TaskResult | Promise<TaskResult>;

/** The runtime property holding the merged results of an instance's tasks. */
export const LOOM_RESULTS_KEY = 'loom';
/** The runtime property recording which tasks of an unfinished operation are done. */
export const LOOM_PROGRESS_KEY = 'loom_progress';

abstract class LoomPlugin {
  readonly ctx: OperationContext;

  constructor(ctx: OperationContext) {
    this.ctx = ctx;
  }

  /** The node's properties. */
  get properties(): Record<string, Json> {
    return this.ctx.node.properties;
  }

  /** The operation's logger (Loom's `log`). */
  get log(): Logger {
    return this.ctx.logger;
  }

  /** Captured standard output: sent to the logs at info level (formatted like console.log). */
  output(...text: unknown[]): void {
    this.ctx.logger.info(format(...text));
  }

  /** Captured standard error: sent to the logs at error level. */
  error(...text: unknown[]): void {
    this.ctx.logger.error(format(...text));
  }
}

/**
 * A Loom provider plugin: allocates a machine (create), waits until it is usable (confirm) and
 * destroys it (delete). Results such as `providerid`, `ssh-auth` and `ipaddress` flow to the later
 * tasks of this instance and of the instances contained in it.
 */
export abstract class Provider extends LoomPlugin {
  abstract create(config: Record<string, Json>, task: LoomTask): TaskOutcome;
  abstract confirm(config: Record<string, Json>, task: LoomTask): TaskOutcome;
  abstract delete(config: Record<string, Json>, task: LoomTask): TaskOutcome;
}

/**
 * A Loom automator plugin: runs a service's actions. Each task defaults to doing nothing
 * successfully, so implement only the ones the service has actions for.
 */
export abstract class Automator extends LoomPlugin {
  bootstrap(_config: Record<string, Json>, _task: LoomTask): TaskOutcome {
    return { status: 'ok' };
  }
  install(_config: Record<string, Json>, _task: LoomTask): TaskOutcome {
    return { status: 'ok' };
  }
  configure(_config: Record<string, Json>, _task: LoomTask): TaskOutcome {
    return { status: 'ok' };
  }
  initialize(_config: Record<string, Json>, _task: LoomTask): TaskOutcome {
    return { status: 'ok' };
  }
  start(_config: Record<string, Json>, _task: LoomTask): TaskOutcome {
    return { status: 'ok' };
  }
  stop(_config: Record<string, Json>, _task: LoomTask): TaskOutcome {
    return { status: 'ok' };
  }
  remove(_config: Record<string, Json>, _task: LoomTask): TaskOutcome {
    return { status: 'ok' };
  }
}

export interface ProviderClass {
  new (ctx: OperationContext): Provider;
  readonly name: string;
  readonly prototype: Provider;
}

export interface AutomatorClass {
  new (ctx: OperationContext): Automator;
  readonly name: string;
  readonly prototype: Automator;
}

type LoomOperation = OperationFunction & { resumable: boolean };

/** A provider's operations: create (create, then confirm) and delete. */
export interface ProviderOperations {
  create: LoomOperation;
  delete: LoomOperation;
}

/** An automator's operations: create (bootstrap, install), configure, start (initialize, start), stop, delete (remove). */
export interface AutomatorOperations {
  create: LoomOperation;
  configure: LoomOperation;
  start: LoomOperation;
  stop: LoomOperation;
  delete: LoomOperation;
}

export interface LoomOperationsOptions {
  /** Mark the operations safe to run again after a crash (the tasks must be idempotent). Default false. */
  resumable?: boolean;
}

const PROVIDER_PLAN: Record<keyof ProviderOperations, ProviderTaskName[]> = {
  create: ['create', 'confirm'],
  delete: ['delete'],
};

const AUTOMATOR_PLAN: Record<keyof AutomatorOperations, AutomatorTaskName[]> = {
  create: ['bootstrap', 'install'],
  configure: ['configure'],
  start: ['initialize', 'start'],
  stop: ['stop'],
  delete: ['remove'],
};

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Loom values of the instance this one is contained in (ctx.host), if any. */
function hostResults(ctx: OperationContext): Record<string, Json> {
  const loom = ctx.host?.instance.runtimeProperties[LOOM_RESULTS_KEY];
  return isMap(loom) ? loom : {};
}

function lines(text: string | undefined): string[] {
  return (text ?? '').split(/\r?\n/).filter((line, i, all) => line !== '' || i < all.length - 1);
}

function ownResults(ctx: OperationContext): Record<string, Json> {
  const loom = ctx.instance.runtimeProperties[LOOM_RESULTS_KEY];
  return isMap(loom) ? loom : {};
}

interface Progress {
  operation: string;
  done: string[];
}

function checkResult(value: unknown): value is TaskResult {
  if (!isMap(value)) return false;
  if (value.status !== 'ok' && value.status !== 'failed') return false;
  if (value.result !== undefined && !isMap(value.result)) return false;
  return true;
}

/**
 * Maps a Loom provider or automator class to lifecycle operations. Tasks of one operation run in
 * order, each with the results so far as its `config`; each task's `result` is merged into the
 * instance's `loom` runtime property and saved at once, and a task already done is not run again
 * when the operation is retried. A `failed` status is a NonRecoverableError with its message.
 */
export function loomOperations(cls: ProviderClass, options?: LoomOperationsOptions): ProviderOperations;
export function loomOperations(cls: AutomatorClass, options?: LoomOperationsOptions): AutomatorOperations;
export function loomOperations(
  cls: ProviderClass | AutomatorClass,
  options: LoomOperationsOptions = {},
): ProviderOperations | AutomatorOperations {
  const isProvider = cls.prototype instanceof Provider;
  if (!isProvider && !(cls.prototype instanceof Automator)) {
    throw new TypeError(`${cls.name} extends neither Provider nor Automator`);
  }
  const plan: Record<string, LoomTaskName[]> = isProvider ? PROVIDER_PLAN : AUTOMATOR_PLAN;
  const finishing = new Set<string>(['delete']);

  const run =
    (opName: string, tasks: LoomTaskName[]) =>
    async (ctx: OperationContext, inputs: Record<string, Json>) => {
      const rp = ctx.instance.runtimeProperties;
      const stored = rp[LOOM_PROGRESS_KEY] as Progress | undefined;
      const progress: Progress =
        isMap(stored) && stored.operation === ctx.operation.name && Array.isArray(stored.done)
          ? { operation: stored.operation, done: [...stored.done] }
          : { operation: ctx.operation.name, done: [] };
      const plugin = new cls(ctx) as unknown as Record<
        LoomTaskName,
        (c: Record<string, Json>, t: LoomTask) => TaskOutcome
      >;
      for (const name of tasks) {
        if (progress.done.includes(name)) {
          ctx.logger.debug(`${cls.name} ${name} already done`);
          continue;
        }
        const config = { ...hostResults(ctx), ...ownResults(ctx) };
        const task: LoomTask = {
          name,
          taskName: name.toUpperCase(),
          config: structuredClone(config),
          fields: structuredClone(inputs ?? {}),
          properties: structuredClone(ctx.node.properties),
          instanceId: ctx.instance.id,
        };
        ctx.logger.info(`${cls.name}: ${task.taskName}`);
        const returned: unknown = await plugin[name].call(plugin, task.config, task);
        if (!checkResult(returned)) {
          throw new NonRecoverableError(
            `${cls.name} ${name} returned ${JSON.stringify(returned) ?? String(returned)}, not { status: 'ok' | 'failed', result? }`,
          );
        }
        // Captured output, a log line per line; stderr is an error only when the task failed.
        for (const line of lines(returned.stdout)) ctx.logger.info(line);
        for (const line of lines(returned.stderr))
          if (returned.status === 'failed') ctx.logger.error(line);
          else ctx.logger.warning(line);
        // Stored with what came from the host, so that instances contained in this one, at any
        // depth, see the machine's values too.
        const results = { ...config, ...structuredClone(returned.result ?? {}) };
        if (Object.keys(results).length > 0) rp[LOOM_RESULTS_KEY] = results;
        if (returned.status === 'failed') {
          rp[LOOM_PROGRESS_KEY] = progress as unknown as Json;
          await ctx.instance.update();
          throw new NonRecoverableError(returned.message ?? `${cls.name} ${name} failed`, {
            causes: returned.stderr ? [{ type: 'stderr', message: returned.stderr }] : [],
          });
        }
        if (returned.message) ctx.logger.info(returned.message);
        progress.done.push(name);
        rp[LOOM_PROGRESS_KEY] = progress as unknown as Json;
        await ctx.instance.update();
      }
      delete rp[LOOM_PROGRESS_KEY];
      // The machine or service is gone: so are its results.
      if (finishing.has(opName)) delete rp[LOOM_RESULTS_KEY];
    };

  const ops: Record<string, LoomOperation> = {};
  for (const [opName, tasks] of Object.entries(plan)) {
    ops[opName] = operation(run(opName, tasks), { resumable: options.resumable === true });
  }
  return ops as unknown as ProviderOperations | AutomatorOperations;
}
