/**
 * The plugins the server runs operations with: those uploaded through the API (kept in the
 * database, unpacked into the state directory's plugins/, searched first), those in its plugin
 * directories, plus what a blueprint brings by `source:`. Every server process sharing the
 * database unpacks the uploaded ones it does not have yet before it uses its plugins (sync), and
 * drops those deleted. Custom workflows build their task graphs in the server process
 * (ModuleDispatcher); operations run in worker processes (WorkerDispatcher).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type DeploymentModel, ModuleDispatcher, PluginSet, WorkerDispatcher } from '@weft/engine';
import { archiveFiles, type UploadKind } from './blueprints/archive.js';
import { writeFiles } from './blueprints/stored.js';
import { unprocessable } from './errors.js';
import type { AccessStore } from './store/access.js';

/** Written into an unpacked uploaded plugin's directory: the archive it came from. */
const UPLOAD_MARKER = '.weft-upload.json';

/** The stored plugins a server unpacks. */
export type StoredPlugins = Pick<AccessStore, 'listPlugins' | 'getPluginArchive'>;

/**
 * Unpacks a plugin archive into `into`: an archive whose entries all sit in one top-level
 * directory without a plugin.yaml or plugin.json beside it (as `npm pack` makes, `package/`) is
 * read from inside that directory.
 */
export async function unpackPlugin(
  kind: Exclude<UploadKind, 'yaml'>,
  archive: Buffer,
  into: string,
): Promise<void> {
  let files = await archiveFiles(kind, archive);
  const atTop = (path: string) => path === 'plugin.yaml' || path === 'plugin.json';
  const tops = new Set([...files.keys()].map((path) => path.split('/')[0]));
  const prefix = `${[...tops][0]}/`;
  if (
    tops.size === 1 &&
    ![...files.keys()].some(atTop) &&
    [...files.keys()].every((p) => p.startsWith(prefix))
  )
    files = new Map([...files].map(([path, content]) => [path.slice(prefix.length), content]));
  writeFiles(into, files);
}

export class ServerPlugins {
  private found: PluginSet | undefined;
  /** uploadsHash(), until the next refresh. */
  private uploads: string | undefined;
  /** Where uploads go, then the directories the server was given. */
  readonly dirs: string[];
  readonly uploadDir: string;
  /** Syncs run one after the other. */
  private syncing: Promise<unknown> = Promise.resolve();

  constructor(
    uploadDir: string,
    dirs: string[],
    /** Without it (a process with no access store), only what is unpacked already is used. */
    private readonly stored?: StoredPlugins,
  ) {
    this.uploadDir = resolve(uploadDir);
    this.dirs = [this.uploadDir, ...dirs.map((d) => resolve(d)).filter((d) => d !== this.uploadDir)];
  }

  get set(): PluginSet {
    this.found ??= PluginSet.discover(this.dirs);
    return this.found;
  }

  /** After a plugin was added or removed: look again. */
  refresh(): void {
    this.found = undefined;
    this.uploads = undefined;
  }

  /**
   * Which uploads are unpacked here, as one hash of their names and archives' sha256: an operation
   * queued for a worker carries it, and a worker that has other versions syncs before it runs it.
   */
  uploadsHash(): string {
    this.uploads ??= createHash('sha256')
      .update(JSON.stringify([...this.unpacked()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))
      .digest('hex');
    return this.uploads;
  }

  /** A new, empty directory beside the uploaded plugins, for one being checked. */
  stagingDir(): string {
    const dir = join(this.uploadDir, `.upload-${randomBytes(8).toString('hex')}`);
    writeFiles(dir, []);
    return dir;
  }

  /** The uploaded plugins unpacked here, by name, with the sha256 of their archive. */
  private unpacked(): Map<string, string> {
    const found = new Map<string, string>();
    let names: string[] = [];
    try {
      names = readdirSync(this.uploadDir);
    } catch {
      return found;
    }
    for (const name of names) {
      try {
        const marker = JSON.parse(readFileSync(join(this.uploadDir, name, UPLOAD_MARKER), 'utf8')) as {
          sha256: string;
        };
        found.set(name, marker.sha256);
      } catch {
        // Not an uploaded plugin (put there by hand, or a staging directory): left alone.
      }
    }
    return found;
  }

  /** Moves a checked upload into place as plugin `name` (replacing the one there). */
  place(name: string, staged: string, sha256: string): Promise<void> {
    return this.serially(async () => {
      writeFileSync(join(staged, UPLOAD_MARKER), `${JSON.stringify({ sha256 })}\n`);
      const target = join(this.uploadDir, name);
      rmSync(target, { recursive: true, force: true });
      renameSync(staged, target);
      this.refresh();
    });
  }

  /**
   * Makes the unpacked uploaded plugins those the database holds: unpacks the ones missing or
   * replaced since, removes the ones deleted. Returns the plugins then.
   */
  async sync(): Promise<PluginSet> {
    const stored = this.stored;
    if (stored)
      await this.serially(async () => {
        const want = await stored.listPlugins();
        const have = this.unpacked();
        let changed = false;
        for (const plugin of want) {
          if (have.get(plugin.name) === plugin.sha256) continue;
          const got = await stored.getPluginArchive(plugin.name);
          if (!got) continue;
          // What is unpacked here is run: an archive that is not the one uploaded is refused.
          if (createHash('sha256').update(got.archive).digest('hex') !== got.sha256)
            throw new Error(
              `plugin '${plugin.name}': the stored archive does not match its sha256 ${got.sha256}; upload it again`,
            );
          const staged = this.stagingDir();
          try {
            await unpackPlugin(plugin.kind, got.archive, staged);
            writeFileSync(join(staged, UPLOAD_MARKER), `${JSON.stringify({ sha256: got.sha256 })}\n`);
            const target = join(this.uploadDir, plugin.name);
            rmSync(target, { recursive: true, force: true });
            renameSync(staged, target);
          } finally {
            rmSync(staged, { recursive: true, force: true });
          }
          changed = true;
        }
        const kept = new Set(want.map((p) => p.name));
        for (const name of have.keys())
          if (!kept.has(name)) {
            rmSync(join(this.uploadDir, name), { recursive: true, force: true });
            changed = true;
          }
        if (changed) this.refresh();
      });
    return this.set;
  }

  private serially<T>(body: () => Promise<T>): Promise<T> {
    const next = this.syncing.then(body);
    this.syncing = next.catch(() => undefined);
    return next;
  }

  /** For building task graphs (custom workflow functions) and checking what is missing. */
  /**
   * A dispatcher for the deployment's operations in this process (load() loads their plugins;
   * nothing of theirs runs); refused (422) when this server does not have some of them.
   */
  async requiredBy(model: DeploymentModel, deploymentId: string): Promise<ModuleDispatcher> {
    await this.sync();
    const dispatcher = this.moduleDispatcher(model);
    const missing = dispatcher.missingPlugins();
    if (missing.length > 0)
      throw unprocessable(
        `deployment '${deploymentId}' uses plugins this server does not have: ${missing.join(', ')}`,
        { missingPlugins: missing },
      );
    return dispatcher;
  }

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
