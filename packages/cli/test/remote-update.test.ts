/**
 * The deployment update through the CLI against a real `weft serve` in another process (SQLite):
 * `weft plan -d` prints the server's plan as the local command prints its own, `weft update -b`
 * updates to a stored blueprint and follows it live, `weft exec rollback` brings it back, and the
 * local-only options are refused by name (`-e` is not one: remote-parity.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@weft/testing/cli';
import { serveForCli } from './helpers.js';

// Each operation counts its runs on its instance, so that what an update ran is visible.
const SCRIPT = `#!/bin/bash
set -e
name=$(ctx operation name)
name=\${name##*.}
if [ "$(ctx type)" = relationship-instance ]; then who="source instance"; else who=instance; fi
n=$(ctx $who runtime-properties "$name" 2>/dev/null || true)
ctx $who runtime-properties "$name" $(( \${n:-0} + 1 ))
echo "ran $name on $(ctx node name 2>/dev/null || ctx source node name)"
`;

const HEAD = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
inputs:
  port: {type: integer, default: 80}
node_types:
  t.App:
    derived_from: cloudify.nodes.Root
    properties: {port: {default: 80}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/count.sh
        start: scripts/count.sh
        stop: scripts/count.sh
        delete: scripts/count.sh
relationships:
  t.rel:
    derived_from: cloudify.relationships.depends_on
    source_interfaces:
      cloudify.interfaces.relationship_lifecycle: {establish: scripts/count.sh, unlink: scripts/count.sh}
`;

const V1 = `${HEAD}
node_templates:
  db: {type: t.App, properties: {port: {get_input: port}}}
  old: {type: t.App}
  web:
    type: t.App
    relationships: [{type: t.rel, target: db}, {type: t.rel, target: old}]
outputs:
  db_port: {value: {get_property: [db, port]}}
`;

const V2 = `${HEAD}
node_templates:
  db: {type: t.App, properties: {port: {get_input: port}}}
  cache: {type: t.App}
  web:
    type: t.App
    relationships: [{type: t.rel, target: db}, {type: t.rel, target: cache}]
outputs:
  db_port: {value: {get_property: [db, port]}}
`;

/** A blueprint directory: blueprint.yaml and its script. */
function blueprintDir(root: string, name: string, text: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'scripts', 'count.sh'), SCRIPT, { mode: 0o755 });
  writeFileSync(join(dir, 'blueprint.yaml'), text);
  return dir;
}

/** Instance ids end in a random suffix: the same plan on two stores differs only there. */
const sameIds = (text: string) => text.replace(/\b(db|old|web|cache)_[0-9a-z]{6}\b/g, '$1_*');

test('the deployment update against a server: plan, update, rollback, refusals', async (t) => {
  const { run } = await serveForCli(t);
  const root = tempDir();
  const v1 = blueprintDir(root, 'v1', V1);
  const v2 = blueprintDir(root, 'v2', V2);
  const local = ['--state-dir', join(root, 'local-state')];

  const installed = await run(['install', v1, '-d', 'app']);
  assert.equal(installed.code, 0, installed.stderr);
  const uploaded = await run(['blueprints', 'upload', v2, '--id', 'app-v2']);
  assert.equal(uploaded.code, 0, uploaded.stderr);
  // The same deployment on local state, to compare the plans with.
  assert.equal((await run(['install', join(v1, 'blueprint.yaml'), '-d', 'app', ...local])).code, 0);

  await t.test('plan -d -b prints the plan as the local command prints it, as text and JSON', async () => {
    for (const json of [[], ['--json']]) {
      const remote = await run(['plan', '-d', 'app', '-b', 'app-v2', '-i', 'port=5432', ...json]);
      assert.equal(remote.code, 0, remote.stderr);
      const own = await run([
        'plan',
        join(v2, 'blueprint.yaml'),
        '-d',
        'app',
        '-i',
        'port=5432',
        ...local,
        ...json,
      ]);
      assert.equal(own.code, 0, own.stderr);
      assert.equal(sameIds(remote.stdout), sameIds(own.stdout));
      if (json.length === 0) {
        assert.match(remote.stdout, /^Deployment 'app' would change:/);
        assert.ok(remote.stdout.split('\n').includes('  + cache'), remote.stdout);
      } else {
        const plan = JSON.parse(remote.stdout);
        assert.equal(plan.schemaVersion, 1);
        assert.deepEqual(
          plan.nodes.map((n: { node: string; action: string }) => [n.node, n.action]),
          [
            ['cache', 'add'],
            ['db', 'reinstall'],
            ['web', 'relink'],
            ['old', 'remove'],
          ],
        );
      }
    }
    // Without -b: the deployment's own blueprint, so only the inputs change.
    const inputsOnly = await run(['plan', '-d', 'app', '--json']);
    assert.equal(inputsOnly.code, 0, inputsOnly.stderr);
    assert.equal(JSON.parse(inputsOnly.stdout).changes, false);
    // Planning changed nothing on the server.
    const executions = JSON.parse((await run(['executions', '-d', 'app', '--json'])).stdout);
    assert.deepEqual(
      executions.executions.map((e: { workflow: string }) => e.workflow),
      ['install'],
    );
  });

  await t.test(
    'a blueprint path, -b locally and the options the API lacks are refused by name (exit 2)',
    async () => {
      const path = await run(['update', v2, '-d', 'app']);
      assert.equal(path.code, 2);
      assert.equal(path.stderr.trim().split('\n').length, 1, path.stderr);
      assert.match(path.stderr, /weft blueprints upload .*v2 --id ID, then weft update -b ID -d DEPLOYMENT/);
      const planPath = await run(['plan', join(v2, 'blueprint.yaml'), '-d', 'app']);
      assert.equal(planPath.code, 2);
      assert.match(planPath.stderr, /weft blueprints upload /);
      for (const [option, args] of [
        ['--dry-run', ['--dry-run']],
        ['--plugin-dir', ['--plugin-dir', root]],
      ] as const) {
        const r = await run(['update', '-d', 'app', '-b', 'app-v2', ...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.ok(r.stderr.includes(`${option} is not available for weft update with a server`), r.stderr);
      }
      const pluginDir = await run(['plan', '-d', 'app', '-b', 'app-v2', '--plugin-dir', root]);
      assert.equal(pluginDir.code, 2);
      assert.match(pluginDir.stderr, /--plugin-dir is not available for weft plan -d with a server/);
      const locally = await run(['update', '-d', 'app', '-b', 'app-v2', ...local]);
      assert.equal(locally.code, 2);
      assert.match(locally.stderr, /-b\/--blueprint-id names a blueprint stored on a server/);
      const unknown = await run(['update', '-d', 'app', '-b', 'no-such']);
      assert.equal(unknown.code, 2);
      // Nothing was started by any of them.
      const executions = JSON.parse((await run(['executions', '-d', 'app', '--json'])).stdout);
      assert.equal(executions.executions.length, 1);
    },
  );

  await t.test(
    'update -b runs on the server, followed live; the deployment is of the new blueprint',
    async () => {
      const r = await run(['update', '-d', 'app', '-b', 'app-v2', '-i', 'port=5432']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\[cache_\w+ create\] ran create on cache/, 'operation logs, as local lines');
      assert.match(r.stdout, /^update succeeded: /m);
      assert.match(r.stdout, /Outputs:\n {2}db_port: 5432/);
      const list = await run(['deployments', '--json']);
      const app = JSON.parse(list.stdout).deployments.find((d: { id: string }) => d.id === 'app');
      assert.equal(app.blueprintId, 'app-v2');
      const instances = JSON.parse((await run(['instances', '-d', 'app', '--json'])).stdout).instances;
      assert.deepEqual(instances.map((i: { node: string }) => i.node).sort(), ['cache', 'db', 'web']);
    },
  );

  await t.test('exec rollback goes back to the version before the last update', async () => {
    const r = await run(['exec', 'rollback', '-d', 'app']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^rollback succeeded: /m);
    assert.match(r.stdout, /\[old_\w+ create\] ran create on old/);
    assert.match(r.stdout, /Outputs:\n {2}db_port: 80/);
    const list = await run(['deployments', '--json']);
    const app = JSON.parse(list.stdout).deployments.find((d: { id: string }) => d.id === 'app');
    assert.equal(app.blueprintId, 'app');
    const instances = JSON.parse((await run(['instances', '-d', 'app', '--json'])).stdout).instances;
    assert.deepEqual(instances.map((i: { node: string }) => i.node).sort(), ['db', 'old', 'web']);
  });

  await t.test('update --json prints the execution as the local command does', async () => {
    const r = await run(['update', '-d', 'app', '-b', 'app-v2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { execution } = JSON.parse(r.stdout);
    assert.equal(execution.workflow, 'update');
    assert.equal(execution.status, 'terminated');
  });
});
