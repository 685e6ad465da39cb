import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import { type Logger, type OperationContext, type OperationFunction, operation } from './context.js';
import { NonRecoverableError } from './errors.js';
import { LOOM_RESOURCE_TYPES_PROPERTY } from './loom-keys.js';
import type { Json } from './workflow.js';

/**
 * What a Loom task returns: a status, an optional message, and key/values for later tasks. The
 * status may also be Loom's number: 0 is success, anything else a failure.
 */
export interface TaskResult {
  status: 'ok' | 'failed' | number;
  /** Why it failed (the NonRecoverableError's message), or a note. */
  message?: string;
  /**
   * Stored in the instance's `loom` runtime property (merged) and handed to later tasks as
   * `config`: a service's to the later tasks of every service on its host, as Coopr's node results.
   */
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
  /**
   * Results of earlier tasks: the host's (a machine's provider results), then, for a service, what
   * the tasks of the services on the host (its own, and their BOOTSTRAPs, included) returned, a
   * later value of a key winning; for an instance on no host, its own.
   */
  config: Record<string, Json>;
  /** The operation's inputs (the service action's fields). */
  fields: Record<string, Json>;
  /** The node's properties. */
  properties: Record<string, Json>;
  /** The node instance the task runs for. */
  instanceId: string;
  /**
   * The directory the plugin's resources are staged in for the task (Coopr's work directory of
   * the plugin type, which its worker runs a task in): `RESOURCETYPE/NAME` for each of them.
   */
  workdir: string;
  /** The staged resources' paths, by resource type and name (`resources.scripts['setup.sh']`). */
  resources: Record<string, Record<string, string>>;
}

export type TaskOutcome = TaskResult | Promise<TaskResult>;

/** The runtime property holding the merged results of an instance's tasks. */
export const LOOM_RESULTS_KEY = 'loom';
/**
 * The prefix of the host's runtime properties that hold what the tasks of the services on it
 * returned: `loom:INSTANCE` for a service's tasks, `loom:bootstrap:AUTOMATOR` for the host's
 * BOOTSTRAP by an automator. Each holds, by task, when it returned (`at`) and its `result`. As
 * Coopr merges every task's results into its cluster node's, which all later tasks on the node
 * get, the tasks of every service on a host see them; a key per service, as Weft runs the
 * services of a host at the same time (Coopr runs one task per node at a time), so that no two
 * change the same runtime property.
 */
const LOOM_PUBLISHED_PREFIX = 'loom:';
/** The runtime property recording which tasks of an unfinished operation are done. */
export const LOOM_PROGRESS_KEY = 'loom_progress';
/**
 * The runtime property holding an automator's service state, as Loom keeps it: `started` once its
 * start operation (INITIALIZE, START) is done, `stopped` once its stop operation (STOP) is; gone
 * with the service (delete). Cloudify's start and stop workflows leave instance states as they are,
 * so this is where a stopped service shows.
 */
export const LOOM_SERVICE_KEY = 'loom_service';

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

/**
 * An automator's operations: create (bootstrap, install), configure, start (initialize, start),
 * stop, delete (remove), and bootstrap alone: what install runs once per host for the automator
 * before its services' tasks there (Loom's cluster-wide BOOTSTRAP), after which the BOOTSTRAP of
 * create finds the host bootstrapped and is not run again.
 */
export interface AutomatorOperations {
  bootstrap: LoomOperation;
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
  bootstrap: ['bootstrap'],
  create: ['bootstrap', 'install'],
  configure: ['configure'],
  start: ['initialize', 'start'],
  stop: ['stop'],
  delete: ['remove'],
};

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

interface Published {
  at: string;
  result: Record<string, Json>;
}

function isPublished(value: Json): value is Json & Published {
  return isMap(value) && typeof value.at === 'string' && isMap(value.result);
}

/**
 * Loom values of the instance this one is contained in (ctx.host), if any: its own (a machine's,
 * from its provider), then what the tasks of the services on it returned, in the order they
 * returned it, so that a later value of a key wins, as in Coopr's node results.
 */
function hostResults(ctx: OperationContext): Record<string, Json> {
  const rp = ctx.host?.instance.runtimeProperties ?? {};
  const published: Published[] = [];
  for (const [key, value] of Object.entries(rp))
    if (key.startsWith(LOOM_PUBLISHED_PREFIX) && isMap(value))
      published.push(...Object.values(value).filter(isPublished));
  published.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const own = rp[LOOM_RESULTS_KEY];
  return Object.assign({}, isMap(own) ? own : {}, ...published.map((p) => p.result));
}

/**
 * Where a task's results are published on the host: the BOOTSTRAP's stay with the host, which
 * is bootstrapped for the automator once; a service's go with the service (delete).
 */
function publishedKey(ctx: OperationContext, automator: string, task: LoomTaskName): string {
  return task === 'bootstrap'
    ? `${LOOM_PUBLISHED_PREFIX}bootstrap:${automator}`
    : `${LOOM_PUBLISHED_PREFIX}${ctx.instance.id}`;
}

/** Publishes what a service's task returned on its host, for the later tasks of every service there. */
async function publish(
  ctx: OperationContext,
  automator: string,
  task: LoomTaskName,
  result: Record<string, Json>,
): Promise<void> {
  const host = ctx.host?.instance;
  if (!host || Object.keys(result).length === 0) return;
  const key = publishedKey(ctx, automator, task);
  const entries = isMap(host.runtimeProperties[key]) ? { ...host.runtimeProperties[key] } : {};
  entries[task] = { at: new Date().toISOString(), result: structuredClone(result) } as unknown as Json;
  await host.update({ [key]: entries });
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
  if (value.status !== 'ok' && value.status !== 'failed' && !Number.isInteger(value.status)) return false;
  if (value.result !== undefined && !isMap(value.result)) return false;
  return true;
}

const failed = (result: TaskResult) => result.status !== 'ok' && result.status !== 0;

/**
 * A machine's address and SSH credentials in a provider's results, as Loom's providers write them
 * (`ipaddress`, or `ipaddresses.access_v4`; `ssh-auth` with `user`, `password`, `identityfile`),
 * set where Weft's plugins look for them on a Compute host: the `ip` runtime property (the
 * contained instances' host ip) and `agent_config` (user, password, key: what the remote plugin
 * connects with).
 */
function machineAccess(rp: Record<string, Json>, results: Record<string, Json>): void {
  const addresses = isMap(results.ipaddresses) ? results.ipaddresses : {};
  const ip = results.ipaddress ?? addresses.access_v4;
  if (typeof ip === 'string' && ip !== '') rp.ip = ip;
  const auth = results['ssh-auth'];
  if (isMap(auth)) {
    const agent: Record<string, Json> = isMap(rp.agent_config) ? { ...rp.agent_config } : {};
    if (typeof auth.user === 'string') agent.user = auth.user;
    if (typeof auth.password === 'string') agent.password = auth.password;
    if (typeof auth.identityfile === 'string') agent.key = auth.identityfile;
    rp.agent_config = agent;
  }
}

/**
 * Loom bootstraps each host once for an automator (a cluster-wide BOOTSTRAP stage), not once per
 * service: the automators that bootstrapped a host are recorded in the plugin's work directory,
 * by host instance, with the host's `providerid` (a machine made again is bootstrapped again), and
 * forgotten when the host is deleted.
 */
function bootstrapMarker(ctx: OperationContext, automator: string): string | undefined {
  const host = ctx.instance.hostId;
  return host ? join(ctx.plugin.workdir, 'loom-bootstrap', host, automator) : undefined;
}

/** What a marker records: the machine it was written for. */
const machineOf = (ctx: OperationContext) => `${JSON.stringify(hostResults(ctx).providerid ?? null)}\n`;

function bootstrapped(ctx: OperationContext, marker: string): boolean {
  try {
    return readFileSync(marker, 'utf8') === machineOf(ctx);
  } catch {
    return false;
  }
}

/**
 * Waits until this operation may bootstrap the host (true: it holds the claim, and must release
 * it) or another service of the host has (false). A claim left by another execution (a crash)
 * is taken over.
 */
async function claimBootstrap(ctx: OperationContext, marker: string): Promise<boolean> {
  const claim = `${marker}.claim`;
  mkdirSync(join(marker, '..'), { recursive: true });
  for (;;) {
    if (bootstrapped(ctx, marker)) return false;
    try {
      writeFileSync(claim, `${ctx.execution.id}\n`, { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = '';
    try {
      owner = readFileSync(claim, 'utf8').trim();
    } catch {
      continue; // released meanwhile
    }
    if (owner !== ctx.execution.id) {
      rmSync(claim, { force: true });
      continue;
    }
    // Another service of this host bootstraps it now: its BOOTSTRAP ends soon, in success or not.
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (ctx.signal.aborted)
      throw new NonRecoverableError('cancelled while waiting for the BOOTSTRAP of the host');
  }
}

/**
 * Coopr's resources, as its provisioner activates them for a task: each resource of a declared
 * type, `resources/TYPE/NAME` in the plugin's directory (where Coopr's plugins ship theirs), is
 * put at `TYPE/NAME` of the task's work directory: a `file` copied with the type's
 * `permissions`, an `archive` (a `.tar.gz` or `.tgz`, or a directory) unpacked or copied. The
 * directory is the plugin's work directory for the instance, made anew for each operation, so
 * that what a task changes there does not reach another instance's.
 */
function stageResources(
  ctx: OperationContext,
  kind: 'provider' | 'automator',
): { workdir: string; resources: Record<string, Record<string, string>> } {
  const type = ctx.node.type.replace(/^loom\.(provider|automator)\./, '');
  const workdir = join(ctx.plugin.workdir, `${kind}types`, type, ctx.instance.id);
  rmSync(workdir, { recursive: true, force: true });
  mkdirSync(workdir, { recursive: true });
  const resources: Record<string, Record<string, string>> = {};
  const declared = ctx.node.properties[LOOM_RESOURCE_TYPES_PROPERTY];
  for (const [resourceType, spec] of Object.entries(isMap(declared) ? declared : {})) {
    const from = ctx.plugin.prefix ? join(ctx.plugin.prefix, 'resources', resourceType) : undefined;
    if (!from || !existsSync(from) || !isMap(spec)) continue;
    const into = join(workdir, resourceType);
    mkdirSync(into, { recursive: true });
    const staged: Record<string, string> = {};
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const source = join(from, entry.name);
      if (spec.format === 'archive' && entry.isFile() && /\.(tar\.gz|tgz)$/.test(entry.name)) {
        execFileSync('tar', ['-xzf', source, '-C', into], { stdio: 'pipe' });
        const name = entry.name.replace(/\.(tar\.gz|tgz)$/, '');
        staged[name] = join(into, name);
      } else {
        cpSync(source, join(into, entry.name), { recursive: true });
        if (spec.format === 'file' && typeof spec.permissions === 'string')
          chmodSync(join(into, entry.name), Number.parseInt(spec.permissions, 8));
        staged[entry.name] = join(into, entry.name);
      }
    }
    resources[resourceType] = staged;
  }
  return { workdir, resources };
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
      const service = rp[LOOM_SERVICE_KEY];
      const staged = stageResources(ctx, isProvider ? 'provider' : 'automator');
      for (const name of tasks) {
        if (progress.done.includes(name)) {
          ctx.logger.debug(`${cls.name} ${name} already done`);
          continue;
        }
        // Loom initializes a service once, when the cluster is created: its START_SERVICES and
        // RESTART_SERVICES run START alone. Nor does it stop a service that is stopped.
        const skip =
          name === 'initialize' && service !== undefined
            ? 'INITIALIZE ran when the service was first started'
            : name === 'stop' && service === 'stopped'
              ? 'the service is stopped'
              : undefined;
        if (skip) {
          ctx.logger.info(`${cls.name}: ${name.toUpperCase()} not run: ${skip}`);
          continue;
        }
        const marker = name === 'bootstrap' ? bootstrapMarker(ctx, cls.name) : undefined;
        if (marker && !(await claimBootstrap(ctx, marker))) {
          ctx.logger.info(`${cls.name}: BOOTSTRAP of ${ctx.instance.hostId} done before, not run again`);
          progress.done.push(name);
          continue;
        }
        try {
          // A service's own results are among those published on its host (all of them, there).
          const config =
            !isProvider && ctx.host ? hostResults(ctx) : { ...hostResults(ctx), ...ownResults(ctx) };
          const task: LoomTask = {
            name,
            taskName: name.toUpperCase(),
            config: structuredClone(config),
            fields: structuredClone(inputs ?? {}),
            properties: structuredClone(ctx.node.properties),
            instanceId: ctx.instance.id,
            ...staged,
          };
          ctx.logger.info(`${cls.name}: ${task.taskName}`);
          const returned: unknown = await plugin[name].call(plugin, task.config, task);
          if (!checkResult(returned)) {
            throw new NonRecoverableError(
              `${cls.name} ${name} returned ${JSON.stringify(returned) ?? String(returned)}, not { status: 'ok' | 'failed' | 0 | error number, result? }`,
            );
          }
          // Stored with what came from the host, so that instances contained in this one, at any
          // depth, see the machine's values too.
          const results = { ...config, ...structuredClone(returned.result ?? {}) };
          if (Object.keys(results).length > 0) rp[LOOM_RESULTS_KEY] = results;
          if (isProvider) machineAccess(rp, results);
          // Whatever the status, as Coopr adds a finished task's results to its node's.
          else await publish(ctx, cls.name, name, returned.result ?? {});
          if (!failed(returned)) {
            if (marker) writeFileSync(marker, machineOf(ctx));
            progress.done.push(name);
          }
          rp[LOOM_PROGRESS_KEY] = progress as unknown as Json;
          // Saved before the captured output is logged: the credentials among the results (ssh-auth)
          // are then known to the engine as secrets, and masked in that output.
          await ctx.instance.update();
          // Captured output, a log line per line; stderr is an error only when the task failed.
          for (const line of lines(returned.stdout)) ctx.logger.info(line);
          for (const line of lines(returned.stderr))
            if (failed(returned)) ctx.logger.error(line);
            else ctx.logger.warning(line);
          if (failed(returned)) {
            throw new NonRecoverableError(
              returned.message ??
                `${cls.name} ${name} failed${typeof returned.status === 'number' ? ` (status ${returned.status})` : ''}`,
              {
                causes: returned.stderr ? [{ type: 'stderr', message: returned.stderr }] : [],
              },
            );
          }
          if (returned.message) ctx.logger.info(returned.message);
        } finally {
          if (marker) rmSync(`${marker}.claim`, { force: true });
        }
      }
      delete rp[LOOM_PROGRESS_KEY];
      if (opName === 'start') rp[LOOM_SERVICE_KEY] = 'started';
      if (opName === 'stop') rp[LOOM_SERVICE_KEY] = 'stopped';
      // The machine or service is gone: so are its results (and a machine's address).
      if (finishing.has(opName)) {
        delete rp[LOOM_RESULTS_KEY];
        delete rp[LOOM_SERVICE_KEY];
        const published = publishedKey(ctx, cls.name, 'remove');
        if (!isProvider && ctx.host && Object.hasOwn(ctx.host.instance.runtimeProperties, published)) {
          delete ctx.host.instance.runtimeProperties[published];
          await ctx.host.instance.update();
        }
        if (isProvider) {
          for (const key of ['ip', 'agent_config']) delete rp[key];
          for (const key of Object.keys(rp)) if (key.startsWith(LOOM_PUBLISHED_PREFIX)) delete rp[key];
          rmSync(join(ctx.plugin.workdir, 'loom-bootstrap', ctx.instance.id), {
            recursive: true,
            force: true,
          });
        }
      }
    };

  const ops: Record<string, LoomOperation> = {};
  for (const [opName, tasks] of Object.entries(plan)) {
    ops[opName] = operation(run(opName, tasks), { resumable: options.resumable === true });
  }
  return ops as unknown as ProviderOperations | AutomatorOperations;
}
