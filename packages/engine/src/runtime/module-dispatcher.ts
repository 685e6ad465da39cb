import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { WeftError } from '@weft/sdk';
import type {
  Dispatcher,
  OperationCall,
  Outcome,
  WorkflowCall,
  WorkflowFunction,
} from '../executor/dispatcher.js';
import { allOperations, type DeploymentModel, type OperationModel } from '../model/deployment-model.js';
import { InProcessDispatcher, type InProcessOperation } from './in-process.js';
import { type Loaded, loadModule, lookup } from './plugin-module.js';
import { runWorkflowScript, type WorkflowRunner } from './workflow-run.js';

export class PluginLoadError extends WeftError {
  static override readonly code = 'plugin_load_failed';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

export interface ModuleDispatcherOptions {
  /**
   * Entry modules of installed plugins (absolute paths) by plugin name, from plugin discovery
   * (`PluginSet.entriesFor`). Used for a plugin declared without a local `source` (none, or a URL).
   */
  entries?: ReadonlyMap<string, string>;
}

/**
 * Runs plugin operations from JavaScript modules named by the plugin's `source` (a path relative
 * to the blueprint), in this process. An exported function with `resumable = true` may run again
 * after a crash. A module is imported when first needed (or all at once by `load()`).
 */
export class ModuleDispatcher implements Dispatcher {
  private readonly modules = new Map<string, Promise<Loaded>>();
  private readonly functions = new Map<string, InProcessOperation>();
  /** Where each plugin is installed (ctx.plugin.prefix), looked up once. */
  private readonly prefixes = new Map<string, string>();

  constructor(
    private readonly model: DeploymentModel,
    private readonly options: ModuleDispatcherOptions = {},
  ) {}

  /** The module a plugin runs from: its local `source`, else its installed entry module. */
  entryOf(plugin: string): string | undefined {
    const source = this.model.plugins[plugin]?.source;
    if (!source || /^[a-z]+:\/\//i.test(source)) return this.options.entries?.get(plugin);
    return isAbsolute(source) ? source : resolve(this.model.blueprint.baseDir, source);
  }

  /**
   * The call as the plugin gets it: a script operation as the script plugin's `run`, and
   * ctx.plugin.prefix set to where the plugin is installed.
   */
  pluginCall(given: OperationCall): OperationCall {
    const call = scriptRunnerCall(given);
    const plugin = call.model.plugin;
    if (!plugin || call.plugin.prefix !== undefined) return call;
    let prefix = this.prefixes.get(plugin);
    if (prefix === undefined) {
      const entry = this.entryOf(plugin);
      if (!entry) return call;
      prefix = installedIn(entry);
      this.prefixes.set(plugin, prefix);
    }
    return { ...call, plugin: { ...call.plugin, prefix } };
  }

  /** Checks that every plugin module the deployment names exists, without importing any. */
  check(): void {
    for (const name of Object.keys(this.model.plugins)) {
      const path = this.entryOf(name);
      if (path && !existsSync(path)) {
        const what = this.model.plugins[name]?.source ? 'source' : 'entry module';
        throw new PluginLoadError(`plugin '${name}': ${what} ${path} does not exist`);
      }
    }
  }

  /** The plugins the deployment's operations name (script operations name the script plugin). */
  private usedPlugins(): Set<string> {
    const used = new Set(
      allOperations(this.model).map((op) => (op.kind === 'script' ? 'script' : (op.plugin ?? ''))),
    );
    used.delete('');
    return used;
  }

  /** Plugins the deployment's operations name that have no module here: nothing of theirs could run. */
  missingPlugins(): string[] {
    return [...this.usedPlugins()].filter((name) => this.entryOf(name) === undefined).sort();
  }

  /**
   * Imports now the plugin modules the deployment's operations and workflows use, so that a
   * broken one fails early. Not the others: every blueprint that imports the standard library
   * declares the script plugin, whose import is tens of milliseconds of every command's start.
   */
  async load(): Promise<void> {
    this.check();
    const used = this.usedPlugins();
    for (const workflow of Object.values(this.model.workflows ?? {}))
      if (workflow.plugin) used.add(workflow.plugin);
    await Promise.all([...used].map((name) => this.module(name)));
  }

  private module(plugin: string): Promise<Loaded> | undefined {
    let loaded = this.modules.get(plugin);
    if (!loaded) {
      const path = this.entryOf(plugin);
      if (!path || !existsSync(path)) return undefined;
      loaded = loadModule(path);
      this.modules.set(plugin, loaded);
    }
    return loaded;
  }

  private async fn(model: OperationModel): Promise<InProcessOperation | undefined> {
    const key = model.implementation;
    if (this.functions.has(key)) return this.functions.get(key);
    const module = model.plugin ? await this.module(model.plugin) : undefined;
    const found = module && model.function ? lookup(module, model.function) : undefined;
    const fn = typeof found === 'function' ? (found as InProcessOperation) : undefined;
    if (fn) this.functions.set(key, fn);
    return fn;
  }

  /** The function an operation runs, with what its plugin attached to it (such as `resumable`). */
  operationFunction(model: OperationModel): Promise<InProcessOperation | undefined> {
    return this.fn(scriptRunnerModel(model));
  }

  async resumable(model: OperationModel): Promise<boolean> {
    return ((await this.operationFunction(model)) as { resumable?: boolean } | undefined)?.resumable === true;
  }

  async workflow(plugin: string, fn: string): Promise<WorkflowFunction | undefined> {
    const module = await this.module(plugin);
    const found = module ? lookup(module, fn) : undefined;
    return typeof found === 'function' ? (found as WorkflowFunction) : undefined;
  }

  /**
   * Runs a workflow script with the script plugin's `execute_workflow` (Cloudify's
   * `script_runner.tasks.execute_workflow`), in this process: it only starts python3 and answers
   * the script's ctx calls.
   */
  async runWorkflow(call: WorkflowCall): Promise<Outcome> {
    const module = await this.module('script');
    const found = module ? lookup(module, 'execute_workflow') : undefined;
    if (typeof found !== 'function')
      return failed(
        module
          ? "the script plugin here has no 'execute_workflow': it cannot run workflow scripts"
          : 'workflow scripts run through the script plugin, which is not installed here',
      );
    return runWorkflowScript(found as WorkflowRunner, call);
  }

  async run(given: OperationCall): Promise<Outcome> {
    const call = this.pluginCall(given);
    const { model } = call;
    const fn = await this.fn(model);
    if (!fn) {
      const loaded = model.plugin && this.entryOf(model.plugin) !== undefined;
      return failed(
        loaded
          ? `plugin '${model.plugin}' has no function '${model.function}'`
          : `plugin '${model.plugin}' has no module here: install it (weft plugins install), name its directory with --plugin-dir, or, for the blueprint's own plugin, give it a 'source:' path`,
      );
    }
    return new InProcessDispatcher({ [model.implementation]: fn }).run(call);
  }
}

/**
 * Where a plugin is installed, from its entry module: the nearest directory holding its
 * plugin.yaml, plugin.json or package.json, else the module's own directory.
 */
function installedIn(entry: string): string {
  const start = existsSync(entry) && statSync(entry).isDirectory() ? entry : dirname(entry);
  for (let dir = start; ; dir = dirname(dir)) {
    if (['plugin.yaml', 'plugin.json', 'package.json'].some((name) => existsSync(join(dir, name))))
      return dir;
    if (dirname(dir) === dir) return start;
  }
}

/** The operation a script operation runs: the script plugin's `run`. */
function scriptRunnerModel(model: OperationModel): OperationModel {
  return model.kind === 'script' ? { ...model, plugin: model.plugin ?? 'script', function: 'run' } : model;
}

/**
 * A script operation (`create: scripts/create.sh`, or inline source) is a call of the script
 * plugin's `run` with the script as its `script_path` or `script_source` input, as Cloudify maps
 * it to `script_runner.tasks.run`. Other calls are returned unchanged.
 */
export function scriptRunnerCall(call: OperationCall): OperationCall {
  const { model } = call;
  if (model.kind !== 'script' || !model.script) return call;
  const inputs = { ...call.inputs };
  if (model.script.source !== undefined) inputs.script_source = model.script.source;
  else if (model.script.path !== undefined) inputs.script_path = model.script.path;
  return { ...call, inputs, model: scriptRunnerModel(model) };
}

function failed(message: string): Outcome {
  return {
    type: 'failed',
    recoverable: false,
    errorType: 'PluginError',
    message,
    causes: [],
    runtimeProperties: {},
  };
}
