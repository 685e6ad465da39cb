import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, parse, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BlueprintReader,
  createDeployment,
  DEFAULT_TASK_RETRIES,
  type DeploymentModel,
  type Dispatcher,
  type EventRecord,
  type ExecutionRecord,
  Executor,
  evaluateOutputs,
  fileSystemReader,
  finishExecution,
  formatProblem,
  InProcessDispatcher,
  type InProcessOperation,
  type Json,
  ModuleDispatcher,
  modelOf,
  type NodeInstanceRecord,
  openSqliteStore,
  type Problem,
  readPlugin,
  type Store,
  startExecution,
  type Value,
  type WorkflowFunction,
} from '@weft/engine';
import { WeftError } from '@weft/sdk';

/** Deployment inputs: a map of input name to value. */
export type WorkflowTestInputs = Record<string, Value>;

/** A file or directory to copy into the test directory: see {@link WorkflowTestOptions.resourcesToCopy}. */
export type ResourceToCopy = string | readonly [source: string, destination: string];

/** What an `inputs` function is called with. */
export interface InputsContext {
  /** The temporary test directory (the blueprint and resources are already copied into it). */
  dir: string;
  /** The copied blueprint's path inside `dir`. */
  blueprintPath: string;
}

/** Options of {@link workflowTest}. All are optional. */
export interface WorkflowTestOptions {
  /**
   * Copies the nearest plugin.yaml to the root of the test directory (next to the blueprint, so
   * the blueprint imports it as `plugin.yaml`). It is looked for in the directory of the test file
   * that called workflowTest and then in each parent, or from `pluginYamlFrom`. An error when none
   * is found. Default: false.
   */
  copyPluginYaml?: boolean;
  /**
   * Where the plugin.yaml search starts (a directory, or a file whose directory is used) instead
   * of the calling test file's directory. Only used with `copyPluginYaml`.
   */
  pluginYamlFrom?: string;
  /**
   * When given, only the blueprint file and these are copied (not the blueprint's whole
   * directory). Each is a file or directory path, copied to the root of the test directory under
   * its own name, or a `[source, destination]` pair, with `destination` relative to the test
   * directory (parent directories are created). Relative source paths are relative to the
   * blueprint's directory.
   */
  resourcesToCopy?: readonly ResourceToCopy[];
  /**
   * Prefix of the temporary test directory's name, created in the system's temporary directory
   * (or, when absolute, the full path prefix). Default: `weft-test-`.
   */
  tempDirPrefix?: string;
  /**
   * Deployment inputs: a map, or a function (sync or async) returning one, called once the files
   * are copied. Default: none (the inputs' defaults apply).
   */
  inputs?:
    | WorkflowTestInputs
    | ((context: InputsContext) => WorkflowTestInputs | Promise<WorkflowTestInputs>);
  /**
   * Operation implementations run in this process, by implementation name (`plugin.function`, as
   * the blueprint writes it). When given, the blueprint's plugin modules are not loaded, and an
   * operation missing from the map fails its task. When absent, each plugin's `source:` module is
   * loaded and its exported functions run (see the README for where `source:` is looked for).
   */
  operations?: Record<string, InProcessOperation>;
  /** Custom workflow functions, by `plugin.function`; they take precedence over plugin modules' own. */
  workflows?: Record<string, WorkflowFunction>;
  /** The deployment's id. Default: `test`. */
  deploymentId?: string;
  /**
   * task_retries for every execution (unless `execute` is given its own): how often a failing
   * operation is retried. Default: 5, as the engine's.
   */
  taskRetries?: number;
  /**
   * task_retry_interval in seconds for every execution (unless `execute` is given its own).
   * Default: 0, so that retries do not slow tests down (an operation's own retry_interval, a
   * RecoverableError's retryAfter and ctx.operation.retry's afterSeconds still apply).
   */
  taskRetryInterval?: number;
  /** Operations running at once. Default: 8. */
  concurrency?: number;
  /** Secrets, for `get_secret`. Default: none. */
  secrets?: Record<string, Value>;
  /** Finds the plugin.yaml of `plugin:NAME` imports. Default: none (such imports are errors). */
  resolvePlugin?: BlueprintReader['resolvePlugin'];
  /** Called with every event once it is stored. */
  onEvent?: (event: EventRecord) => void;
}

/** A deployment in a temporary directory, returned by {@link workflowTest}. */
export interface WorkflowTestEnv {
  /** The temporary test directory. */
  readonly dir: string;
  /** The copied blueprint's path inside `dir`. */
  readonly blueprintPath: string;
  readonly deploymentId: string;
  /** The SQLite store (in `dir`) holding the deployment, its instances, executions and events. */
  readonly store: Store;
  /**
   * Runs a workflow to its end and returns the execution record: its status is `terminated`
   * when it succeeded, `failed` (with `error`) when it did not. Throws only when the execution
   * cannot start (unknown workflow or parameter, another one running).
   */
  execute(workflow: string, parameters?: Record<string, Json>): Promise<ExecutionRecord>;
  /** The deployment's outputs, evaluated from the current state. */
  outputs(): Promise<Record<string, Value>>;
  /** The deployment's node instances, all or those of one node. */
  instances(node?: string): Promise<NodeInstanceRecord[]>;
  /** Stored events of the deployment, all or those of one execution, in order. */
  events(executionId?: string): Promise<EventRecord[]>;
  /** Closes the store and removes the test directory. Safe to call twice. */
  close(): Promise<void>;
}

/** The blueprint cannot be deployed, or the test directory cannot be set up. */
export class WorkflowTestError extends WeftError {
  static override readonly code = 'workflow_test';
  static override readonly kind = 'usage';
  constructor(
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
    this.name = 'WorkflowTestError';
  }
}

const here = fileURLToPath(import.meta.url);
const hereDir = dirname(here);

/** The file of the first stack frame outside this package's modules: the calling test file. */
function callerFile(): string | undefined {
  const original = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    Error.stackTraceLimit = 50;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, callerFile);
    for (const frame of (holder.stack as NodeJS.CallSite[] | undefined) ?? []) {
      let file = frame.getFileName() ?? frame.getScriptNameOrSourceURL?.();
      if (!file || file.startsWith('node:')) continue;
      if (file.startsWith('file:')) file = fileURLToPath(file);
      if (!isAbsolute(file) || dirname(file) === hereDir) continue;
      return file;
    }
    return undefined;
  } finally {
    Error.prepareStackTrace = original;
    Error.stackTraceLimit = limit;
  }
}

/** The nearest `plugin.yaml` in `start` (a directory or a file's directory) or one of its parents. */
export function findPluginYaml(start: string): string | undefined {
  let dir = resolve(start);
  if (existsSync(dir) && statSync(dir).isFile()) dir = dirname(dir);
  const { root } = parse(dir);
  for (;;) {
    const candidate = join(dir, 'plugin.yaml');
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    if (dir === root) return undefined;
    dir = dirname(dir);
  }
}

function within(parent: string, path: string): boolean {
  const rel = relative(parent, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

const SKIPPED = ['node_modules', '.git'];

function copy(source: string, destination: string): void {
  if (!existsSync(source)) throw new WorkflowTestError(`cannot copy ${source}: it does not exist`);
  mkdirSync(dirname(destination), { recursive: true });
  cpSync(source, destination, {
    recursive: true,
    filter: (path) => path === source || !SKIPPED.includes(basename(path)),
  });
}

/** Copies what `from` holds into `to`, leaving out `to` itself should it be inside `from`. */
function copyContents(from: string, to: string): void {
  for (const entry of readdirSync(from)) {
    const path = join(from, entry);
    if (SKIPPED.includes(entry) || within(path, to)) continue;
    copy(path, join(to, entry));
  }
}

/** The deployment model the dispatcher loads plugins from: relative `source:` paths made absolute. */
function pluginModel(
  model: DeploymentModel,
  searchDirs: string[],
  tested?: { name: string; entry?: string },
): DeploymentModel {
  const plugins = structuredClone(model.plugins);
  for (const [name, plugin] of Object.entries(plugins)) {
    const source = plugin.source;
    // The plugin under test, declared as an installable plugin (no source:): its entry module.
    if (!source && tested?.entry && tested.name === name) plugin.source = tested.entry;
    if (!source || isAbsolute(source) || /^[a-z]+:\/\//i.test(source)) continue;
    const found = searchDirs.map((d) => resolve(d, source)).find((p) => existsSync(p));
    if (found) plugin.source = found;
  }
  return { ...model, plugins };
}

/** Adds `workflows` to a dispatcher's own custom workflow functions. */
function withWorkflows(dispatcher: Dispatcher, workflows: Record<string, WorkflowFunction>): Dispatcher {
  return {
    run: (call) => dispatcher.run(call),
    resumable: async (model) => (await dispatcher.resumable?.(model)) ?? false,
    workflow: async (plugin, fn) => workflows[`${plugin}.${fn}`] ?? (await dispatcher.workflow?.(plugin, fn)),
  };
}

/**
 * Sets up a blueprint for a test of local workflows, as Cloudify's `workflow_test`: copies the
 * blueprint's directory (or the blueprint and `resourcesToCopy`, and with `copyPluginYaml` the
 * nearest plugin.yaml) into a new temporary directory, and creates a deployment of it on a fresh
 * SQLite store there.
 *
 * ```ts
 * const env = await workflowTest('test/blueprint.yaml', { inputs: { port: 8080 } });
 * try {
 *   const run = await env.execute('install');
 *   assert.equal(run.status, 'terminated');
 *   assert.deepEqual(await env.outputs(), { url: 'http://localhost:8080' });
 * } finally {
 *   await env.close();
 * }
 * ```
 */
export async function workflowTest(
  blueprintPath: string,
  options: WorkflowTestOptions = {},
): Promise<WorkflowTestEnv> {
  // Before any await: the calling test file is still on the stack.
  const caller = options.copyPluginYaml && options.pluginYamlFrom === undefined ? callerFile() : undefined;
  const blueprint = resolve(blueprintPath);
  if (!existsSync(blueprint) || !statSync(blueprint).isFile())
    throw new WorkflowTestError(`blueprint ${blueprint} not found`);
  const blueprintDir = dirname(blueprint);
  let pluginYaml: string | undefined;
  if (options.copyPluginYaml) {
    const start = options.pluginYamlFrom ?? (caller ? dirname(caller) : process.cwd());
    pluginYaml = findPluginYaml(start);
    if (!pluginYaml)
      throw new WorkflowTestError(
        `copyPluginYaml: no plugin.yaml in ${resolve(start)} or any directory above it`,
      );
  }

  const prefix = options.tempDirPrefix ?? 'weft-test-';
  const dir = mkdtempSync(isAbsolute(prefix) ? prefix : join(tmpdir(), prefix));
  let store: Store | undefined;
  try {
    const copied = join(dir, basename(blueprint));
    if (options.resourcesToCopy === undefined) copyContents(blueprintDir, dir);
    else {
      copy(blueprint, copied);
      for (const resource of options.resourcesToCopy) {
        const [source, destination] =
          typeof resource === 'string' ? [resource, basename(resource)] : [resource[0], resource[1]];
        const target = resolve(dir, destination);
        if (!within(dir, target) || target === dir)
          throw new WorkflowTestError(
            `resourcesToCopy: destination '${destination}' is outside the test directory`,
          );
        copy(resolve(blueprintDir, source), target);
      }
    }
    if (pluginYaml) copy(pluginYaml, join(dir, 'plugin.yaml'));

    const inputs =
      typeof options.inputs === 'function'
        ? await options.inputs({ dir, blueprintPath: copied })
        : (options.inputs ?? {});
    mkdirSync(join(dir, '.weft'), { recursive: true });
    const opened = await openSqliteStore(join(dir, '.weft', 'weft.db'));
    store = opened;
    await opened.migrate();
    const deploymentId = options.deploymentId ?? 'test';
    const reader = options.resolvePlugin
      ? fileSystemReader({ resolvePlugin: options.resolvePlugin })
      : fileSystemReader();
    const created = await createDeployment({
      store: opened,
      reader,
      blueprintPath: copied,
      deploymentId,
      inputs,
    });
    if (!created.deployment) {
      const problems = created.problems.problems;
      throw new WorkflowTestError(
        `cannot deploy ${blueprint}:\n${problems.map((p) => `  ${formatProblem(p, dir)}`).join('\n')}`,
        problems,
      );
    }
    const model = modelOf(created.deployment.model);
    let dispatcher: Dispatcher;
    if (options.operations) dispatcher = new InProcessDispatcher(options.operations);
    else {
      // Plugin code runs from where it lives, so that its own imports (e.g. @weft/sdk) resolve.
      const searchDirs = [blueprintDir, ...(pluginYaml ? [dirname(pluginYaml)] : []), dir];
      const tested = pluginYaml ? readPlugin(dirname(pluginYaml)) : undefined;
      const modules = new ModuleDispatcher(pluginModel(model, searchDirs, tested));
      await modules.load();
      dispatcher = modules;
    }
    dispatcher = withWorkflows(dispatcher, options.workflows ?? {});
    const secrets = new Map(Object.entries(options.secrets ?? {}));
    const executor = new Executor({
      store: opened,
      dispatcher,
      concurrency: options.concurrency ?? 8,
      cancelPollMs: 50,
      secrets: async () => secrets,
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    let closed = false;
    return {
      dir,
      blueprintPath: copied,
      deploymentId,
      store: opened,
      async execute(workflow, parameters = {}) {
        const execution = await startExecution({
          store: opened,
          dispatcher,
          deploymentId,
          workflow,
          parameters: {
            task_retries: options.taskRetries ?? DEFAULT_TASK_RETRIES,
            task_retry_interval: options.taskRetryInterval ?? 0,
            ...parameters,
          },
        });
        const result = await executor.run(execution.id);
        await finishExecution(opened, result);
        return result;
      },
      outputs: () => evaluateOutputs(opened, deploymentId, secrets),
      async instances(node) {
        const all = await opened.listInstances(deploymentId);
        return node === undefined ? all : all.filter((i) => i.node === node);
      },
      events: (executionId) =>
        opened.listEvents(executionId === undefined ? { deploymentId } : { deploymentId, executionId }),
      async close() {
        if (closed) return;
        closed = true;
        try {
          await opened.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await store?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
