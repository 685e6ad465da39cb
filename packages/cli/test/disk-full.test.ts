/**
 * A full disk under a running install: weft stops every operation and exits with the command
 * that continues, and once there is room that command finishes the install. The state lives on
 * a small tmpfs, which needs root; elsewhere the test is skipped, saying so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fixtures, tempDir, weft, weftBin } from './helpers.js';

const blueprint = join(fixtures, 'disk-full', 'blueprint.yaml');
const root = tempDir();
const small = join(root, 'small');
mkdirSync(small);

/** Mounts a 3 MB tmpfs at `small`; the reason it cannot be made otherwise. */
function mountSmall(): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs for a full disk needs root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small], { encoding: 'utf8' });
  if (r.status !== 0)
    return `cannot mount a small tmpfs here: ${(r.stderr || r.error?.message || '').trim()}`;
  return undefined;
}

const skip = mountSmall();
after(() => {
  // Unmounted first, so that the temporary directory can go with it.
  if (!skip) spawnSync('umount', [small]);
  rmSync(root, { recursive: true, force: true });
});

/** `weft`, with room for the megabytes of log lines the install prints. */
function weftLoud(args: string[], env: NodeJS.ProcessEnv, timeout: number) {
  const r = spawnSync(process.execPath, [weftBin, ...args], {
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function alive(pid: number): boolean {
  try {
    // A zombie is dead: nothing here reaps orphans.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('a full disk', { skip }, () => {
  test('stops every operation, exits with the resume command, and that command finishes once there is room', () => {
    const state = join(small, 'state');
    const marks = tempDir();
    const env = { MARKS: marks, FILL: '1', WAIT: '1' };
    const started = Date.now();
    const r = weftLoud(['install', blueprint, '-d', 'full', '--state-dir', state], env, 90_000);
    const took = Date.now() - started;
    const output = `exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr}`;
    assert.equal(r.code, 1, output);
    // Not held up by the retry due in 45 s, nor by the running operations.
    assert.ok(took < 35_000, `took ${took} ms`);
    assert.match(r.stderr, /interrupted.*\n {2}the state store failed: database or disk is full/, output);
    const resume = /continue it with: (weft resume \S+ --state-dir \S+ --retry-in-flight)$/m.exec(r.stderr);
    assert.ok(resume, output);
    assert.doesNotMatch(r.stderr, /\s+at \S+ \(/, 'no stack trace');
    const waiter = Number(readFileSync(join(marks, 'waiter.pid'), 'utf8'));
    assert.ok(!alive(waiter), `the waiting script ${waiter} was left running`);
    assert.ok(existsSync(join(marks, 'flaky')));

    // Room again: the printed command continues where the install stopped.
    assert.equal(spawnSync('mount', ['-o', 'remount,size=256m', small]).status, 0);
    const args = resume[1]!.split(' ').slice(1);
    const resumed = weftLoud(args, { MARKS: marks }, 120_000);
    assert.equal(resumed.code, 0, `${resumed.stdout.slice(-2000)}\n${resumed.stderr}`);
    const listed = weft(['instances', '-d', 'full', '--state-dir', state, '--json']);
    const { instances } = JSON.parse(listed.stdout) as { instances: { state: string }[] };
    assert.deepEqual(
      instances.map((i) => i.state),
      ['started', 'started', 'started'],
    );
  });
});
