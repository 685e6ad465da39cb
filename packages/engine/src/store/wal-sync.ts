/**
 * Makes SQLite's commits durable without holding the event loop while the disk syncs.
 *
 * With `synchronous = FULL` a WAL commit waits in SQLite for the sync of the WAL file: better-sqlite3
 * is synchronous, so the whole process stops for each one (about 2 ms here, and an install commits
 * about a hundred times). With `synchronous = NORMAL` SQLite writes the commit to the WAL without
 * syncing it (it still syncs around checkpoints and when the WAL is reused); this syncs the WAL file
 * itself, on libuv's thread pool, and a write resolves once a sync that began after its commit has
 * ended. That is FULL's guarantee: nothing a caller was told is stored is lost on power loss. Meanwhile
 * the process goes on (reading operation results, preparing the next commit). The WAL is
 * append-only between checkpoints, so a sync covers every earlier commit: commits that come while one
 * sync runs share the next.
 */
import { type FileHandle, open } from 'node:fs/promises';

export class WalSync {
  private handle?: Promise<Pick<FileHandle, 'datasync' | 'close'>>;
  /** The sync running now. */
  private running?: Promise<void>;
  /** The sync that starts once `running` ends, for the commits made meanwhile. */
  private next?: Promise<void>;

  /**
   * `walPath`: the database's `-wal` file, which SQLite keeps while a connection is open. `openFile`
   * is how it is opened (a test watches the syncs through it).
   */
  constructor(
    private readonly walPath: string,
    private readonly openFile: (
      path: string,
      flags: string,
    ) => Promise<Pick<FileHandle, 'datasync' | 'close'>> = open,
  ) {}

  /** Resolves once every commit made before the call is on disk. */
  synced(): Promise<void> {
    if (!this.running) return this.start();
    this.next ??= this.running.then(
      () => this.afterRunning(),
      () => this.afterRunning(),
    );
    return this.next;
  }

  private afterRunning(): Promise<void> {
    this.next = undefined;
    return this.start();
  }

  private start(): Promise<void> {
    const sync = (async () => {
      this.handle ??= this.openFile(this.walPath, 'r+');
      const handle = await this.handle.catch((error: unknown) => {
        // Tried again by the next sync (the next commit).
        this.handle = undefined;
        throw error;
      });
      await handle.datasync();
    })();
    this.running = sync;
    const done = () => {
      if (this.running === sync) this.running = undefined;
    };
    sync.then(done, done);
    return sync;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }
}
