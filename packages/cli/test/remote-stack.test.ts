/**
 * `weft stack snapshot|snapshots|snapshot-show|snapshot-delete|restore` against a real `weft
 * serve` in another process (SQLite): the server's snapshot routes, with the local commands'
 * output and exit codes; and `weft cancel --no-rollback` of a stack's create there.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, weftInBackground } from '@weft/testing/cli';
import { serveForCli } from './helpers.js';

const PASSWORD = `heat_template_version: 2018-08-31
parameters:
  length: {type: number, default: 12}
resources:
  password:
    type: OS::Heat::RandomString
    properties: {length: {get_param: length}}
outputs:
  password: {value: {get_attr: [password, value]}}
`;

test('HOT stack snapshots against a server: taken, listed, shown, restored after an update, deleted', async (t) => {
  const { run } = await serveForCli(t);
  const root = tempDir();
  writeFileSync(join(root, 'template.yaml'), PASSWORD);
  writeFileSync(join(root, 'template16.yaml'), PASSWORD.replace('default: 12', 'default: 16'));
  const ok = async (args: string[]) => {
    const done = await run(args, root);
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stderr}`);
    return done;
  };
  await ok(['install', 'template.yaml', '-d', 'stack']);
  // The stack and its resources with Heat's states and types, as locally.
  const instances = JSON.parse((await ok(['instances', '-d', 'stack', '--json'])).stdout) as {
    stackState: string;
    stackStatusReason: string;
    instances: { node: string; heatState: string; heatType: string }[];
  };
  assert.deepEqual(
    [instances.stackState, instances.stackStatusReason],
    ['CREATE_COMPLETE', 'Stack CREATE completed successfully'],
  );
  assert.deepEqual(
    instances.instances.map((i) => `${i.node} ${i.heatState} ${i.heatType}`),
    ['password CREATE_COMPLETE OS::Heat::RandomString'],
  );
  assert.match(
    (await ok(['instances', '-d', 'stack'])).stdout,
    /^Stack stack: CREATE_COMPLETE\n {2}status reason: Stack CREATE completed successfully\npassword_\w+ {2}CREATE_COMPLETE {2}OS::Heat::RandomString {2}\{/,
  );
  const outputs = async () =>
    (
      JSON.parse((await ok(['outputs', '-d', 'stack', '--json'])).stdout) as {
        outputs: Record<string, unknown>;
      }
    ).outputs;
  const before = await outputs();

  assert.match((await ok(['stack', 'snapshots', '-d', 'stack'])).stdout, /^Stack 'stack' has no snapshots/);
  const taken = JSON.parse((await ok(['stack', 'snapshot', '-d', 'stack', 'first', '--json'])).stdout) as {
    snapshot: { id: string; name: string; status: string };
    execution: { workflow: string; status: string };
  };
  assert.equal(taken.snapshot.name, 'first');
  assert.equal(taken.snapshot.status, 'COMPLETE');
  assert.deepEqual([taken.execution.workflow, taken.execution.status], ['snapshot', 'terminated']);
  const listed = JSON.parse((await ok(['stack', 'snapshots', '-d', 'stack', '--json'])).stdout) as {
    deployment: string;
    snapshots: { id: string; name: string; status: string }[];
  };
  assert.equal(listed.deployment, 'stack');
  assert.deepEqual(
    listed.snapshots.map((s) => [s.id, s.name, s.status]),
    [[taken.snapshot.id, 'first', 'COMPLETE']],
  );
  const shown = JSON.parse((await ok(['stack', 'snapshot-show', '-d', 'stack', 'first'])).stdout) as {
    id: string;
    data: { action: string; status: string };
  };
  assert.equal(shown.id, taken.snapshot.id);
  assert.equal(`${shown.data.action}_${shown.data.status}`, 'SNAPSHOT_COMPLETE');

  await ok(['blueprints', 'upload', join(root, 'template16.yaml'), '--id', 'stack16']);
  await ok(['update', '-d', 'stack', '-b', 'stack16']);
  assert.equal(((await outputs()).password as string).length, 16);
  await ok(['stack', 'restore', '-d', 'stack', 'first']);
  assert.deepEqual(await outputs(), before, "the snapshot's values are back");

  assert.match((await ok(['stack', 'snapshot-delete', '-d', 'stack', 'first'])).stderr, /\(first\) deleted/);
  assert.match((await ok(['stack', 'snapshots', '-d', 'stack'])).stdout, /has no snapshots/);
  const gone = await run(['stack', 'snapshot-show', '-d', 'stack', 'first'], root);
  assert.equal(gone.code, 2, gone.stderr);
  assert.match(gone.stderr, /^error: snapshot 'first' not found/);
  // The local-only options are refused by name.
  const dir = await run(['stack', 'snapshot', '-d', 'stack', '--plugin-dir', root], root);
  assert.equal(dir.code, 2, dir.stderr);
  assert.match(dir.stderr, /--plugin-dir is not available for weft stack snapshot with a server/);
});

test("HOT resource types against a server are Heat's: a registry alias and a template file as the template gives them", async (t) => {
  const { run } = await serveForCli(t);
  const root = tempDir();
  writeFileSync(
    join(root, 'main.yaml'),
    'heat_template_version: 2018-08-31\nresources:\n  password: {type: My::Password}\n  nested: {type: nested.yaml}\n',
  );
  writeFileSync(
    join(root, 'nested.yaml'),
    'heat_template_version: 2018-08-31\nresources:\n  value: {type: OS::Heat::Value, properties: {value: v}}\n',
  );
  writeFileSync(join(root, 'env.yaml'), 'resource_registry:\n  My::Password: OS::Heat::RandomString\n');
  const installed = await run(['install', 'main.yaml', '-e', 'env.yaml', '-d', 'stack'], root);
  assert.equal(installed.code, 0, installed.stderr);
  const listed = JSON.parse((await run(['instances', '-d', 'stack', '--json'], root)).stdout) as {
    instances: { node: string; heatType: string }[];
  };
  assert.deepEqual(listed.instances.map((i) => `${i.node} ${i.heatType}`).sort(), [
    'nested nested.yaml',
    'nested.value OS::Heat::Value',
    'password My::Password',
  ]);
});

test("HOT stack abandon and adopt against a server: the abandon data answered and the deployment forgotten, then adopted with the data's template, its resources taken over", async (t) => {
  const { run, url, env } = await serveForCli(t);
  const root = tempDir();
  writeFileSync(join(root, 'template.yaml'), PASSWORD);
  writeFileSync(join(root, 'other.yaml'), PASSWORD.replace('default: 12', 'default: 16'));
  const ok = async (args: string[]) => {
    const done = await run(args, root);
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stderr}`);
    return done;
  };
  const outputs = async (id: string) =>
    (JSON.parse((await ok(['outputs', '-d', id, '--json'])).stdout) as { outputs: Record<string, unknown> })
      .outputs;
  await ok(['install', 'template.yaml', '-d', 'stack']);
  const before = await outputs('stack');

  const abandoned = await ok(['stack', 'abandon', '-d', 'stack', '-O', join(root, 'stack.json')]);
  assert.match(abandoned.stderr, /Stack 'stack' abandoned; its data is in /);
  const data = JSON.parse(readFileSync(join(root, 'stack.json'), 'utf8')) as {
    name: string;
    template: { resources: unknown };
    resources: { password: { resource_id: string; type: string } };
  };
  assert.equal(data.name, 'stack');
  assert.equal(data.resources.password.type, 'OS::Heat::RandomString');
  assert.deepEqual(data.template.resources, {
    password: { type: 'OS::Heat::RandomString', properties: { length: { get_param: 'length' } } },
  });
  const gone = await run(['outputs', '-d', 'stack'], root);
  assert.notEqual(gone.code, 0, 'the deployment is forgotten');
  assert.match(gone.stderr, /deployment 'stack' not found/);

  // Another template than the data's is refused before anything is uploaded, as locally.
  const other = await run(['install', 'other.yaml', '-d', 'again', '--adopt', 'stack.json'], root);
  assert.equal(other.code, 2, other.stderr);
  assert.match(other.stderr, /the stack was abandoned with another template than/);
  // Adopted with the data's own template, under the data's name: the same password.
  await ok(['install', '--adopt', 'stack.json']);
  assert.deepEqual(await outputs('stack'), before);
  const listed = JSON.parse((await ok(['instances', '-d', 'stack', '--json'])).stdout) as {
    instances: { node: string; runtimeProperties: { resource_id?: string } }[];
  };
  assert.deepEqual(
    listed.instances.map((i) => [i.node, i.runtimeProperties.resource_id]),
    [['password', data.resources.password.resource_id]],
  );
  const shown = (await (
    await fetch(`${url}/api/v1/deployments/stack`, { headers: { authorization: `Bearer ${env.WEFT_TOKEN}` } })
  ).json()) as { stackStatus: string };
  assert.equal(shown.stackStatus, 'ADOPT_COMPLETE');
  // An adopt makes a new stack only.
  const twice = await run(['install', '--adopt', 'stack.json'], root);
  assert.equal(twice.code, 2, twice.stderr);
  assert.match(twice.stderr, /deployment 'stack' exists; --adopt creates a new stack/);
});

test("weft cancel --no-rollback of a HOT stack's create on a server: the stack fails at once, the resource in progress finishes, the next one never starts (Heat's test_cancel_create_without_rollback)", async (t) => {
  const { run, env } = await serveForCli(t);
  const root = tempDir();
  writeFileSync(
    join(root, 'template.yaml'),
    `heat_template_version: pike
resources:
  test1:
    type: OS::Heat::TestResource
    properties: {value: Test1, action_wait_secs: {create: 10}}
  test2:
    type: OS::Heat::TestResource
    properties: {value: Test1}
    depends_on: [test1]
`,
  );
  const create = weftInBackground(['install', 'template.yaml', '-d', 'stack'], env, { cwd: root });
  await create.line(/test1_\w+ waits 10 s \(create\)$/);
  const cancel = await run(['cancel', '-d', 'stack', '--no-rollback'], root);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.match(
    cancel.stdout,
    /^Cancelling execution \S+ \(install\), without rollback: what is under way finishes$/m,
  );
  const stack = async () =>
    JSON.parse((await run(['instances', '-d', 'stack', '--json'], root)).stdout) as {
      stackState: string;
      stackStatusReason: string;
      instances: { node: string; heatState: string }[];
    };
  // Failed at once, as Heat's stop_traversal sets it, while test1 is still being created.
  const meanwhile = await stack();
  assert.deepEqual(
    [meanwhile.stackState, meanwhile.stackStatusReason],
    ['CREATE_FAILED', 'Stack CREATE cancelled'],
  );
  assert.equal(meanwhile.instances.find((i) => i.node === 'test1')?.heatState, 'CREATE_IN_PROGRESS');
  assert.equal(await create.exit, 1, create.lines.join('\n'));
  const after = await stack();
  assert.deepEqual([after.stackState, after.stackStatusReason], ['CREATE_FAILED', 'Stack CREATE cancelled']);
  assert.deepEqual(
    after.instances.map((i) => `${i.node} ${i.heatState}`),
    ['test1 CREATE_COMPLETE', 'test2 INIT_COMPLETE'],
  );
  const executions = JSON.parse((await run(['executions', '-d', 'stack', '--json'], root)).stdout) as {
    executions: { workflow: string; status: string; cancelRequest?: unknown }[];
  };
  assert.deepEqual(
    executions.executions.map((e) => [e.workflow, e.status, e.cancelRequest]),
    [['install', 'cancelled', { rollback: false }]],
  );
});

/** Heat's two TestResources, test2 after test1, whose test1 waits as `actionWaitSecs` says. */
const twoTestResources = (value: string, actionWaitSecs: string) => `heat_template_version: pike
resources:
  test1:
    type: OS::Heat::TestResource
    properties: {value: ${value}, action_wait_secs: ${actionWaitSecs}}
  test2:
    type: OS::Heat::TestResource
    properties: {value: ${value}}
    depends_on: [test1]
`;

test("weft cancel of a HOT stack's update on a server rolls it back as locally (Heat's stack cancel); with --no-rollback it stays UPDATE_FAILED", async (t) => {
  const { run, env } = await serveForCli(t);
  const root = tempDir();
  writeFileSync(join(root, 'before.yaml'), twoTestResources('Test1', '{update: 1}'));
  writeFileSync(join(root, 'after.yaml'), twoTestResources('Test2', '{update: 10}'));
  const ok = async (args: string[]) => {
    const done = await run(args, root);
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stderr}`);
    return done;
  };
  await ok(['install', 'before.yaml', '-d', 'stack']);
  await ok(['blueprints', 'upload', 'after.yaml', '--id', 'after']);
  const stack = async () =>
    JSON.parse((await ok(['instances', '-d', 'stack', '--json'])).stdout) as {
      stackState: string;
      stackStatusReason: string;
      instances: { node: string; heatState: string; runtimeProperties: { output?: string } }[];
    };
  const cancelled = async (cancel: string[]) => {
    const update = weftInBackground(['update', '-b', 'after', '-d', 'stack'], env, { cwd: root });
    await update.line(/test1_\w+ waits 10 s \(update\)$/);
    await ok(['cancel', '-d', 'stack', ...cancel]);
    assert.equal(await update.exit, 1, update.lines.join('\n'));
    return `${update.lines.join('\n')}\n${update.stderr()}`;
  };
  const rolledBack = await cancelled([]);
  assert.match(
    rolledBack,
    /The update was cancelled: rolling deployment 'stack' back to its previous version/,
  );
  const back = await stack();
  assert.equal(back.stackState, 'ROLLBACK_COMPLETE');
  assert.deepEqual(
    back.instances.map((i) => `${i.node} ${i.runtimeProperties.output}`),
    ['test1 Test1', 'test2 Test1'],
  );
  const kept = await cancelled(['--no-rollback']);
  assert.doesNotMatch(kept, /rolling deployment/);
  const failed = await stack();
  assert.deepEqual(
    [failed.stackState, failed.stackStatusReason],
    ['UPDATE_FAILED', 'Stack UPDATE cancelled'],
  );
  assert.deepEqual(
    failed.instances.map((i) => `${i.node} ${i.heatState} ${i.runtimeProperties.output}`),
    ['test1 UPDATE_COMPLETE Test2', 'test2 CREATE_COMPLETE Test1'],
  );
});

test("a HOT stack's update and uninstall on a server while its create runs take the stack over, as Heat's convergence does and as locally; update --existing on a server", async (t) => {
  const { run, env } = await serveForCli(t);
  const root = tempDir();
  writeFileSync(join(root, 'before.yaml'), twoTestResources('Test1', '{create: 3}'));
  writeFileSync(join(root, 'after.yaml'), twoTestResources('Test2', '{create: 0}'));
  writeFileSync(join(root, 'stuck.yaml'), twoTestResources('Test3', '{update: -1}'));
  const ok = async (args: string[]) => {
    const done = await run(args, root);
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stderr}`);
    return done;
  };
  const stack = async (id: string) =>
    JSON.parse((await ok(['instances', '-d', id, '--json'])).stdout) as {
      stackState: string;
      instances: { node: string; heatState: string; runtimeProperties: { output?: string } }[];
    };
  await ok(['blueprints', 'upload', 'after.yaml', '--id', 'after']);
  await ok(['blueprints', 'upload', 'stuck.yaml', '--id', 'stuck']);

  // The update stops the create without rollback: test1's create finishes, then the update.
  const create = weftInBackground(['install', 'before.yaml', '-d', 'stack'], env, { cwd: root });
  await create.line(/test1_\w+ waits 3 s \(create\)$/);
  const update = await ok(['update', '-b', 'after', '-d', 'stack']);
  assert.match(
    update.stdout,
    /^Stopped execution \S+ of stack 'stack' first: what was under way finished, nothing new started$/m,
  );
  assert.equal(await create.exit, 1, create.lines.join('\n'));
  // test2, which the create never got to, is made by the update.
  const updated = await stack('stack');
  assert.equal(updated.stackState, 'UPDATE_COMPLETE');
  assert.deepEqual(
    updated.instances.map((i) => `${i.node} ${i.heatState} ${i.runtimeProperties.output}`),
    ['test1 UPDATE_COMPLETE Test2', 'test2 CREATE_COMPLETE Test2'],
  );

  // The uninstall stops an update that would never end, with its running operation; the update
  // is not rolled back (its follower would otherwise start the rollback of a deleted stack).
  const update2 = weftInBackground(['update', '-b', 'stuck', '-d', 'stack'], env, { cwd: root });
  await update2.line(/test1_\w+ waits forever \(update\)$/);
  const uninstall = await ok(['uninstall', '-d', 'stack', '--yes']);
  assert.match(
    uninstall.stdout,
    /^Stopped execution \S+ of stack 'stack' first, with its running operations$/m,
  );
  assert.equal(await update2.exit, 1, update2.lines.join('\n'));
  assert.doesNotMatch(`${update2.lines.join('\n')}\n${update2.stderr()}`, /rolling deployment/);
  assert.equal((await stack('stack')).stackState, 'DELETE_COMPLETE');

  // --existing: the stack's own template, the parameters given over its own.
  writeFileSync(
    join(root, 'values.yaml'),
    `heat_template_version: rocky
parameters:
  value: {type: string}
  other: {type: string, default: kept}
resources:
  res:
    type: OS::Heat::TestResource
    properties: {value: {list_join: ['-', [{get_param: value}, {get_param: other}]]}}
outputs:
  value: {value: {get_attr: [res, output]}}
`,
  );
  writeFileSync(join(root, 'env.yaml'), 'parameters:\n  other: two\n');
  await ok(['install', 'values.yaml', '-e', 'env.yaml', '-p', 'value=one', '-d', 'values']);
  await ok(['update', '--existing', '-p', 'value=three', '-d', 'values']);
  const outputs = JSON.parse((await ok(['outputs', '-d', 'values', '--json'])).stdout) as {
    outputs: Record<string, unknown>;
  };
  assert.deepEqual(outputs.outputs, { value: 'three-two' });
  const refused = await run(['update', '--existing', '-b', 'after', '-d', 'values'], root);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /--existing updates the stack with its own template: give no template or plan/,
  );
});
