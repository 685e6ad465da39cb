import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const weftBin = join(repoRoot, 'packages', 'cli', 'bin', 'weft.js');
export const fixtures = join(repoRoot, 'packages', 'cli', 'test', 'fixtures');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the real `weft` command in a child process. */
export function weft(
  args: string[],
  options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): RunResult {
  const started = performance.now();
  const child = spawnSync(process.execPath, [weftBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  return { code: child.status, stdout: child.stdout, stderr: child.stderr, ms: performance.now() - started };
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'weft-cli-'));
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

/** Starts the real `weft` command in a child process, with exactly this environment. */
export function weftInBackground(args: string[], env: NodeJS.ProcessEnv): Background {
  const child = spawn(process.execPath, [weftBin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
