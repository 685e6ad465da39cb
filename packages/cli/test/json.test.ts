/** `--json`: one document on standard output, errors included, each with its schema version. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { createProgram } from '../src/program.js';
import { repoRoot, tempDir, weft } from './helpers.js';

const GOOD =
  'tosca_definitions_version: cloudify_dsl_1_3\nimports: [cloudify/types/types.yaml]\nnode_templates:\n  vm: {type: cloudify.nodes.Root}\n';
const BAD =
  'tosca_definitions_version: cloudify_dsl_1_3\nimports: [cloudify/types/types.yaml]\nnode_templates:\n  vm: {type: cloudify.nodes.Rot}\n';

describe('--json', () => {
  test('validate prints one shape, formatted one way, for a valid and an invalid blueprint', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'good.yaml'), GOOD);
    writeFileSync(join(dir, 'bad.yaml'), BAD);
    const good = weft(['validate', 'good.yaml', '--json'], { cwd: dir });
    const bad = weft(['validate', 'bad.yaml', '--json'], { cwd: dir });
    assert.equal(good.code, 0, good.stderr);
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(
      good.stdout,
      `${JSON.stringify({ schemaVersion: 1, valid: true, problems: [], warnings: [] }, null, 2)}\n`,
    );
    const body = JSON.parse(bad.stdout);
    assert.equal(bad.stdout, `${JSON.stringify(body, null, 2)}\n`);
    assert.deepEqual(Object.keys(body), ['schemaVersion', 'valid', 'problems', 'warnings']);
    assert.equal(body.valid, false);
    assert.deepEqual(
      body.problems.map((p: { line: number; col: number; path: string }) => [p.line, p.col, p.path]),
      [[4, 14, 'node_templates.vm.type']],
    );
    assert.equal(good.stderr + bad.stderr, '');
  });

  test("a command's bad blueprint is an error document with every problem, exit 2", () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), BAD);
    for (const command of [['plan'], ['install', '--state-dir', join(dir, 'state')]]) {
      const r = weft([...command, 'bad.yaml', '--json'], { cwd: dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, '');
      const { schemaVersion, error } = JSON.parse(r.stdout);
      assert.equal(schemaVersion, 1);
      assert.equal(error.code, 'blueprint_invalid');
      assert.equal(error.kind, 'usage');
      assert.equal(error.message, '1 problem found');
      assert.equal(error.problems.length, 1);
      assert.match(error.problems[0].message, /cloudify\.nodes\.Rot/);
    }
  });

  test("usage errors, the command line's included, are JSON on standard output with exit code 2", () => {
    const dir = tempDir();
    const state = ['--state-dir', join(dir, 'state')];
    for (const [args, code, message] of [
      [['resume', 'no-such-execution', ...state], 'usage', /^no execution 'no-such-execution'$/],
      [['outputs', '--nope'], 'usage', /^unknown option '--nope'$/],
      [['plan', 'missing.yaml'], 'blueprint_invalid', /^1 problem found$/],
      [['plugins', 'validate', 'nowhere'], 'usage', /^nowhere: no such directory$/],
    ] as const) {
      const r = weft([...args, '--json'], { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr, '', args.join(' '));
      const doc = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(doc), ['schemaVersion', 'error']);
      assert.equal(doc.error.code, code, args.join(' '));
      assert.equal(doc.error.kind, 'usage');
      assert.match(doc.error.message, message);
    }
    // Without --json, the same error is one line on standard error.
    const plain = weft(['resume', 'no-such-execution', ...state], { cwd: dir });
    assert.equal(plain.code, 2);
    assert.equal(plain.stdout, '');
    assert.equal(plain.stderr, "error: no execution 'no-such-execution'\n");
  });

  test("a failure that is not the user's is JSON with exit code 1", () => {
    // A database that does not answer: a failure of the machine, not of the command line.
    const r = weft(['executions', '--db', 'postgres://127.0.0.1:1/nothing', '--json']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    const { error } = JSON.parse(r.stdout);
    assert.deepEqual(error, { code: 'error', kind: 'failure', message: 'connect ECONNREFUSED 127.0.0.1:1' });
  });

  test('every command that takes --json has its document described in the README', async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('## JSON output'),
      readme.indexOf('\n## ', readme.indexOf('## JSON output') + 1),
    );
    assert.ok(section.length > 100, 'the README has a JSON output section');
    const missing: string[] = [];
    const visit = (command: Command, path: string[]) => {
      for (const sub of command.commands) {
        const name = [...path, sub.name()];
        if (sub.options.some((o) => o.long === '--json') && !section.includes(`\`weft ${name.join(' ')}`))
          missing.push(name.join(' '));
        visit(sub, name);
      }
    };
    visit(await createProgram(), []);
    assert.deepEqual(missing, []);
  });
});
