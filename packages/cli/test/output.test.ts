/**
 * What an execution prints besides its progress view: a failing script's stderr once per attempt,
 * the retry policy once, the summary line a pipe ends with, and how --quiet and --verbose change
 * that; -v for the version.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot, tempDir, weft } from './helpers.js';

const HEADER = 'tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\n';

/** A blueprint whose one script fails three times, each time with two lines on stderr. */
function failingScript(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(
    join(dir, 'scripts', 'fail.sh'),
    '#!/bin/sh\necho "checking the disk"\necho "first problem" >&2\necho "disk full at /var" >&2\nexit 3\n',
  );
  writeFileSync(
    join(dir, 'blueprint.yaml'),
    `${HEADER}node_templates:
  fails:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/fail.sh, max_retries: 2, retry_interval: 0}
`,
  );
  return dir;
}

const count = (text: string, part: string) => text.split(part).length - 1;

describe('a failing execution through a pipe', () => {
  test("a script's stderr is shown once per attempt; the retry policy once; a summary line; a report that repeats no log line", () => {
    const dir = failingScript();
    const r = weft(['install', 'blueprint.yaml', '--state-dir', 'state'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    const output = r.stdout + r.stderr;
    assert.equal(count(output, 'first problem'), 3, output);
    // The last line is the cause in the report, once more.
    assert.equal(count(r.stdout, 'disk full at /var'), 3, r.stdout);
    assert.equal(count(r.stderr, 'disk full at /var'), 1, r.stderr);
    assert.match(r.stderr, /^ {2}caused by stderr: disk full at \/var$/m);
    assert.doesNotMatch(r.stderr, /last log lines/);
    // The policy the operation declared, said once, before the first retry.
    const lines = r.stdout.trim().split('\n');
    const policy = lines.findIndex((l) => l.startsWith('A failed operation is retried'));
    assert.equal(
      lines[policy],
      'A failed operation is retried up to 2 times, 0 s apart (max_retries, retry_interval)',
    );
    assert.equal(count(r.stdout, 'A failed operation is retried'), 1);
    assert.match(lines[policy + 1]!, /WARNING .*\[retry 1\/2 in 0 s\]$/);
    assert.match(lines.at(-1)!, /^install failed: 0\/1 operations in \d+\.\ds \(1 failed, 2 retries\)$/);
  });

  test('--quiet prints no progress, only the report (with the last log lines, not shown before)', () => {
    const dir = failingScript();
    const r = weft(['install', 'blueprint.yaml', '--state-dir', 'state', '--quiet'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Execution \S+ \(install\) failed\.$/m);
    assert.match(r.stderr, /^ {2}last log lines:\n(.*\n)*.*\[fails_\w+ create\] <err> disk full at \/var$/m);
  });
});

describe('global options', () => {
  test('--verbose adds the debug logs of operations; --quiet leaves only the results', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'plugin.mjs'),
      "export function op(ctx) { ctx.logger.debug('the details'); ctx.logger.info('the news'); }\n",
    );
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `${HEADER}plugins:
  p: {executor: central_deployment_agent, source: plugin.mjs}
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.op}}
outputs:
  answer: {value: 42}
`,
    );
    const normal = weft(['install', 'blueprint.yaml', '-d', 'a', '--state-dir', 's'], { cwd: dir });
    assert.equal(normal.code, 0, normal.stderr);
    assert.match(normal.stdout, /\[n_\w+ create\] the news$/m);
    assert.doesNotMatch(normal.stdout, /the details/);
    const verbose = weft(['--verbose', 'install', 'blueprint.yaml', '-d', 'b', '--state-dir', 's'], {
      cwd: dir,
    });
    assert.equal(verbose.code, 0, verbose.stderr);
    assert.match(verbose.stdout, /DEBUG \[n_\w+ create\] the details$/m);
    const quiet = weft(['install', 'blueprint.yaml', '-d', 'c', '--state-dir', 's', '-q'], { cwd: dir });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, 'Outputs:\n  answer: 42\n');
    assert.equal(quiet.stderr, '');
    const both = weft(['install', 'blueprint.yaml', '-d', 'd', '--state-dir', 's', '-q', '--verbose'], {
      cwd: dir,
    });
    assert.equal(both.code, 2);
    assert.equal(both.stderr, 'error: --quiet and --verbose cannot be used together\n');
  });

  test('-v prints the version', () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'packages', 'cli', 'package.json'), 'utf8'));
    for (const flag of ['-v', '--version']) {
      const r = weft([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${version}\n`);
    }
  });
});
