/**
 * Workflow scripts through the real `weft` command with real python3: `workflows: NAME:
 * scripts/x.py` runs with Cloudify's workflow ctx (`from cloudify.workflows import ctx`). The
 * fixture holds cloudify-manager's test_script_mapping (its blueprint part, workflow and
 * operation scripts, unchanged) and workflows of our own.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixtures, type RunResult, tempDir, weft, weftInBackground } from './helpers.js';

const LIMIT = { timeout: 90_000 };
const blueprint = join(fixtures, 'script-workflows', 'blueprint.yaml');
const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

interface Instance {
  id: string;
  node: string;
  state: string;
  runtimeProperties: Record<string, unknown>;
}

/** Whether the process ends within a few seconds (it is not ours to wait for). */
async function ended(pid: number): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** A PostgreSQL schema of its own for a test (as the crash-and-resume tests use). */
const postgres = () => [
  '--db',
  `postgres://postgres@127.0.0.1:5432/test?schema=weft_wf_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
];

/** An installed deployment of the fixture in a directory of its own (on SQLite, or with `db` args). */
function installed(db: string[] = []) {
  const dir = tempDir();
  const options = ['--state-dir', join(dir, '.weft'), ...db];
  const run = (args: string[]) => weft([...args, ...options], { cwd: dir });
  const install = run(['install', blueprint, '-d', 'dep']);
  assert.equal(install.code, 0, show(install));
  const instances = (): Instance[] =>
    (JSON.parse(run(['instances', '--json']).stdout) as { instances: Instance[] }).instances;
  const web = () =>
    instances()
      .filter((i) => i.node === 'web')
      .sort((a, b) => a.id.localeCompare(b.id));
  const log = join(dir, 'log');
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  return { dir, run, options, instances, web, log, lines };
}

describe('workflow scripts (weft exec NAME with workflows: NAME: scripts/x.py)', () => {
  test("cloudify-manager's test_script_mapping runs unchanged", LIMIT, async () => {
    const d = installed();
    const result = d.run(['exec', 'workflow']);
    assert.equal(result.code, 0, show(result));
    const node = d.instances().find((i) => i.node === 'node')!;
    // op2's result went into op1 through the workflow, as the manager's test checks.
    assert.equal(node.runtimeProperties.op1_called_with_property, 'op2_called');
    assert.equal(node.runtimeProperties.op2_prop, 'op2_value');
    assert.equal(node.runtimeProperties.op3_called, undefined);
  });

  test(
    "cloudify-manager's test_deployment_id_parameters.py runs unchanged (input.json, update_node_instance)",
    LIMIT,
    async () => {
      const d = installed();
      const result = d.run(['exec', 'test_parameters', '-p', 'a_deployment_id=dep']);
      assert.equal(result.code, 0, show(result));
      assert.match(result.stdout, /Tested parameter 'a_deployment_id' is dep/);
      const node = d.instances().find((i) => i.node === 'test_node')!;
      assert.deepEqual(node.runtimeProperties, {
        tested: true,
        a_deployment_id: 'dep',
        some_string: 'lorem ipsum',
      });
    },
  );

  test(
    "cloudify-common's script_runner test_execute_workflow: the long form, with its result",
    LIMIT,
    async () => {
      const dir = tempDir();
      const options = ['--state-dir', join(dir, '.weft')];
      const runner = join(fixtures, 'script-runner', 'blueprint.yaml');
      assert.equal(weft(['install', runner, ...options]).code, 0);
      const result = weft(['exec', 'workflow_script', '-p', 'key=value', ...options]);
      assert.equal(result.code, 0, show(result));
      const events = weft(['events', '--json', ...options])
        .stdout.trim()
        .split('\n');
      const done = events
        .map((line) => JSON.parse(line) as { type: string; message: string; data: unknown })
        .find((e) => e.type === 'task_succeeded' && e.message === 'workflow_script.py succeeded');
      // The workflow returned what the operation returned: the parameter it was given.
      assert.deepEqual(done?.data, { result: 'value' });
      const missing = weft(['exec', 'workflow_script', ...options]);
      assert.equal(missing.code, 2, show(missing));
      assert.match(missing.stderr, /workflow 'workflow_script' needs the parameter 'key'/);
    },
  );

  test('an operation on each instance in order, with parameters (-p), logs and events', LIMIT, async () => {
    const d = installed();
    const result = d.run(['exec', 'each', '-p', `log=${d.log}`, '-p', 'greeting=hi']);
    assert.equal(result.code, 0, show(result));
    const web = d.web();
    assert.deepEqual(
      d.lines(),
      web.map((i) => `${i.id} hi`),
    );
    for (const instance of web) {
      assert.equal(instance.runtimeProperties.recorded, 'hi');
      assert.equal(instance.state, 'configured');
    }
    assert.match(result.stdout, /workflow each of dep \(execution [0-9a-f-]{36}\), greeting hi/);
    assert.match(
      result.stdout,
      new RegExp(`recording ${web[0]!.id}\\n.*\\[${web[0]!.id}\\] about to record`),
    );
    assert.match(result.stdout, new RegExp(`results: ${web.map((i) => `recorded ${i.id}`).join(', ')}`));
    assert.match(result.stdout, /each succeeded: 3\/3 operations/);
    // The events are stored with the execution.
    const events = d.run(['events', '-d', 'dep']);
    assert.match(events.stdout, new RegExp(`recording ${web[2]!.id}`));
  });

  test("a parameter the workflow needs is asked for; the greeting's default is used", LIMIT, async () => {
    const d = installed();
    const missing = d.run(['exec', 'each']);
    assert.equal(missing.code, 2, show(missing));
    assert.match(missing.stderr, /workflow 'each' needs the parameter 'log' \(-p log=VALUE\)/);
    const result = d.run(['exec', 'each', '-p', `log=${d.log}`]);
    assert.equal(result.code, 0, show(result));
    assert.deepEqual(
      d.lines(),
      d.web().map((i) => `${i.id} hello`),
    );
  });

  test(
    'a failed operation raises in the script and fails the execution with a clear report',
    LIMIT,
    async () => {
      const d = installed();
      const result = d.run(['exec', 'failing', '-p', `log=${d.log}`]);
      assert.equal(result.code, 1, show(result));
      // The script takes the node's first instance (next(node.instances)).
      const first = d.lines()[0]!.replace('broken on ', '');
      assert.ok(
        d.web().some((i) => i.id === first),
        d.lines().join('\n'),
      );
      const all = result.stdout + result.stderr;
      assert.match(
        all,
        new RegExp(
          `caught: custom.broken on ${first} failed: scripts/operations/broken.sh exited with code 3`,
        ),
      );
      assert.match(all, /failed task: workflow script scripts\/workflows\/failing\.py\n/);
      assert.match(
        all,
        new RegExp(
          `error: custom.broken on ${first} failed: scripts/operations/broken.sh exited with code 3\\n`,
        ),
      );
      // max_retries: 0 — it ran once, and the workflow is not retried either.
      assert.deepEqual(d.lines(), [`broken on ${first}`]);
    },
  );

  test('graph mode: sequences of events, operations and states; a subgraph', LIMIT, async () => {
    const d = installed();
    const result = d.run(['exec', 'graph', '-p', `log=${d.log}`]);
    assert.equal(result.code, 0, show(result));
    const ids = d.web().map((i) => i.id);
    const lines = d.lines();
    assert.deepEqual(
      lines.slice(0, 3),
      ids.map((id) => `${id} first`),
    );
    assert.deepEqual(
      lines.slice(3).sort(),
      ids.map((id) => `${id} again`),
    );
    for (const instance of d.web()) assert.equal(instance.state, 'started');
  });

  test("relationship operations: a relationship's execute_source_operation", LIMIT, async () => {
    const d = installed();
    const result = d.run(['exec', 'links', '-p', `log=${d.log}`]);
    assert.equal(result.code, 0, show(result));
    const target = d.instances().find((i) => i.node === 'test_node')!.id;
    assert.deepEqual(
      d.lines(),
      d.web().map((i) => `${i.id} -> ${target}`),
    );
  });

  test(
    'a shell script as a workflow is refused, saying why (Cloudify runs workflow scripts with Python)',
    LIMIT,
    async () => {
      const d = installed();
      const result = d.run(['exec', 'shell']);
      assert.equal(result.code, 1, show(result));
      assert.match(
        result.stdout + result.stderr,
        /workflow script 'scripts\/operations\/op2\.sh' is not Python: Cloudify runs workflow scripts with Python/,
      );
    },
  );

  test('validate accepts workflow scripts and exec lists them', LIMIT, async () => {
    const d = installed();
    const valid = weft(['validate', blueprint]);
    assert.equal(valid.code, 0, show(valid));
    const unknown = d.run(['exec', 'nope']);
    assert.equal(unknown.code, 2, show(unknown));
    assert.match(
      unknown.stderr,
      /can run check_drift, check_status, each, execute_operation, failing, gated, graph, heal, .*, shell, .*, workflow$/m,
    );
  });

  for (const [backend, db] of [
    ['SQLite', () => []],
    ['PostgreSQL', postgres],
  ] as const)
    test(
      `killed (kill -9) between two operations, resume runs the script again without running the finished one again (${backend})`,
      LIMIT,
      async () => {
        const d = installed(db());
        const gate = join(d.dir, 'gate');
        const exec = weftInBackground(
          ['exec', 'gated', '-p', `log=${d.log}`, '-p', `gate=${gate}`, ...d.options],
          { ...process.env, NO_COLOR: '1' },
        );
        await exec.line(/step one done$/);
        exec.child.kill('SIGKILL');
        await exec.exit;
        // The first run of the script ends with the engine: it does not go on beside the resumed one.
        const script = Number(readFileSync(`${d.log}.pid`, 'utf8'));
        assert.ok(await ended(script), `the workflow script (pid ${script}) outlived the engine`);
        writeFileSync(gate, '');
        const resumed = d.run(['resume']);
        assert.equal(resumed.code, 0, show(resumed));
        const first = d.web()[0]!.id;
        assert.deepEqual(d.lines(), [`${first} one`, `${first} two`]);
        assert.match(resumed.stdout, /gated succeeded: 2\/2 operations/);
      },
    );
});
