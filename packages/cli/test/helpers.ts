import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
