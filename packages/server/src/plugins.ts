/**
 * The plugins the server runs operations with: those in its plugin directories (discovered once),
 * plus what a blueprint brings by `source:`. Custom workflows build their task graphs in the
 * server process (ModuleDispatcher); operations run in worker processes (WorkerDispatcher).
 */
import { type DeploymentModel, ModuleDispatcher, PluginSet, WorkerDispatcher } from '@weft/engine';

export class ServerPlugins {
  private found: PluginSet | undefined;

  constructor(readonly dirs: string[]) {}

  get set(): PluginSet {
    this.found ??= PluginSet.discover(this.dirs);
    return this.found;
  }

  /** For building task graphs (custom workflow functions) and checking what is missing. */
  moduleDispatcher(model: DeploymentModel): ModuleDispatcher {
    return new ModuleDispatcher(model, { entries: this.set.entriesFor(model) });
  }

  /** For running operations: a pool of worker processes per plugin. */
  workerDispatcher(model: DeploymentModel): WorkerDispatcher {
    return new WorkerDispatcher(model, {
      entries: this.set.entriesFor(model),
      plugins: this.set.workerSettingsFor(model),
    });
  }
}
