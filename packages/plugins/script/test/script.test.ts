// The script plugin through the real CLI: every ctx command and the Python module against real
// scripts, retries, aborts, failures, inline scripts and concurrency.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { openStore } from '@weft/engine';
import { ok, tempDir, weft } from '@weft/testing/cli';
import { gone, repoRoot } from './helpers.js';

const fixtures = join(repoRoot, 'packages', 'plugins', 'script', 'test', 'fixtures');

interface Instance {
  id: string;
  node: string;
  state: string;
  runtimeProperties: Record<string, unknown>;
}

function instances(state: string): Map<string, Instance> {
  const list = (
    JSON.parse(ok(weft(['instances', '--json', '--state-dir', state])).stdout) as { instances: Instance[] }
  ).instances;
  return new Map(list.map((i) => [i.node, i]));
}

interface Event {
  type: string;
  level: string;
  message: string;
  instanceId: string | null;
  operation: string | null;
}

function events(state: string): Event[] {
  const lines = ok(weft(['events', '--json', '--state-dir', state]))
    .stdout.trim()
    .split('\n');
  return lines.map((line) => JSON.parse(line) as Event);
}

/** A blueprint directory of its own, from files given as path -> text. */
function blueprintDir(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** `weft install` of a blueprint into a state directory, retries without waiting. */
const install = (blueprint: string, state: string) =>
  weft(['install', blueprint, '--state-dir', state, '--task-retry-interval', '0']);

const header = 'tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - cloudify/types/types.yaml\n';

describe('the ctx command and the Python module', () => {
  const state = tempDir();
  test('a blueprint of scripts installs', () => {
    ok(
      weft([
        'install',
        join(fixtures, 'ctx', 'blueprint.yaml'),
        '--state-dir',
        state,
        '-d',
        'ctxdep',
        '-i',
        'fail_times=2',
        '--task-retry-interval',
        '0',
      ]),
    );
  });

  test('every ctx call answers as Cloudify answers it', () => {
    const web = instances(state).get('web')!;
    const calls = web.runtimeProperties.calls as Record<string, string>;
    assert.deepEqual(
      {
        node_id: calls.node_id,
        node_name: calls.node_name,
        node_type: calls.node_type,
        port: calls.port,
        host_ip: calls.host_ip,
        deployment: calls.deployment,
        blueprint: calls.blueprint,
        type: calls.type,
        operation: calls.operation,
        retry_number: calls.retry_number,
        max_retries: calls.max_retries,
        nested_x: calls.nested_x,
        get: calls.get,
        timeout_flag: calls.timeout_flag,
      },
      {
        node_id: 'web',
        node_name: 'web',
        node_type: 'cloudify.nodes.WebServer',
        port: '8080',
        host_ip: '10.1.2.3',
        deployment: 'ctxdep',
        blueprint: 'ctx',
        type: 'node-instance',
        operation: 'cloudify.interfaces.lifecycle.create',
        retry_number: '0',
        max_retries: '5',
        nested_x: '3',
        get: 'just text',
        timeout_flag: 'web',
      },
    );
    assert.equal(JSON.parse(calls.properties!).port, 8080);
    assert.equal(calls.instance_id, web.id);
    assert.match(calls.execution!, /^[0-9a-f-]{36}$/);
    // Operation inputs are environment variables, as Cloudify writes them (json.dumps, None).
    assert.equal(
      calls.env,
      'hello world|{"cpu": 2, "tags": ["a", "b"], "city": "Z\\u00fcrich"}|true|None|yes-it-is|first second arg',
    );
    // Paths write nested values; @JSON values are parsed, others stay strings.
    assert.deepEqual(web.runtimeProperties.nested, { list: [1, { x: '3' }] });
    assert.equal(calls.raw, '<h1>{{ ctx.node.properties.port }} {{ extra }} {{ ctx.deployment.id }}</h1>');
    assert.equal(calls.rendered_path_ok, 'yes');
    assert.equal(calls.rendered, '<h1>8080 E ctxdep</h1>');
    assert.equal(calls.resource, calls.raw);
    const db = instances(state).get('db')!;
    const relationships = JSON.parse(calls.relationships!) as {
      type: string;
      type_hierarchy: string[];
      target: {
        node: { name: string; properties: Record<string, unknown> };
        instance: { id: string; runtime_properties: Record<string, unknown> };
      };
    }[];
    assert.deepEqual(
      relationships.map((r) => [r.type, r.type_hierarchy[0], r.target.node.name, r.target.instance.id]),
      [
        [
          'cloudify.relationships.contained_in',
          'cloudify.relationships.depends_on',
          'host',
          instances(state).get('host')!.id,
        ],
        ['cloudify.relationships.connected_to', 'cloudify.relationships.depends_on', 'db', db.id],
      ],
    );
    // Targets come with their node's properties and their instance's runtime properties.
    assert.equal(relationships[0]!.target.node.properties.ip, '10.1.2.3');
    assert.equal(
      (relationships[1]!.target.instance.runtime_properties.python as { marker: string }).marker,
      'from-python',
    );
    // A work directory per deployment and plugin, in the state directory; the plugin's own.
    assert.equal(calls.workdir, join(state, 'work', 'ctxdep', 'script'));
    assert.equal(calls.prefix, join(repoRoot, 'packages', 'plugins', 'script'));
    // Unknown calls and bad JSON fail with a clear message and a non-zero exit.
    assert.match(
      calls.unknown_call!,
      /^ctx: unknown: 'no-such-thing' in: ctx no-such-thing \(known here: .*node.*\)\nexit=1$/,
    );
    assert.match(calls.bad_json!, /^ctx: argument '@\{nope' is not valid JSON after '@': .*\nexit=1$/);
  });

  test('logs and output lines reach the events at their levels', () => {
    const created = events(state).filter(
      (e) =>
        e.type === 'log' &&
        e.operation === 'cloudify.interfaces.lifecycle.create' &&
        e.instanceId?.startsWith('web'),
    );
    const lines = created.map((e) => [e.level, e.message]);
    for (const expected of [
      ['info', 'starting with hello world'],
      ['warning', 'a warning'],
      ['debug', 'a debug line'],
      ['error', 'an error line'],
      ['info', 'to stdout'],
      ['info', '<err> to stderr'],
    ])
      assert.ok(
        lines.some(([level, message]) => level === expected[0] && message === expected[1]),
        `${expected.join(' ')} in ${JSON.stringify(lines)}`,
      );
  });

  test('retry_operation retries the operation (its exit code aside) until it goes through', () => {
    const web = instances(state).get('web')!;
    assert.equal(web.runtimeProperties.configured_after, '2');
    const retries = events(state).filter(
      (e) => e.type === 'task_rescheduled' && e.operation === 'cloudify.interfaces.lifecycle.configure',
    );
    assert.deepEqual(
      retries.map((e) => e.message.replace(/^.*?(not yet)/, '$1')),
      ['not yet (0) [retry 1/5 in 0 s]', 'not yet (1) [retry 2/5 in 0 s]'],
    );
    assert.ok(!events(state).some((e) => e.message === 'never reached'));
  });

  test('relationship scripts reach both ends', () => {
    const all = instances(state);
    assert.equal(all.get('web')!.runtimeProperties.db_from_target, 'from-python');
    assert.equal(all.get('web')!.runtimeProperties.rel_type, 'relationship-instance');
    assert.equal(all.get('db')!.runtimeProperties.linked_from, 'web');
    // The same from Python, after a retry it asked for.
    assert.deepEqual(all.get('web')!.runtimeProperties.py_link, {
      type: 'relationship-instance',
      target_node: 'db',
      marker: 'from-python',
      retry_number: 1,
    });
    assert.equal(all.get('db')!.runtimeProperties.py_linked_from, all.get('web')!.id);
  });

  test('from cloudify import ctx: properties, runtime properties (nested changes kept), inputs by key and attribute, resources', () => {
    const db = instances(state).get('db')!.runtimeProperties;
    assert.deepEqual(db.python, {
      marker: 'from-python',
      node: 'db',
      deployment: 'ctxdep',
      nested_change: true,
    });
    assert.equal(db['dotted.key'], 'literal');
    assert.deepEqual(db.inputs, { property: 'op2_called', port: 5432 });
    assert.deepEqual(db.by_attribute, {
      property: 'op2_called',
      port: 5432,
      missing: "KeyError 'missing'",
      hasattr: [true, false],
    });
    assert.equal(db.operation, 'cloudify.interfaces.lifecycle.create');
    assert.equal(db.resource, '<h1>');
    assert.equal(db.rendered, '<h1> P ctxdep</h1>');
    assert.ok(
      events(state).some((e) => e.type === 'log' && e.message === 'python here: db'),
      'the Python logger reaches the events',
    );
  });

  test('ctx returns is the task result', async () => {
    const store = await openStore(join(state, 'weft.db'));
    try {
      const [execution] = await store.listExecutions('ctxdep');
      const tasks = await store.listTasks(execution!.id);
      const create = tasks.find(
        (t) => t.operation === 'cloudify.interfaces.lifecycle.create' && t.instanceId.startsWith('web'),
      );
      assert.deepEqual(create!.result, { done: true });
    } finally {
      await store.close();
    }
  });
});

describe('bash as people write it', () => {
  test('set -eE with an ERR trap, readonly names, set -x, options after arguments, missing paths, 1 MB values, . ctx-sh, Python relationship targets', () => {
    const state = tempDir();
    const r = install(join(fixtures, 'bash-edges', 'blueprint.yaml'), state);
    // The last script returns twice under ctx-sh: the operation aborts, as Cloudify's does.
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /error: ctx may only abort or return once/);
    const all = instances(state);
    const host = all.get('host')!.runtimeProperties;
    assert.equal(host.big_ok, 'yes');
    const edges = all.get('edges')!.runtimeProperties;
    assert.deepEqual(
      [edges.strict, edges.strict_json, edges.missing_get],
      ['edges:db.example.com', 'false', 'default'],
    );
    assert.deepEqual(edges.host_seen, {
      node: 'host',
      ip_property: '10.9.8.7',
      ip_runtime: '10.9.8.7',
      type: 'cloudify.relationships.contained_in',
    });
    assert.equal(edges.after_second_return, undefined, 'ctx-sh ended the script at the failed call');
    const logs = events(state).filter((e) => e.type === 'log' && e.instanceId === all.get('edges')!.id);
    // Tracing shows the call, not the ctx command's insides (nor its endpoint's secret path).
    const traced = logs.filter((e) => e.message.startsWith('<err> +'));
    assert.deepEqual(
      traced.map((e) => e.message),
      ['<err> ++ ctx node name', '<err> + name=edges', '<err> + set +x'],
    );
    assert.ok(!logs.some((e) => /failed at line/.test(e.message)), 'the ERR trap never fired');
    assert.ok(
      logs.some((e) => e.message === 'configured'),
      'send_event reaches the log',
    );
  });
});

describe('how a script ends its operation', () => {
  test('abort_operation fails it at once; a non-zero exit is retried and fails with the end of stderr', () => {
    const dir = blueprintDir({
      'blueprint.yaml': `${header}node_templates:
  aborts:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/abort.sh
`,
      'scripts/abort.sh': 'ctx abort_operation "the disk is gone"\necho "goes on after abort"\nexit 0\n',
    });
    const state = tempDir();
    const r = install(join(dir, 'blueprint.yaml'), state);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: the disk is gone/);
    // The resume command works as printed: it names the state directory it was run with.
    assert.ok(r.stderr.includes(` --state-dir ${state}\n`), r.stderr);
    assert.equal(events(state).filter((e) => e.type === 'task_started').length, 1, 'no retry after abort');

    const failing = blueprintDir({
      'blueprint.yaml': `${header}node_templates:
  fails:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/fail.sh
          max_retries: 2
`,
      'scripts/fail.sh': '#!/bin/sh\necho "first problem" >&2\necho "disk full at /var" >&2\nexit 3\n',
    });
    const state2 = tempDir();
    const f = install(join(failing, 'blueprint.yaml'), state2);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /error: scripts\/fail\.sh exited with code 3$/m);
    assert.match(f.stderr, /caused by stderr: disk full at \/var/);
    assert.equal(
      events(state2).filter((e) => e.type === 'task_started').length,
      3,
      'first run and 2 retries',
    );
  });

  test('inline scripts, shebangs, node scripts, command_prefix and a missing interpreter', () => {
    const dir = blueprintDir({
      'blueprint.yaml': `${header}node_templates:
  inline:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: |
          #!/bin/sh
          ctx instance runtime-properties inline "$(ctx node name)"
        configure: scripts/set.js
        start:
          implementation: scripts/prefixed.txt
          inputs:
            process: { command_prefix: /bin/sh }
  python_raise:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/raise.py
    relationships:
      - { type: cloudify.relationships.depends_on, target: inline }
  powershell:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/setup.ps1
    relationships:
      - { type: cloudify.relationships.depends_on, target: inline }
`,
      'scripts/set.js':
        "const { execFileSync } = require('node:child_process');\nexecFileSync('ctx', ['instance', 'runtime-properties', 'from_node', process.version]);\n",
      'scripts/setup.ps1': 'Write-Output "hello"\n',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
      'scripts/prefixed.txt': 'ctx instance runtime-properties prefixed "shell:${BASH_VERSION:-not bash}"\n',
      'scripts/raise.py':
        "from cloudify import ctx\nfrom cloudify.exceptions import NonRecoverableError\nctx.instance.runtime_properties['before'] = 1\nraise NonRecoverableError('python says no')\n",
    });
    const state = tempDir();
    const r = install(join(dir, 'blueprint.yaml'), state);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(
      events(state).some(
        (e) =>
          e.type === 'task_failed' &&
          e.instanceId?.startsWith('python_raise') &&
          /python says no/.test(e.message),
      ),
    );
    const all = instances(state);
    assert.equal(all.get('inline')!.runtimeProperties.inline, 'inline');
    assert.equal(all.get('inline')!.runtimeProperties.from_node, process.version);
    // The .txt file would run with bash; its command_prefix runs it with sh.
    assert.equal(all.get('inline')!.runtimeProperties.prefixed, 'shell:not bash');
    assert.equal(all.get('python_raise')!.runtimeProperties.before, 1);
    assert.equal(
      events(state).filter((e) => e.type === 'task_started' && e.instanceId?.startsWith('python_raise'))
        .length,
      1,
      'NonRecoverableError from Python is not retried',
    );
    const powershell = events(state).filter((e) => e.instanceId?.startsWith('powershell'));
    assert.ok(
      powershell.some(
        (e) =>
          e.type === 'task_failed' &&
          /scripts\/setup\.ps1 is a PowerShell script, and pwsh is not installed/.test(e.message),
      ),
      JSON.stringify(powershell),
    );
    assert.equal(powershell.filter((e) => e.type === 'task_started').length, 1);
  });

  test('an inline script without #! runs with python3 when it parses as Python, else with bash, as in Cloudify', () => {
    // The operations of cloudify-manager's test_update_set_properties, and a shell one.
    const dir = blueprintDir({
      'blueprint.yaml': `${header}node_templates:
  node:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: |
            from cloudify import ctx
            ctx.logger.info('check drift')
            ctx.instance.runtime_properties['b'] = 1
            ctx.returns({'drift': True})
        configure: |
          ctx instance runtime-properties shell "\${BASH_VERSION:+bash}"
          ctx logger info "configured"
`,
    });
    const state = tempDir();
    ok(install(join(dir, 'blueprint.yaml'), state));
    assert.deepEqual(instances(state).get('node')!.runtimeProperties, { b: 1, shell: 'bash' });
  });

  test("Python sees Cloudify's exceptions: HttpException for a missing resource, CloudifyClientError 409 for an update conflict", () => {
    const barrier = tempDir();
    const dir = blueprintDir({
      'blueprint.yaml': `${header}node_templates:
  target:
    type: cloudify.nodes.Root
  missing:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/missing.py
${['one', 'two']
  .map(
    (name) => `  ${name}:
    type: cloudify.nodes.Root
    relationships:
      - type: cloudify.relationships.connected_to
        target: target
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: {implementation: scripts/claim.py, inputs: {barrier: '${barrier}'}}
`,
  )
  .join('')}`,
      'scripts/missing.py': `from cloudify import ctx
from cloudify.exceptions import HttpException, NonRecoverableError
try:
    ctx.download_resource('no/such/file.txt')
except HttpException as e:
    ctx.instance.runtime_properties['missing'] = [e.code, isinstance(e, NonRecoverableError), str(e)]
except RuntimeError:
    ctx.instance.runtime_properties['missing'] = 'RuntimeError'
from cloudify_rest_client import CloudifyClient
try:
    CloudifyClient(host='manager')
except Exception as e:
    ctx.instance.runtime_properties['client'] = type(e).__name__
`,
      // Both ends change the target's 'owner' and wait for each other before saving it: the
      // second to save is told of the conflict, as Cloudify's manager answers 409.
      'scripts/claim.py': `import os, time
from cloudify import ctx
from cloudify.state import ctx_parameters as inputs
from cloudify_rest_client.exceptions import CloudifyClientError
name = ctx.source.node.name
ctx.target.instance.runtime_properties['owner'] = name
if ctx.operation.retry_number == 0:
    open(os.path.join(inputs['barrier'], name), 'w').close()
    deadline = time.time() + 30
    while len(os.listdir(inputs['barrier'])) < 2 and time.time() < deadline:
        time.sleep(0.01)
try:
    ctx.target.instance.update()
except CloudifyClientError as e:
    if e.status_code == 409 and 'conflict' in str(e):
        with open(os.path.join(inputs['barrier'], 'conflict'), 'w') as f:
            f.write('%s %s' % (name, e.error_code))
        ctx.operation.retry('the target changed meanwhile', 0)
`,
    });
    const state = tempDir();
    ok(install(join(dir, 'blueprint.yaml'), state));
    const all = instances(state);
    assert.deepEqual(all.get('missing')!.runtimeProperties, {
      missing: [
        404,
        true,
        "404 (no/such/file.txt) : resource 'no/such/file.txt' not found in the blueprint's directory",
      ],
      client: 'CloudifyClientError',
    });
    const [loser, code] = readFileSync(join(barrier, 'conflict'), 'utf8').split(' ');
    assert.equal(code, 'conflict_error');
    assert.ok(loser === 'one' || loser === 'two');
    // The retried claim saved after the other one.
    assert.equal(all.get('target')!.runtimeProperties.owner, loser);
  });

  test('a timeout ends the script and the processes it started', async () => {
    const pidFile = join(tempDir(), 'pid');
    const dir = blueprintDir({
      'blueprint.yaml': `${header}node_templates:
  slow:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/slow.sh
          timeout: 1
          max_retries: 0
          inputs:
            PID_FILE: ${pidFile}
`,
      'scripts/slow.sh': '#!/usr/bin/env bash\nsleep 60 &\necho $! > "$PID_FILE"\nwait\n',
    });
    const state = tempDir();
    const r = weft(['install', join(dir, 'blueprint.yaml'), '--state-dir', state]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /timed out/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(await gone(pid), 'the background process of the script is gone');
  });

  test('ctx outside an operation says so and exits 1', () => {
    const r = spawnSync(join(repoRoot, 'packages', 'plugins', 'script', 'bin', 'ctx'), ['node', 'id'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ctx: CTX_SOCKET_URL is not set; ctx works only inside an operation/);
  });
});

describe('concurrency', () => {
  test('40 scripts at once each talk to their own ctx', () => {
    const dir = blueprintDir({
      'blueprint.yaml': `${header}node_templates:
  worker:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: 40
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/own.sh
`,
      'scripts/own.sh':
        '#!/usr/bin/env bash\nset -e\nid=$(ctx instance id)\nfor i in 1 2 3; do ctx instance runtime-properties "seen$i" "$(ctx instance id)"; done\nctx instance runtime-properties mine "$id"\n',
    });
    const state = tempDir();
    ok(weft(['install', join(dir, 'blueprint.yaml'), '--state-dir', state, '--concurrency', '16']));
    const list = (
      JSON.parse(ok(weft(['instances', '--json', '--state-dir', state])).stdout) as { instances: Instance[] }
    ).instances;
    assert.equal(list.length, 40);
    for (const instance of list)
      assert.deepEqual(
        [1, 2, 3].map((i) => instance.runtimeProperties[`seen${i}`]).concat(instance.runtimeProperties.mine),
        [instance.id, instance.id, instance.id, instance.id],
      );
  });
});
