/**
 * `weft install` of a deployment that another `weft install` is creating, or that a kill left
 * created but not installed: the answer is the one a second install always gets.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixtures, tempDir, weft, weftInBackground } from './helpers.js';

const BLUEPRINT = join(fixtures, 'executions', 'blueprint.yaml');
const LIMIT = { timeout: 120_000 };

const env = () => {
  const out: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of ['WEFT_HOME', 'WEFT_DATABASE_URL', 'WEFT_SECRET_KEY', 'GATE_DIR']) delete out[name];
  return out;
};

describe('two installs of the same new deployment at once', () => {
  test(
    'one installs it; the other continues it or is told the install is running (exit 2)',
    LIMIT,
    async () => {
      // Which process loses, and where, is up to the scheduler: several pairs race at once.
      const pairs = Array.from({ length: 4 }, () => {
        const state = tempDir();
        const args = ['install', BLUEPRINT, '-d', 'web', '--state-dir', state];
        return [weftInBackground(args, env()), weftInBackground(args, env())];
      });
      for (const pair of pairs) {
        const codes = await Promise.all(pair.map((p) => p.exit));
        const report = pair
          .map((p, i) => `exit ${codes[i]}\n${p.lines.join('\n')}\n${p.stderr()}`)
          .join('\n---\n');
        assert.ok(codes.includes(0), report);
        for (const [i, process] of pair.entries()) {
          assert.doesNotMatch(process.stderr(), /already exists/, report);
          if (codes[i] === 0) continue;
          assert.equal(codes[i], 2, report);
          assert.match(
            process.stderr(),
            // Told while the other creates its execution, or when it took the execution this one made.
            /^error: (deployment 'web' already has a running execution \S+ \(install\); wait for it, or cancel it with 'weft cancel'|execution \S+ is being run by process \d+)\n$/,
            report,
          );
        }
      }
    },
  );
});

describe('an install killed after creating its deployment', () => {
  test(
    'continues when run again with the same inputs, even those JSON cannot hold as given',
    LIMIT,
    async () => {
      const dir = join(tempDir(), 'shop');
      cpSync(join(fixtures, 'executions'), dir, { recursive: true });
      const file = join(dir, 'blueprint.yaml');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(
          'inputs:\n',
          'inputs:\n  ratio: {type: float}\n  limits: {type: list, default: []}\n',
        ),
      );
      const state = tempDir();
      const args = [
        'install',
        file,
        '-d',
        'shop',
        '--state-dir',
        state,
        '-i',
        'ratio=-0.0',
        '-i',
        'limits=[.inf, 1.5]',
      ];
      const first = weftInBackground(args, env());
      await first.line(/^Deployment 'shop' created/);
      first.child.kill('SIGKILL');
      await first.exit;
      const again = weft(args, { env: env() });
      assert.equal(again.code, 0, `exit ${again.code}\n${again.stdout}\n${again.stderr}`);
      assert.match(again.stdout, /install succeeded/);
    },
  );
});
