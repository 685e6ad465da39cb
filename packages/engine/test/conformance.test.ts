/**
 * The conformance suite: each case in test/conformance/*.yaml is a blueprint (plus optional
 * extra files and inputs) and what Weft must make of it: the exact problems, or facts about
 * the plan. See test/conformance/README.md for the case format.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { fileSystemReader, formatProblem, loadBlueprint, type PlanJson, planToJson } from '../src/index.js';

interface Case {
  name: string;
  blueprint: string;
  files?: Record<string, string>;
  inputs?: Record<string, unknown>;
  plugins?: Record<string, string>;
  deployment?: string;
  todo?: string;
  expect: {
    valid?: boolean;
    /** Some problem, one of them containing this text (the key problem; the others may change). */
    invalid?: string;
    problems?: string[];
    plan?: unknown;
    counts?: Record<string, number>;
    properties?: Record<string, Record<string, unknown>>;
    outputs?: Record<string, unknown>;
    install?: string[];
    waves?: string[][];
    relationships?: Record<string, number>;
    hosts?: Record<string, string>;
  };
}

const casesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'conformance');

/** Every key of `expected` is in `actual` with a matching value; lists match item by item. */
function assertSubset(actual: unknown, expected: unknown, path: string): void {
  if (expected !== null && typeof expected === 'object') {
    if (Array.isArray(expected)) {
      assert.ok(Array.isArray(actual), `${path}: expected a list, got ${JSON.stringify(actual)}`);
      assert.equal(
        actual.length,
        expected.length,
        `${path}: expected ${expected.length} items, got ${actual.length}: ${JSON.stringify(actual)}`,
      );
      expected.forEach((item, i) => {
        assertSubset(actual[i], item, `${path}[${i}]`);
      });
      return;
    }
    assert.ok(
      actual !== null && typeof actual === 'object',
      `${path}: expected a mapping, got ${JSON.stringify(actual)}`,
    );
    for (const [k, v] of Object.entries(expected))
      assertSubset((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
    return;
  }
  assert.deepEqual(
    actual,
    expected,
    `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
  );
}

function stepName(step: PlanJson['install'][number]): string {
  const op = step.operation.split('.').pop();
  return step.side ? `${step.node}.${op}[${step.side}]` : `${step.node}.${op}`;
}

function runCase(c: Case): void {
  const dir = mkdtempSync(join(tmpdir(), 'weft-conf-'));
  try {
    const main = join(dir, 'blueprint.yaml');
    writeFileSync(main, c.blueprint);
    for (const [name, text] of Object.entries(c.files ?? {})) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    const plugins = c.plugins ?? {};
    const reader = fileSystemReader({
      resolvePlugin: (name) => (plugins[name] ? join(dir, plugins[name]) : undefined),
    });
    const wantsPlan =
      c.inputs !== undefined ||
      Object.keys(c.expect).some((k) => !['valid', 'invalid', 'problems'].includes(k));
    const result = loadBlueprint(main, {
      reader,
      deploymentId: c.deployment ?? 'dep',
      validateOnly: !wantsPlan,
      ...(c.inputs ? { inputs: c.inputs as never } : {}),
    });
    const problems = result.problems.sorted().map((p) => formatProblem(p, dir));
    if (c.expect.invalid !== undefined) {
      const key = c.expect.invalid;
      assert.ok(
        problems.some((p) => p.includes(key)),
        `expected a problem containing:\n  ${key}\ngot:\n  ${problems.join('\n  ') || '(none)'}`,
      );
      return;
    }
    if (c.expect.problems) {
      const unmatched = [...problems];
      for (const expected of c.expect.problems) {
        const at = unmatched.findIndex((p) => p.includes(expected));
        assert.ok(
          at >= 0,
          `expected a problem containing:\n  ${expected}\ngot:\n  ${problems.join('\n  ') || '(none)'}`,
        );
        unmatched.splice(at, 1);
      }
      assert.deepEqual(unmatched, [], `unexpected extra problems:\n  ${unmatched.join('\n  ')}`);
      return;
    }
    assert.deepEqual(problems, [], `expected no problems, got:\n  ${problems.join('\n  ')}`);
    if (!wantsPlan) return;
    assert.ok(result.plan, 'expected a plan');
    const plan = planToJson(result.plan, dir);
    const e = c.expect;
    if (e.plan) assertSubset(plan, e.plan, 'plan');
    if (e.counts) {
      for (const [node, n] of Object.entries(e.counts)) {
        assert.equal(plan.instances.filter((i) => i.node === node).length, n, `instances of ${node}`);
      }
    }
    if (e.properties) {
      for (const [node, props] of Object.entries(e.properties)) {
        assertSubset(plan.nodes.find((n) => n.name === node)?.properties, props, `${node}.properties`);
      }
    }
    if (e.outputs) assertSubset(plan.outputs, e.outputs, 'outputs');
    if (e.install) assert.deepEqual(plan.install.map(stepName), e.install);
    if (e.waves) {
      const waves: string[][] = [];
      for (const step of plan.install) {
        const wave = waves[step.wave - 1] ?? [];
        waves[step.wave - 1] = wave;
        wave.push(stepName(step));
      }
      assert.deepEqual(
        waves.map((w) => [...w].sort()),
        e.waves.map((w) => [...w].sort()),
      );
    }
    if (e.relationships) {
      for (const [node, n] of Object.entries(e.relationships)) {
        const total = plan.instances
          .filter((i) => i.node === node)
          .reduce((sum, i) => sum + i.relationships.length, 0);
        assert.equal(total, n, `relationship instances from ${node}`);
      }
    }
    if (e.hosts) {
      const nodeOf = new Map(plan.instances.map((i) => [i.id, i.node]));
      for (const [node, host] of Object.entries(e.hosts)) {
        for (const instance of plan.instances.filter((i) => i.node === node)) {
          assert.equal(
            instance.containedIn && nodeOf.get(instance.containedIn),
            host,
            `${instance.id} is contained in a ${host}`,
          );
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const file of readdirSync(casesDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()) {
  const cases = load(readFileSync(join(casesDir, file), 'utf8')) as Case[];
  describe(`conformance/${file}`, () => {
    for (const c of cases) {
      // CONFORMANCE_STRICT=1 runs known gaps as ordinary tests, to see which have been closed.
      test(c.name, { todo: process.env.CONFORMANCE_STRICT ? undefined : c.todo }, () => runCase(c));
    }
  });
}
