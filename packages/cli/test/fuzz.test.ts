/**
 * The blueprint fuzzer, bounded for every test run (a fixed seed, a few hundred mutations; `npm
 * run fuzz` runs thousands from a new seed): no exception, no hang, no problem without a place,
 * and through the real `weft validate` no stack trace and no exit code but 0 or 2.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '@weft/engine';
import { tempDir, weft } from '@weft/testing/cli';
import { describeFinding, fuzz, mutate, seeds } from './fuzz/fuzzer.js';

const SEED = 20261204;
const CASES = 400;

test(`${CASES} mutated blueprints are each refused with placed problems or accepted, never a crash`, () => {
  const findings = fuzz(CASES, SEED);
  assert.deepEqual(findings.map(describeFinding), []);
});

test('mutated blueprints through weft validate: exit 0 or 2, one line per problem, no stack trace', () => {
  const rng = seededRandom(SEED + 1);
  const all = seeds().filter((seed) => seed.files.size === 0 && !seed.name.startsWith('examples/'));
  const dir = tempDir('weft-fuzz-');
  for (let i = 0; i < 12; i++) {
    const file = join(dir, `case-${i}.yaml`);
    writeFileSync(file, mutate(all[Math.floor(rng() * all.length)]!, rng), 'latin1');
    const r = weft(['validate', file], { cwd: dir });
    assert.ok(r.code === 0 || r.code === 2, `exit ${r.code}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    for (const line of r.stderr.trim().split('\n').filter(Boolean))
      assert.match(line, /^(warning: )?\S+:\d+:\d+ |^\d+ problems? found$/, r.stderr);
  }
});
