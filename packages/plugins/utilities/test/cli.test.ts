// Every utility resource through blueprints and the weft CLI, as users run them: install,
// instances, outputs, an update through execute_operation (weft.interfaces.resource.update),
// uninstall; and examples/random-and-test-resources, whose Value follows a new password on update
// (get_attribute in node properties) and whose server must be gone afterwards.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Json } from '@weft/sdk';
import { processRunning } from '@weft/testing';
import { tempDir, weftAsync as weft } from '@weft/testing/cli';
import { repoRoot, weftJson } from './helpers.js';

const dir = tempDir('weft-utilities-cli-');
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

interface Instance {
  node: string;
  state: string;
  runtimeProperties: Record<string, Json>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const RESOURCES = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
  - plugin:utilities
inputs:
  port: {type: integer}
node_types:
  my.Stub:
    derived_from: weft.nodes.NoOp
    properties:
      flavor: {type: string, default: large}
node_templates:
  word:
    type: weft.nodes.RandomString
    properties:
      length: 20
      character_classes: [{class: digits, min: 5}, {class: lowercase, min: 5}]
      salt: one
  holder:
    type: weft.nodes.Value
    properties: {type: json, value: {word: {get_attribute: [word, value]}, n: 1}}
    relationships: [{type: cloudify.relationships.depends_on, target: word}]
  stub:
    type: my.Stub
  test:
    type: weft.nodes.TestResource
    properties: {value: first, action_wait_secs: {create: 0.4}, fail_times: 1}
  server:
    type: weft.nodes.LocalProcess
    properties:
      command: [node, -e, "require('net').createServer((s) => s.end('hi')).listen(Number(process.env.PORT), '127.0.0.1')"]
      env: {PORT: {get_input: port}}
      health_check: {tcp: {get_input: port}}
      stop_timeout: 2
outputs:
  word: {value: {get_attribute: [word, value]}}
  holder: {value: {get_attribute: [holder, value]}}
  stub: {value: {get_attribute: [stub, resource_id]}}
  test: {value: {get_attribute: [test, output]}}
  failures: {value: {get_attribute: [test, failed_attempts]}}
  pid: {value: {get_attribute: [server, pid]}}
`;

describe('utility resources through the CLI', () => {
  test('each resource installs, updates through execute_operation and uninstalls', async () => {
    const blueprint = join(dir, 'resources', 'blueprint.yaml');
    mkdirSync(join(dir, 'resources'));
    writeFileSync(blueprint, RESOURCES);
    const state = ['--state-dir', join(dir, 'resources-state')];
    const port = await freePort();

    const install = await weftJson<{ execution: { status: string } }>([
      'install',
      blueprint,
      '-i',
      `port=${port}`,
      ...state,
      '--task-retry-interval',
      '0',
    ]);
    assert.equal(install.execution.status, 'terminated');
    const outputs = (await weftJson<{ outputs: Record<string, Json> }>(['outputs', ...state])).outputs;
    pids.add(outputs.pid as number);
    const word = outputs.word as string;
    assert.match(word, /^[a-z0-9]{20}$/);
    assert.ok(word.replace(/[^0-9]/g, '').length >= 5 && word.replace(/[^a-z]/g, '').length >= 5);
    assert.deepEqual(outputs.holder, { word, n: 1 });
    assert.match(outputs.stub as string, /^stub_/);
    assert.equal(outputs.test, 'first');
    assert.equal(outputs.failures, 1);
    assert.ok(processRunning(outputs.pid as number));

    const instances = (await weftJson<{ instances: Instance[] }>(['instances', ...state])).instances;
    assert.deepEqual(
      instances.map((i) => [i.node, i.state]).sort(),
      ['holder', 'server', 'stub', 'test', 'word'].map((n) => [n, 'started']),
    );
    const test = instances.find((i) => i.node === 'test')!;
    assert.deepEqual((test.runtimeProperties.heat as { state: Json }).state, {
      action: 'CREATE',
      status: 'COMPLETE',
    });

    // A new salt draws a new string; a new value updates the TestResource in place.
    const update = (node: string, properties: string) =>
      weftJson<{ execution: { status: string } }>([
        'exec',
        'execute_operation',
        '-p',
        'operation=weft.interfaces.resource.update',
        '-p',
        `node_ids=[${node}]`,
        '-p',
        `operation_kwargs={properties: ${properties}}`,
        ...state,
        '--task-retry-interval',
        '0',
      ]);
    assert.equal((await update('word', '{salt: two}')).execution.status, 'terminated');
    assert.equal((await update('test', '{value: second}')).execution.status, 'terminated');
    const updated = (await weftJson<{ outputs: Record<string, Json> }>(['outputs', ...state])).outputs;
    assert.match(updated.word as string, /^[a-z0-9]{20}$/);
    assert.notEqual(updated.word, word);
    assert.equal(updated.test, 'second');

    const uninstall = await weft(['uninstall', ...state, '--task-retry-interval', '0']);
    assert.equal(uninstall.code, 0, uninstall.stdout + uninstall.stderr);
    assert.equal(processRunning(outputs.pid as number), false);
  });

  test("validate and install report a resource class's property problems at their lines; values known later are left out", async () => {
    const blueprint = join(dir, 'bad-properties.yaml');
    writeFileSync(
      blueprint,
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml, 'plugin:utilities']
inputs:
  n: {default: 0}
node_templates:
  pw:
    type: weft.nodes.RandomString
    properties:
      length: 0
      character_classes: [{class: nosuch}]
  later:
    type: weft.nodes.RandomString
    properties: {length: {get_input: n}}
`,
    );
    const expected = [
      `${blueprint}:9:15 node_templates.pw.properties.length: 0 is not between 1 and 512`,
      `${blueprint}:9:15 node_templates.pw.properties.length: 0 is less than the character class and sequence minimums together (1)`,
      `${blueprint}:10:26 node_templates.pw.properties.character_classes[0].class: "nosuch" is not one of ["lettersdigits", "letters", "lowercase", "uppercase", "digits", "hexdigits", "octdigits"]`,
      '3 problems found',
    ];
    const validate = await weft(['validate', blueprint]);
    assert.equal(validate.code, 2);
    assert.deepEqual(validate.stderr.trim().split('\n'), expected);
    const state = join(dir, 'bad-properties-state');
    const install = await weft(['install', blueprint, '--state-dir', state]);
    assert.equal(install.code, 2, 'refused before anything is stored');
    assert.deepEqual(install.stderr.trim().split('\n'), expected);
  });

  test('a permanent TestResource failure fails the install at once, without retries', async () => {
    const blueprint = join(dir, 'failing.yaml');
    writeFileSync(
      blueprint,
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml, 'plugin:utilities']
node_templates:
  broken: {type: weft.nodes.TestResource, properties: {fail: true}}
`,
    );
    const result = await weft([
      'install',
      blueprint,
      '--state-dir',
      join(dir, 'failing-state'),
      '--task-retry-interval',
      '0',
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stdout + result.stderr, /TestResource broken_\w+ failed its create \(fail is set\)/);
    assert.doesNotMatch(result.stdout, /\[retry 1/);
  });

  test('examples/random-and-test-resources: installs, serves the digest of the password, takes a new password, uninstalls', async () => {
    const blueprint = join(repoRoot, 'examples', 'random-and-test-resources', 'blueprint.yaml');
    const state = ['--state-dir', join(dir, 'example-state')];
    const port = await freePort();
    const install = await weft([
      'install',
      blueprint,
      '-i',
      `port=${port}`,
      ...state,
      '--task-retry-interval',
      '0',
    ]);
    assert.equal(install.code, 0, install.stdout + install.stderr);
    // The retried failure is visible to the user.
    assert.match(
      install.stdout,
      /failed its create on purpose \(failure 2 of 2, fail_times\) \[retry \d+ in 0 s\]/,
    );

    const outputs = (await weftJson<{ outputs: Record<string, Json> }>(['outputs', ...state])).outputs;
    pids.add(outputs.server_pid as number);
    assert.equal(outputs.flaky_output, 'ready after two failures');
    assert.equal(outputs.flaky_failures, 2);
    assert.equal(outputs.user, 'admin');
    assert.equal(outputs.digest_url, `http://127.0.0.1:${port}/`);

    const instances = (await weftJson<{ instances: Instance[] }>(['instances', ...state])).instances;
    const password = instances.find((i) => i.node === 'password')!.runtimeProperties.value as string;
    assert.equal(password.length, 24);
    const digest = createHash('sha256').update(password).digest('hex');
    assert.equal(await (await fetch(outputs.digest_url as string)).text(), digest);
    // The password is in no event or log line.
    const events = await weft(['events', ...state]);
    assert.equal(events.code, 0);
    assert.ok(!events.stdout.includes(password));

    // A new salt draws a new password; an update of the Value evaluates its get_attribute again.
    const update = (node: string, kwargs: string[]) =>
      weftJson<{ execution: { status: string } }>([
        'exec',
        'execute_operation',
        '-p',
        'operation=weft.interfaces.resource.update',
        '-p',
        `node_ids=[${node}]`,
        ...kwargs,
        ...state,
        '--task-retry-interval',
        '0',
      ]);
    assert.equal(
      (await update('password', ['-p', 'operation_kwargs={properties: {salt: "2"}}'])).execution.status,
      'terminated',
    );
    assert.equal((await update('credentials', [])).execution.status, 'terminated');
    const updated = (await weftJson<{ instances: Instance[] }>(['instances', ...state])).instances;
    const renewed = updated.find((i) => i.node === 'password')!.runtimeProperties.value as string;
    assert.match(renewed, /^.{24}$/);
    assert.notEqual(renewed, password);
    const credentials = updated.find((i) => i.node === 'credentials')!.runtimeProperties;
    assert.deepEqual(credentials.value, { user: 'admin', password: renewed });
    assert.deepEqual((credentials.heat as { state: Json }).state, { action: 'UPDATE', status: 'COMPLETE' });
    assert.ok(!(await weft(['events', ...state])).stdout.includes(renewed));

    const uninstall = await weft(['uninstall', ...state, '--task-retry-interval', '0']);
    assert.equal(uninstall.code, 0, uninstall.stdout + uninstall.stderr);
    assert.equal(processRunning(outputs.server_pid as number), false);
    await assert.rejects(fetch(outputs.digest_url as string));
  });
});
