import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Dispatcher, OperationCall, Outcome, WorkflowFunction } from '../executor/dispatcher.js';
import { InProcessDispatcher, type InProcessOperation } from '../executor/in-process.js';
import type { DeploymentModel, OperationModel } from '../model/deployment-model.js';
import { type Loaded, loadModule, lookup } from './plugin-module.js';

export class PluginLoadError extends Error {
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
 * after a crash.
 */
export class ModuleDispatcher implements Dispatcher {
  private readonly modules = new Map<string, Loaded>();
  private readonly functions = new Map<string, InProcessOperation>();

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

  /** Loads every plugin module the deployment names; call once before running. */
  async load(): Promise<void> {
    for (const [name, plugin] of Object.entries(this.model.plugins)) {
      const source = plugin.source;
      if (!source || /^[a-z]+:\/\//i.test(source)) {
        const entry = this.options.entries?.get(name);
        if (!entry) continue;
        if (!existsSync(entry))
          throw new PluginLoadError(`plugin '${name}': entry module ${entry} does not exist`);
        this.modules.set(name, await loadModule(entry));
        continue;
      }
      const path = isAbsolute(source) ? source : resolve(this.model.blueprint.baseDir, source);
      if (!existsSync(path)) throw new PluginLoadError(`plugin '${name}': source ${path} does not exist`);
      this.modules.set(name, await loadModule(path));
    }
  }

  private fn(model: OperationModel): InProcessOperation | undefined {
    const key = model.implementation;
    if (this.functions.has(key)) return this.functions.get(key);
    const module = model.plugin ? this.modules.get(model.plugin) : undefined;
    const found = module && model.function ? lookup(module, model.function) : undefined;
    const fn = typeof found === 'function' ? (found as InProcessOperation) : undefined;
    if (fn) this.functions.set(key, fn);
    return fn;
  }

  resumable(model: OperationModel): boolean {
    return (this.fn(model) as { resumable?: boolean } | undefined)?.resumable === true;
  }

  workflow(plugin: string, fn: string): WorkflowFunction | undefined {
    const module = this.modules.get(plugin);
    const found = module ? lookup(module, fn) : undefined;
    return typeof found === 'function' ? (found as WorkflowFunction) : undefined;
  }

  async run(call: OperationCall): Promise<Outcome> {
    const { model } = call;
    if (model.kind === 'script') {
      return failed(
        `'${model.implementation}' is a script; running scripts needs the script plugin, which this version of Weft does not include yet`,
      );
    }
    const fn = this.fn(model);
    if (!fn) {
      const loaded = model.plugin && this.modules.has(model.plugin);
      return failed(
        loaded
          ? `plugin '${model.plugin}' has no function '${model.function}'`
          : `plugin '${model.plugin}' is not installed (give it a 'source:' path to a JavaScript module in the blueprint's plugins section)`,
      );
    }
    return new InProcessDispatcher({ [model.implementation]: fn }).run(call);
  }
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
