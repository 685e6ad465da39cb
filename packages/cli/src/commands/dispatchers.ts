/**
 * The dispatchers that run a deployment's operations: of the plugins the blueprint brings, and of
 * those installed where plugin-search.ts looks. A module of its own so that running a workflow does
 * not load `weft plugins`' commands (and their archive library).
 */
import {
  type DeploymentModel,
  ModuleDispatcher,
  runsInstalled,
  WorkerDispatcher,
  type WorkerSettings,
} from '@weft/engine';
import { installedPlugins, type PluginDirOptions } from './plugin-search.js';

/** A ModuleDispatcher that also runs operations of installed plugins (those declared without a local source). */
function pluginEntries(
  model: DeploymentModel,
  options: PluginDirOptions,
  stateDirPath?: string,
): Map<string, string> {
  const needed = Object.values(model.plugins).some((p) => runsInstalled(p.source));
  return needed ? installedPlugins(options, stateDirPath).entriesFor(model) : new Map<string, string>();
}

/** Plugin modules loaded in this process: for custom workflow functions, which only build task graphs. */
export function pluginDispatcher(
  model: DeploymentModel,
  options: PluginDirOptions,
  stateDirPath?: string,
): ModuleDispatcher {
  return new ModuleDispatcher(model, { entries: pluginEntries(model, options, stateDirPath) });
}

/** The plugin host: operations run in worker processes, a pool per plugin. */
export function workerDispatcher(
  model: DeploymentModel,
  options: PluginDirOptions,
  stateDirPath?: string,
): WorkerDispatcher {
  const entries = pluginEntries(model, options, stateDirPath);
  const plugins =
    entries.size > 0
      ? installedPlugins(options, stateDirPath).workerSettingsFor(model)
      : new Map<string, WorkerSettings>();
  return new WorkerDispatcher(model, { entries, plugins });
}
