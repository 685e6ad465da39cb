// What the script plugin's tests share: the real `weft` command, temporary directories, processes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processRunning } from '@weft/testing';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
const weftBin = join(repoRoot, 'packages', 'cli', 'bin', 'weft.js');

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A new temporary directory, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-script-test-'));
  dirs.push(dir);
  return dir;
}

/** Waits (without sleeping) until the process is gone, for at most `ms`. */
export async function gone(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processRunning(pid) && Date.now() < deadline) await new Promise((done) => setImmediate(done));
  return !processRunning(pid);
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `weft` command, in plain output mode, from the repository's root. */
export function weft(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [weftBin, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1', CI: 'true', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The run, asserted to have exited 0. */
export function ok(r: Run): Run {
  assert.equal(r.code, 0, `weft exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}
