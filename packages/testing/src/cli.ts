// Running the real `weft` command from tests, as a user would: a blueprint's end-to-end tests, and
// Weft's own CLI and plugin tests, share these instead of each spawning the CLI its own way.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, afterEach } from 'node:test';

/** The `weft` entry point of the installed `@weft/cli` package. */
export const weftBin = resolveWeftBin();

function resolveWeftBin(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@weft/cli/package.json')), 'bin', 'weft.js');
  } catch {
    throw new Error('@weft/testing/cli runs the weft command: install @weft/cli beside @weft/testing');
  }
}

export interface WeftRunOptions {
  /** The working directory (default: this process's). */
  cwd?: string;
  /** Variables added to this process's environment; `undefined` removes one. */
  env?: NodeJS.ProcessEnv;
  /** Standard input (default: none). */
  input?: string;
  /** Milliseconds before the command is killed (default 60 s). */
  timeoutMs?: number;
}

export interface WeftRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds the command took. */
  ms: number;
}

/**
 * Environment entries (for {@link WeftRunOptions.env}) that keep a run away from the state,
 * database, secret key and plugin directories the test runner's own environment may point at.
 */
export const NO_WEFT_ENVIRONMENT: NodeJS.ProcessEnv = {
  WEFT_HOME: undefined,
  WEFT_DATABASE_URL: undefined,
  WEFT_SECRET_KEY: undefined,
  WEFT_PLUGIN_DIRS: undefined,
};

// Plain output: tests read lines, not colours or a live view.
function environment(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return merged;
}

/** Runs `weft ARGS` to completion, blocking this process (not for tests that serve requests). */
export function weft(args: string[], options: WeftRunOptions = {}): WeftRun {
  const started = performance.now();
  const child = spawnSync(process.execPath, [weftBin, ...args], {
    cwd: options.cwd,
    encoding: 'utf8',
    input: options.input ?? '',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
    env: environment(options.env),
  });
  return { code: child.status, stdout: child.stdout, stderr: child.stderr, ms: performance.now() - started };
}

/** Runs `weft ARGS` without blocking, for tests whose own servers must answer it meanwhile. */
export function weftAsync(args: string[], options: WeftRunOptions = {}): Promise<WeftRun> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [weftBin, ...args],
      {
        cwd: options.cwd,
        env: environment(options.env),
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr, ms: performance.now() - started });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** The run's exit code and output, for assertion messages. */
export function describeRun(run: Pick<WeftRun, 'code' | 'stdout' | 'stderr'>): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** The run, asserted to have exited 0 (with its output in the assertion's message). */
export function ok<Run extends Pick<WeftRun, 'code' | 'stdout' | 'stderr'>>(run: Run): Run {
  assert.equal(run.code, 0, describeRun(run));
  return run;
}

const temporary: string[] = [];
after(() => {
  for (const dir of temporary.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Cleaning up is best effort: a test may still hold something there (a mounted file system
      // it removes in its own after hook), and the test's verdict is not about its temporary files.
    }
  }
});

/** A new empty directory, removed when the test file ends. */
export function tempDir(prefix = 'weft-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}

/** A `weft` process running in the background, whose output lines can be waited for. */
export interface Background {
  child: ChildProcess;
  lines: string[];
  stderr(): string;
  /** The first standard output line matching `re` (rejects if the process ends first). */
  line(re: RegExp): Promise<string>;
  /** The same for standard error. */
  errorLine(re: RegExp): Promise<string>;
  /** The exit code, once the process has ended and its output is read. */
  exit: Promise<number | null>;
}

const running: ChildProcess[] = [];

// A test that fails half-way must not leave a weft process waiting at a gate.
afterEach(() => {
  for (const child of running.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill();
});

/** Starts `weft ARGS` in the background (`env` as in {@link WeftRunOptions}). */
export function weftInBackground(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { cwd?: string } = {},
): Background {
  const child = spawn(process.execPath, [weftBin, ...args], {
    env: environment(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  running.push(child);
  const lines: string[] = [];
  const errorLines: string[] = [];
  let stderr = '';
  let ended = false;
  type Waiter = {
    re: RegExp;
    from: string[];
    resolve: (line: string) => void;
    reject: (error: Error) => void;
  };
  const waiters: Waiter[] = [];
  const watch = (stream: NodeJS.ReadableStream, into: string[]) =>
    createInterface({ input: stream }).on('line', (line) => {
      into.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.from === into && waiter.re.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    });
  watch(child.stdout!, lines);
  watch(child.stderr!, errorLines);
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exit = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      ended = true;
      for (const waiter of waiters.splice(0))
        waiter.reject(
          new Error(
            `weft ${args[0]} ended (exit ${code}) before printing a line matching ${waiter.re}:\n${lines.join('\n')}\n${stderr}`,
          ),
        );
      resolve(code);
    });
  });
  const wait = (from: string[]) => (re: RegExp) => {
    const found = from.find((l) => re.test(l));
    if (found !== undefined) return Promise.resolve(found);
    if (ended) return Promise.reject(new Error(`weft ${args[0]} has ended without a line matching ${re}`));
    return new Promise<string>((resolve, reject) => waiters.push({ re, from, resolve, reject }));
  };
  return { child, lines, stderr: () => stderr, exit, line: wait(lines), errorLine: wait(errorLines) };
}
