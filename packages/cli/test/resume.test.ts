/**
 * Crash and resume: a real `weft install` is killed with SIGKILL at several points, then
 * `weft resume` finishes the job. Every operation that finished ran exactly once, and the end
 * state equals an uninterrupted run's.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { fixtures, tempDir, weft, weftBin } from './helpers.js';

const blueprint = join(fixtures, 'recorder', 'blueprint.yaml');

interface Backend {
  name: string;
  args: () => string[];
}

const backends: Backend[] = [
  { name: 'SQLite', args: () => [] },
  {
    name: 'PostgreSQL',
    args: () => [
      '--db',
      `postgres://postgres@127.0.0.1:5432/test?schema=weft_resume_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
    ],
  },
];

/** Starts `weft install` and kills it with SIGKILL when `when(line)` first holds for an output line. */
function installAndKill(
  args: string[],
  env: NodeJS.ProcessEnv,
  when: (line: string, seen: string[]) => boolean,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [weftBin, 'install', blueprint, '-d', 'crash', ...args], {
      env: { ...process.env, ...env },
    });
    const seen: string[] = [];
    let killed = false;
    createInterface({ input: child.stdout }).on('line', (line) => {
      seen.push(line);
      if (!killed && when(line, seen)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (!killed)
        reject(
          new Error(
            `install ended by itself (code ${code}, signal ${signal}) before the kill point:\n${seen.join('\n')}`,
          ),
        );
      else resolve(seen);
    });
  });
}

function recorded(log: string): { starts: Map<string, number>; ends: Map<string, number> } {
  const starts = new Map<string, number>();
  const ends = new Map<string, number>();
  if (!existsSync(log)) return { starts, ends };
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const [kind, instance, operation] = line.split(' ');
    const map = kind === 'start' ? starts : ends;
    const key = `${instance} ${operation}`;
    map.set(key, (map.get(key) ?? 0) + 1);
  }
  return { starts, ends };
}

function instancesOf(args: string[], env: NodeJS.ProcessEnv): unknown {
  const r = weft(['instances', '-d', 'crash', '--json', ...args], { env });
  assert.equal(r.code, 0, r.stderr);
  const { instances } = JSON.parse(r.stdout) as {
    instances: { id: string; state: string; runtimeProperties: unknown }[];
  };
  return instances.map((i) => ({
    id: i.id,
    state: i.state,
    runtimeProperties: i.runtimeProperties,
  }));
}

const killPoints: [string, (line: string, seen: string[]) => boolean][] = [
  ['before any task ran', (line) => /Starting 'install' workflow execution/.test(line)],
  [
    'while operations are running',
    (line) => /\[base_\w+ create\] cloudify\.interfaces\.lifecycle\.create$/.test(line),
  ],
  [
    'after a batch of tasks succeeded',
    (_line, seen) => seen.filter((l) => / succeeded$/.test(l)).length === 7,
  ],
  [
    'while the resumable operations run',
    (line) => /\[top_\w+ create\] cloudify\.interfaces\.lifecycle\.create$/.test(line),
  ],
];

for (const backend of backends) {
  describe(`resume after SIGKILL (${backend.name})`, () => {
    let baseline: unknown;
    const uninterrupted = () => {
      const dir = tempDir();
      const args = ['--state-dir', dir, ...backend.args()];
      const env = { RECORDER_LOG: join(dir, 'ops.log') };
      const r = weft(['install', blueprint, '-d', 'crash', ...args], { env });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      baseline = instancesOf(args, env);
      const { ends } = recorded(env.RECORDER_LOG);
      assert.equal(ends.size, 8 * 3);
    };
    test('an uninterrupted install, for comparison', uninterrupted);

    test('killed right after the deployment was created: install again picks it up', async () => {
      const dir = tempDir();
      const args = ['--state-dir', dir, ...backend.args()];
      const env = { RECORDER_LOG: join(dir, 'ops.log') };
      await installAndKill(args, env, (line) => /Deployment 'crash' created/.test(line));
      const again = weft(['install', blueprint, '-d', 'crash', ...args], { env });
      assert.equal(again.code, 0, again.stdout + again.stderr);
      if (baseline === undefined) uninterrupted();
      assert.deepEqual(instancesOf(args, env), baseline);
    });

    for (const [point, when] of killPoints) {
      test(`killed ${point}: resume finishes with every finished operation run exactly once`, async () => {
        const dir = tempDir();
        const args = ['--state-dir', dir, ...backend.args()];
        const env = { RECORDER_LOG: join(dir, 'ops.log'), RECORDER_DELAY_MS: '30' };
        const printed = await installAndKill(args, env, when);
        const before = recorded(env.RECORDER_LOG);
        // What the user was told had finished: success events are printed only once stored.
        const told = printed
          .map((line) => /\[(\S+) \w+\] (\S+) succeeded$/.exec(line))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => `${m[1]} ${m[2]}`);
        const inFlight = [...before.starts.keys()].filter((k) => !before.ends.has(k));
        let resumed = weft(['resume', '-d', 'crash', ...args], { env });
        const output = () => resumed.stdout + resumed.stderr;
        // Operations that are not resumable and may have been running (sent before the kill):
        // the execution stops and names them; those that surely started must be among them.
        const plainInFlight = inFlight.filter((k) => !k.startsWith('top_'));
        if (resumed.code !== 0) {
          assert.equal(resumed.code, 1, output());
          assert.match(
            output(),
            /were running when the execution was interrupted and their operations are not resumable/,
          );
          for (const key of plainInFlight) assert.ok(output().includes(key.split(' ')[0]!), `names ${key}`);
          assert.doesNotMatch(
            output().split('not resumable:')[1] ?? '',
            /top_/,
            'resumable operations are not named',
          );
          resumed = weft(['resume', '-d', 'crash', '--retry-in-flight', ...args], { env });
        } else assert.deepEqual(plainInFlight, [], 'operations cut off while running were named');
        assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
        const after = recorded(env.RECORDER_LOG);
        assert.equal(after.ends.size, 8 * 3, 'every operation finished');
        // Operations whose success was stored (and shown) before the kill never ran again.
        for (const key of told) assert.equal(after.starts.get(key), 1, `${key} started again`);
        // Only operations cut off by the kill may have run twice (resumable ones, or by --retry-in-flight).
        for (const [key, count] of after.starts) {
          if (count > 1)
            assert.ok(!told.includes(key) && before.starts.has(key), `${key} ran ${count} times`);
        }
        if (baseline === undefined) uninterrupted();
        assert.deepEqual(instancesOf(args, env), baseline);
      });
    }
  });
}
