import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSecretKey, openStore, Secrets, type Store } from '@weft/engine';
import type { Command } from 'commander';
import { UsageError } from './output.js';

export interface StateOptions {
  stateDir?: string;
  db?: string;
  deploymentId?: string;
}

/** Where plugins keep their per-deployment work directories (ctx.plugin.workdir): `<state>/work`. */
export function workDir(stateDirPath: string): string {
  return join(stateDirPath, 'work');
}

/** Where Weft keeps its state: --state-dir, WEFT_HOME, or ./.weft (created). */
export function stateDir(options: StateOptions): string {
  const dir = stateDirPath(options);
  makeStateDir(dir);
  return dir;
}

/**
 * The state directory is created 0700 whatever the umask (it holds the database and the secret
 * key); one that already exists keeps its mode: it may be shared on purpose.
 */
function makeStateDir(dir: string): void {
  const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) chmodSync(dir, 0o700);
}

function stateDirPath(options: StateOptions): string {
  return resolve(options.stateDir ?? process.env.WEFT_HOME ?? '.weft');
}

export interface State {
  dir: string;
  /** Where the store is, to name it in messages: the state directory, or the database (no password). */
  location: string;
  store: Store;
  secrets: Secrets;
  close(): Promise<void>;
}

/**
 * Opens the store (--db or WEFT_DATABASE_URL for PostgreSQL, else SQLite in the state directory).
 * With `create: false` (commands that only read, or act on what exists) nothing is created: where
 * no SQLite file exists yet, they see an empty store, and the secret key is read only when a
 * secret is.
 */
export async function openState(options: StateOptions, { create = true } = {}): Promise<State> {
  const dir = create ? stateDir(options) : stateDirPath(options);
  const url = options.db ?? process.env.WEFT_DATABASE_URL ?? join(dir, 'weft.db');
  const postgres = /^postgres(ql)?:\/\//i.test(url);
  const nothingStored = !create && !postgres && !existsSync(url);
  const store = await openStore(nothingStored ? ':memory:' : url);
  await store.migrate();
  const secrets = new Secrets(store, () => loadSecretKey(dir));
  return { dir, location: postgres ? withoutPassword(url) : dir, store, secrets, close: () => store.close() };
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'the database';
  }
}

/** The deployment a command is about: -d, or the only one there is. */
export async function deploymentFor(store: Store, given: string | undefined): Promise<string> {
  if (given) {
    if (!(await store.getDeployment(given))) throw new UsageError(`no deployment '${given}'`);
    return given;
  }
  const all = await store.listDeployments();
  if (all.length === 1) return all[0]!.id;
  if (all.length === 0)
    throw new UsageError('there are no deployments here yet; run weft install BLUEPRINT first');
  throw new UsageError(
    `there are ${all.length} deployments (${all.map((d) => d.id).join(', ')}); choose one with -d`,
  );
}

/**
 * One process runs an execution at a time: a lock file with the runner's pid. A lock left by a
 * process that no longer exists (a crash) is taken over.
 */
export function lockExecution(dir: string, executionId: string): () => void {
  // A deployment kept in PostgreSQL may be run from a directory that holds no state yet.
  makeStateDir(dir);
  const path = join(dir, `execution-${executionId}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(path, 'utf8'));
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new UsageError(`execution ${executionId} is being run by process ${pid}`);
      }
      unlinkSync(path);
    }
  }
  throw new UsageError(`cannot lock execution ${executionId}`);
}

/** The pid of the live process running an execution, if any. */
export function runnerOf(dir: string, executionId: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, `execution-${executionId}.lock`), 'utf8'));
    return pid && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The options every command that reads or writes state takes. */
export function stateOptions(command: Command): Command {
  return command
    .option('--state-dir <DIR>', 'where local state is kept (default ./.weft, or WEFT_HOME)')
    .option(
      '--db <URL>',
      'a PostgreSQL URL (postgres://...) instead of the local SQLite file (or WEFT_DATABASE_URL)',
    );
}
