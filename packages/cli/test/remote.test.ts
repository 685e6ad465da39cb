/**
 * The CLI as the server's client: the same commands, with WEFT_SERVER and WEFT_TOKEN set, act on a
 * real `weft serve` in another process, with the same output and exit codes as local ones.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@weft/testing/cli';
import { repoRoot, serveForCli } from './helpers.js';

const hello = join(repoRoot, 'examples', 'hello-files');

// One test: the background server is stopped after each test (@weft/testing's afterEach).
test('the CLI against a server: install, inspect, secrets, blueprints, problems, uninstall, delete', async (t) => {
  const { server, run } = await serveForCli(t);

  await t.test(
    'install uploads the blueprint, creates the deployment, follows the install and prints outputs',
    async () => {
      const r = await run(['install', hello, '-d', 'web', '-i', 'title=From afar']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\[site_\w+ create\] site directory /, 'plugin logs, as local lines');
      assert.match(r.stdout, /^install succeeded: 3\/3 operations in /m);
      assert.match(r.stdout, /Outputs:\n {2}page: ".*index\.html"/);
      const again = await run(['install', hello, '-d', 'web']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /already installed/);
    },
  );

  await t.test('deployments, instances, outputs, executions and events read the server', async () => {
    const list = await run(['deployments']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^web\s+installed\s+web\s+install terminated/m);
    const instances = JSON.parse((await run(['instances', '-d', 'web', '--json'])).stdout);
    assert.deepEqual(
      instances.instances.map((i: { state: string }) => i.state),
      ['started', 'started'],
    );
    const output = await run(['outputs', 'page', '-d', 'web', '--raw']);
    assert.match(output.stdout, /index\.html\n$/);
    const executions = await run(['executions']);
    assert.match(executions.stdout, /web\s+install\s+terminated/);
    const events = await run(['events', '-d', 'web', '--level', 'info', '--tail', '2']);
    assert.equal(events.stdout.trim().split('\n').length, 2);
    assert.match(events.stdout, /succeeded|finished/);
  });

  await t.test('secrets and blueprints on the server', async () => {
    assert.equal((await run(['secrets', 'set', 'db_password', 'hunter22'])).code, 0);
    const listed = await run(['secrets', 'list', '--json']);
    assert.deepEqual(
      JSON.parse(listed.stdout).secrets.map((s: { key: string }) => s.key),
      ['db_password'],
    );
    assert.ok(!listed.stdout.includes('hunter22'));
    assert.equal((await run(['secrets', 'get', 'db_password'])).stdout, 'hunter22\n');
    assert.equal((await run(['secrets', 'get', 'nope'])).code, 2);
    const blueprints = await run(['blueprints', 'list']);
    assert.match(blueprints.stdout, /^web\s+blueprint\.yaml/m);
    const busy = await run(['blueprints', 'delete', 'web']);
    assert.equal(busy.code, 2, 'refused while a deployment was made from it');
  });

  await t.test(
    'a bad blueprint is refused with its problems at local paths (exit 2); a bad workflow too',
    async () => {
      const dir = tempDir();
      mkdirSync(join(dir, 'bad'));
      writeFileSync(
        join(dir, 'bad', 'blueprint.yaml'),
        'tosca_definitions_version: cloudify_dsl_1_4\nnode_templates:\n  a:\n    type: no.such.Type\n',
      );
      const r = await run(['install', join(dir, 'bad'), '-d', 'bad']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /blueprint\.yaml:4:11 node_templates\.a\.type: /);
      const workflow = await run(['exec', 'dance', '-d', 'web']);
      assert.equal(workflow.code, 2);
      assert.match(workflow.stderr, /unknown workflow 'dance'/);
    },
  );

  await t.test('uninstall and delete the deployment', async () => {
    const refused = await run(['deployments', 'delete', 'web', '--yes']);
    assert.equal(refused.code, 2, 'live instances');
    const r = await run(['uninstall', '-d', 'web', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^uninstall succeeded: /m);
    assert.equal((await run(['deployments', 'delete', 'web', '--yes'])).code, 0);
    assert.match((await run(['deployments'])).stdout, /No deployments/);
  });
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  assert.equal(await exited, 0);
});
