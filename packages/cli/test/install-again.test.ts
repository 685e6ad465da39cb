/**
 * `weft install` of a deployment that another `weft install` is creating, or that a kill left
 * created but not installed: the answer is the one a second install always gets.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixtures, tempDir, weftInBackground } from './helpers.js';

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
            /^error: deployment 'web' already has a running execution \S+ \(install\); wait for it, or cancel it with 'weft cancel'\n$/,
            report,
          );
        }
      }
    },
  );
});
