// Heat-style resources changed by `weft update` (not only by execute_operation): the changed
// blueprint drives the resource's update, in place for update-allowed properties, else replaced,
// and weft plan -d says which beforehand.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, ok, tempDir, weft } from '@weft/testing/cli';

const blueprint = (length: number, value: string) => `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml, plugin:utilities]
node_templates:
  password:
    type: weft.nodes.RandomString
    properties: {length: ${length}}
  greeting:
    type: weft.nodes.Value
    properties: {type: string, value: ${value}}
outputs:
  password: {value: {get_attribute: [password, value]}}
  greeting: {value: {get_attribute: [greeting, value]}}
`;

test('weft update replaces a resource whose changed property cannot change in place, new before old', {
  timeout: 120_000,
}, () => {
  const dir = tempDir('weft-utilities-update-');
  const state = ['--state-dir', join(dir, '.weft')];
  const run = (args: string[]) =>
    ok(weft([...args, ...state], { cwd: dir, env: { ...NO_WEFT_ENVIRONMENT, CI: 'true' } }));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  run(['install', file('v1.yaml', blueprint(12, 'hello')), '-d', 'r']);
  const outputs = () =>
    JSON.parse(run(['outputs', '-d', 'r', '--json']).stdout).outputs as Record<string, string>;
  const before = outputs();
  assert.equal(before.password!.length, 12);
  const plan = JSON.parse(
    run(['plan', file('v2.yaml', blueprint(20, 'bonjour')), '-d', 'r', '--json']).stdout,
  );
  assert.deepEqual(
    plan.operations.map((o: { operation: string }) => o.operation),
    ['weft.interfaces.resource.update', 'weft.interfaces.resource.update'],
  );
  // The plan says what the update will do: Value's value is updateAllowed, RandomString's length is not.
  const byNode = new Map<string, { action: string; replacement?: unknown }>(
    plan.nodes.map((n: { node: string; action: string }) => [n.node, n]),
  );
  assert.deepEqual(
    [byNode.get('greeting')!.action, byNode.get('greeting')!.replacement],
    ['update', undefined],
  );
  assert.deepEqual(
    [byNode.get('password')!.action, byNode.get('password')!.replacement],
    ['replace', { properties: ['length'], reason: 'length cannot be updated in place', deletesFirst: false }],
  );
  assert.deepEqual(
    plan.instances.map((i: { node: string; action: string }) => [i.node, i.action]),
    [
      ['greeting', 'update'],
      ['password', 'replace'],
    ],
  );
  const text = run(['plan', join(dir, 'v2.yaml'), '-d', 'r']).stdout;
  assert.match(text, /^ {2}~ greeting \(updated in place\)$/m);
  assert.match(
    text,
    /^-\/\+ password \(replaced, new created before old deleted: length cannot be updated in place\)$/m,
  );
  assert.match(text, /^ {8}~ properties\.length: 12 -> 20 \(forces replacement\)$/m);
  assert.match(text, /^ {8}~ properties\.value: "hello" -> "bonjour"$/m);
  assert.match(text, /^-\/\+ password_\w+$/m);
  // salt set to null (no value, as when left out) changes nothing the resource has: no replacement.
  const same = JSON.parse(
    run([
      'plan',
      file('v3.yaml', blueprint(12, 'hello').replace('{length: 12}', '{length: 12, salt: null}')),
      '-d',
      'r',
      '--json',
    ]).stdout,
  );
  assert.equal(same.nodes[0].action, 'update', same);
  assert.equal(same.nodes[0].replacement, undefined);
  const updated = run(['update', join(dir, 'v2.yaml'), '-d', 'r']);
  assert.match(updated.stdout, /node instances 1 to update, 1 to replace/);
  assert.match(
    updated.stdout,
    /replacing RandomString password_\w+: length cannot be updated in place; creating a new resource, then deleting the old one/,
  );
  const after = outputs();
  assert.equal(after.password!.length, 20);
  assert.notEqual(after.password, before.password);
  assert.equal(after.greeting, 'bonjour');
});
