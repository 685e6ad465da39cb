import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Dispatcher, OperationCall, Outcome, WorkflowFunction } from '../executor/dispatcher.js';
import { InProcessDispatcher, type InProcessOperation } from '../executor/in-process.js';
import type { DeploymentModel, OperationModel } from '../model/deployment-model.js';

type Loaded = Record<string, unknown>;

/** The entry module of a plugin source: a file, or a directory with package.json `main` or index.js. */
function entryOf(path: string): string {
  if (statSync(path).isFile()) return path;
  const pkg = join(path, 'package.json');
  if (existsSync(pkg)) {
    const main = (JSON.parse(readFileSync(pkg, 'utf8')) as { main?: string }).main;
    if (main) return join(path, main);
  }
  return join(path, 'index.js');
}

/** `a.b.c` looked up as an export named `a.b.c`, then as nested properties, then by its last part. */
function lookup(module: Loaded, path: string): unknown {
  if (path in module) return module[path];
  let current: unknown = module;
  for (const part of path.split('.')) {
    if (current === null || (typeof current !== 'object' && typeof current !== 'function')) {
      current = undefined;
      break;
    }
    current = (current as Loaded)[part];
  }
  if (current !== undefined) return current;
  return module[path.split('.').pop()!];
}

export class PluginLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

/**
 * Runs plugin operations from JavaScript modules named by the plugin's `source` (a path relative
 * to the blueprint), in this process. An exported function with `resumable = true` may run again
 * after a crash.
 */
export class ModuleDispatcher implements Dispatcher {
  private readonly modules = new Map<string, Loaded>();
  private readonly functions = new Map<string, InProcessOperation>();

  constructor(private readonly model: DeploymentModel) {}

  /** Loads every plugin module the deployment names; call once before running. */
  async load(): Promise<void> {
    for (const [name, plugin] of Object.entries(this.model.plugins)) {
      const source = plugin.source;
      if (!source || /^[a-z]+:\/\//i.test(source)) continue;
      const path = isAbsolute(source) ? source : resolve(this.model.blueprint.baseDir, source);
      if (!existsSync(path)) throw new PluginLoadError(`plugin '${name}': source ${path} does not exist`);
      this.modules.set(name, (await import(pathToFileURL(entryOf(path)).href)) as Loaded);
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
