/**
 * `npm run fuzz [-- --cases N --seed S --out DIR]`: the blueprint fuzzer at length (5,000
 * mutations by default). Each finding is printed, and with --out its blueprint is written there
 * to be replayed with `weft validate`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeFinding, fuzz } from './fuzzer.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '5000' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    out: { type: 'string' },
  },
});
const cases = Number(values.cases);
const seed = Number(values.seed);
const started = performance.now();
const findings = fuzz(cases, seed, (i) => {
  if ((i + 1) % 1000 === 0) process.stderr.write(`${i + 1} cases...\n`);
});
for (const finding of findings) {
  process.stdout.write(`${describeFinding(finding)}\n`);
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, `case-${finding.case}.yaml`), finding.blueprint);
  }
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`seed ${seed}: ${cases} mutated blueprints in ${seconds}s\n`);
process.stdout.write(`${cases - findings.length} passed, ${findings.length} failed\n`);
process.exitCode = findings.length > 0 ? 1 : 0;
