/**
 * The plugins the server runs operations with: those in its plugin directories (discovered once,
 * again after an upload or a removal), plus what a blueprint brings by `source:`. Uploaded plugins
 * go to the state directory's plugins/, searched first. Custom workflows build their task graphs
 * in the server process (ModuleDispatcher); operations run in worker processes (WorkerDispatcher).
 */
import { resolve } from 'node:path';
import { type DeploymentModel, ModuleDispatcher, PluginSet, WorkerDispatcher } from '@weft/engine';

export class ServerPlugins {
  private found: PluginSet | undefined;
  /** Where uploads go, then the directories the server was given. */
  readonly dirs: string[];

  constructor(
    readonly uploadDir: string,
    dirs: string[],
  ) {
    this.dirs = [resolve(uploadDir), ...dirs.map((d) => resolve(d)).filter((d) => d !== resolve(uploadDir))];
  }

  get set(): PluginSet {
    this.found ??= PluginSet.discover(this.dirs);
    return this.found;
  }

  /** After a plugin was added or removed: look again. */
  refresh(): void {
    this.found = undefined;
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
