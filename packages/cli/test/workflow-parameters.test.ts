/**
 * `weft exec -p`: parameters are checked against what the workflow declares (Cloudify's types.yaml
 * for the built-in ones) before anything runs; `-i` names a file, not a directory.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixtures, type RunResult, tempDir, weft } from './helpers.js';

const BLUEPRINT = join(fixtures, 'executions', 'blueprint.yaml');
const LIMIT = { timeout: 60_000 };

const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

function installed() {
  const state = tempDir();
  const env = { WEFT_HOME: undefined, WEFT_DATABASE_URL: undefined, WEFT_SECRET_KEY: undefined };
  const run = (args: string[]) => weft([...args, '--state-dir', state], { env });
  const install = run(['install', BLUEPRINT, '-d', 'web']);
  assert.equal(install.code, 0, show(install));
  return run;
}

describe('weft exec -p', () => {
  test('a value of the wrong type is refused in one line, exit 2, and nothing runs', LIMIT, () => {
    const run = installed();
    const cases: [string[], string][] = [
      [
        ['stop', '-p', 'task_retries=abc'],
        `workflow 'stop' parameter 'task_retries' must be an integer, got "abc"`,
      ],
      [
        ['stop', '-p', 'task_retry_interval=soon'],
        `workflow 'stop' parameter 'task_retry_interval' must be a number, got "soon"`,
      ],
      [
        ['stop', '-p', 'node_ids=notalist'],
        `workflow 'stop' parameter 'node_ids' must be a list, got "notalist"`,
      ],
      [
        ['stop', '-p', 'run_by_dependency_order=maybe'],
        `workflow 'stop' parameter 'run_by_dependency_order' must be true or false, got "maybe"`,
      ],
      [
        ['uninstall', '-p', 'ignore_failure=1'],
        `workflow 'uninstall' parameter 'ignore_failure' must be true or false, got 1`,
      ],
      [
        ['scale', '-p', 'scalable_entity_name=app', '-p', 'delta=two'],
        `workflow 'scale' parameter 'delta' must be an integer, got "two"`,
      ],
      [
        ['heal', '-p', 'node_instance_id=[a]'],
        `workflow 'heal' parameter 'node_instance_id' must be a node instance id, got ["a"]`,
      ],
      [
        ['stop', '-p', 'colour=red'],
        "workflow 'stop' has no parameter 'colour' (it has: operation_parms, run_by_dependency_order, type_names, node_ids, node_instance_ids; --allow-custom-parameters passes it on undeclared)",
      ],
    ];
    for (const [args, message] of cases) {
      const r = run(['exec', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}\n${show(r)}`);
      assert.equal(r.stderr, `error: ${message}\n`, args.join(' '));
    }
    const executions = run(['executions', '--json']);
    const list = JSON.parse(executions.stdout).executions as { workflow: string }[];
    assert.deepEqual(
      list.map((e) => e.workflow),
      ['install'],
    );
  });

  test(
    'values of the declared types run; an undeclared one runs with --allow-custom-parameters',
    LIMIT,
    () => {
      const run = installed();
      const ok = run([
        'exec',
        'stop',
        '-p',
        'task_retries=2',
        '-p',
        'node_ids=[app]',
        '-p',
        'run_by_dependency_order=false',
      ]);
      assert.equal(ok.code, 0, show(ok));
      const custom = run(['exec', 'start', '-p', 'colour=red', '--allow-custom-parameters']);
      assert.equal(custom.code, 0, show(custom));
    },
  );
});

describe('weft install -i', () => {
  test('a directory is a one-line problem, exit 2', LIMIT, () => {
    const state = tempDir();
    const r = weft(['install', BLUEPRINT, '-d', 'web', '-i', state, '--state-dir', state]);
    assert.equal(r.code, 2, show(r));
    assert.match(
      r.stderr,
      new RegExp(`-i ${state}: is a directory; give a YAML/JSON inputs file or KEY=VALUE\\n`),
    );
    assert.doesNotMatch(r.stderr, /EISDIR/);
  });
});
