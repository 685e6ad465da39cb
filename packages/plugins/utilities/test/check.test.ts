// weft check runs Heat's check of the utility resources (their check_status): a LocalProcess
// whose process was killed behind Weft's back is unhealthy, weft update --refresh replaces it
// (as Heat replaces a resource in CHECK_FAILED), and a Value, which has no handleCheck, is
// checked by its record alone.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { processRunning } from '@weft/testing';
import { NO_WEFT_ENVIRONMENT, ok, tempDir, weft } from '@weft/testing/cli';

const blueprint = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml, plugin:utilities]
node_templates:
  server:
    type: weft.nodes.LocalProcess
    properties:
      command: [${JSON.stringify(process.execPath)}, -e, 'setInterval(() => {}, 1000)']
  greeting:
    type: weft.nodes.Value
    properties: {value: hello}
`;

/** Processes a failed test may leave behind. */
const pids = new Set<number>();
after(() => {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

interface Check {
  drifted: string[];
  unhealthy: string[];
  instances: {
    instance: string;
    node: string;
    status: { checked: boolean; healthy: boolean; error?: string };
  }[];
}

test('weft check runs the resources check; update --refresh replaces the one that failed it', {
  timeout: 120_000,
}, () => {
  const dir = tempDir('weft-utilities-check-');
  const state = ['--state-dir', join(dir, '.weft')];
  const run = (args: string[]) =>
    ok(weft([...args, ...state], { cwd: dir, env: { ...NO_WEFT_ENVIRONMENT, CI: 'true' } }));
  writeFileSync(join(dir, 'blueprint.yaml'), blueprint);
  run(['install', join(dir, 'blueprint.yaml'), '-d', 'c']);
  const server = () => {
    const instances = JSON.parse(run(['instances', '-d', 'c', '--json']).stdout).instances as {
      id: string;
      node: string;
      runtimeProperties: { pid: number };
    }[];
    const found = instances.find((i) => i.node === 'server')!;
    pids.add(found.runtimeProperties.pid);
    return { id: found.id, pid: found.runtimeProperties.pid };
  };
  const check = () => JSON.parse(run(['check', '-d', 'c', '--json']).stdout) as Check;

  const clean = check();
  assert.deepEqual([clean.unhealthy, clean.drifted], [[], []]);
  assert.deepEqual(
    clean.instances.map((i) => [i.node, i.status.checked, i.status.healthy]).sort(),
    [
      ['greeting', true, true],
      ['server', true, true],
    ],
    'both checked: the Value by its record, the LocalProcess by its process',
  );

  const first = server();
  process.kill(-first.pid, 'SIGKILL');
  // Gone once the kill is delivered and the process reaped; waited for, not slept on.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const deadline = Date.now() + 5000; processRunning(first.pid) && Date.now() < deadline; )
    Atomics.wait(pause, 0, 0, 10);
  const found = check();
  assert.deepEqual(found.unhealthy, [first.id]);
  const status = found.instances.find((i) => i.instance === first.id)!.status;
  assert.equal(status.healthy, false);
  assert.match(
    status.error!,
    new RegExp(`LocalProcess ${first.id} failed its check: .*\\[pid ${first.pid}\\] is not running`),
  );
  const text = run(['check', '-d', 'c']).stdout;
  assert.match(text, /0 of 2 started instances drifted, 1 unhealthy/);
  assert.match(text, new RegExp(`! ${first.id}  unhealthy: LocalProcess ${first.id} failed its check`));

  const refreshed = run(['update', '-d', 'c', '--refresh']);
  assert.match(refreshed.stdout, new RegExp(`Drifted or unhealthy, to update or reinstall: ${first.id}`));
  assert.match(
    refreshed.stdout,
    new RegExp(
      `replacing LocalProcess ${first.id}: it failed its last check \\(.*is not running\\); deleting the old resource, then creating a new one`,
    ),
  );
  const second = server();
  assert.equal(second.id, first.id, 'the same instance, with a new resource');
  assert.notEqual(second.pid, first.pid);
  assert.ok(processRunning(second.pid));
  assert.deepEqual(check().unhealthy, []);

  run(['uninstall', '-d', 'c']);
  assert.equal(processRunning(second.pid), false);
});
