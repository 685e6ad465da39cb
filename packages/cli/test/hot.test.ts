// HOT templates through the CLI: -e environments and -p parameters, Heat's state names, a failed
// create rolled back, update --dry-run in Heat's categories, in place or replaced, immutable
// parameters refused. Real processes on a real SQLite state directory.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, ok, weftInBackground } from '@weft/testing/cli';
import { fixtures, tempDir, weft } from './helpers.js';

const LIMIT = { timeout: 120_000 };

const TEMPLATE = `heat_template_version: 2018-08-31
description: A password, a greeting made from it, and a resource that takes its time
parameters:
  length:
    type: number
    default: 12
    constraints: [{range: {min: 8, max: 64}}]
  name: {type: string}
  region: {type: string, default: one, immutable: true}
  token: {type: string, default: first-token-value, hidden: true}
resources:
  password:
    type: My::Password
    properties: {length: {get_param: length}}
  greeting:
    type: OS::Heat::Value
    properties:
      value:
        str_replace:
          template: hello NAME (LEN)
          params: {NAME: {get_param: name}, LEN: {get_attr: [password, value]}}
  slow:
    type: OS::Heat::TestResource
    depends_on: greeting
    properties: {value: {get_param: name}, wait_secs: 0.2}
outputs:
  greeting: {value: {get_attr: [greeting, value]}}
  slow: {value: {get_attr: [slow, output]}}
`;

const ENV = `parameters: {name: env}
resource_registry:
  My::Password: OS::Heat::RandomString
`;

const FAILING = `heat_template_version: 2013-05-23
resources:
  first: {type: OS::Heat::RandomString}
  broken:
    type: OS::Heat::TestResource
    depends_on: first
    properties: {fail: true}
`;

// A password from an environment file, a key from --parameter, both hidden: the password also
// reaches a resource's attribute, the key a TestResource's value, and both the outputs; the
// greeting is not hidden.
const HIDDEN = `heat_template_version: 2018-08-31
parameters:
  db_password: {type: string, hidden: true}
  api_key: {type: string, hidden: true, default: the-default-key}
  greeting: {type: string, default: plain-greeting}
resources:
  password:
    type: OS::Heat::Value
    properties: {value: {get_param: db_password}}
  keyed:
    type: OS::Heat::TestResource
    properties:
      value: {str_replace: {template: key=KEY, params: {KEY: {get_param: api_key}}}}
outputs:
  password: {value: {get_param: db_password}}
  attribute: {value: {get_attr: [password, value]}}
  keyed: {value: {get_attr: [keyed, output]}}
  greeting: {value: {get_param: greeting}}
`;

// A resource whose property is not valid fails with an error quoting the value: a hidden one.
const HIDDEN_FAILING = `heat_template_version: 2018-08-31
parameters:
  db_password: {type: string, hidden: true}
resources:
  password:
    type: OS::Heat::Value
    properties: {value: {get_param: db_password}}
  waiting:
    type: OS::Heat::TestResource
    properties: {wait_secs: {get_attr: [password, value]}}
`;

// TestResource, a plugin's Gate (a Resource class with suspend and resume handlers, told to fail
// its suspend by `stuck`) and RandomString, each depending on the one before.
const SUSPENDED = `heat_template_version: 2018-08-31
parameters:
  stuck: {type: boolean, default: false}
resources:
  first: {type: OS::Heat::TestResource}
  gate:
    type: Weft::Test::Gate
    depends_on: first
    properties: {fail_suspend: {get_param: stuck}}
  last: {type: OS::Heat::RandomString, depends_on: gate}
`;

function project(env: Record<string, string> = {}) {
  const dir = tempDir('weft-hot-');
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return name;
  };
  const run = (args: string[]) =>
    weft([...args, '--state-dir', join(dir, '.weft')], {
      cwd: dir,
      env: { ...NO_WEFT_ENVIRONMENT, CI: 'true', ...env },
    });
  const instances = () =>
    JSON.parse(ok(run(['instances', '-d', 'stack', '--json'])).stdout) as {
      stackState: string;
      stackStatusReason: string;
      instances: {
        id: string;
        node: string;
        heatState: string;
        heatType: string | null;
        runtimeProperties: Record<string, unknown>;
      }[];
    };
  const outputs = () =>
    JSON.parse(ok(run(['outputs', '-d', 'stack', '--json'])).stdout).outputs as Record<string, unknown>;
  return { dir, file, run, instances, outputs };
}

describe('HOT templates through the CLI', { concurrency: true }, () => {
  test('install with -e and -p, Heat state names, then uninstall', LIMIT, () => {
    const p = project();
    p.file('template.yaml', TEMPLATE);
    p.file('env.yaml', ENV);
    ok(p.run(['validate', 'template.yaml', '-e', 'env.yaml']));
    ok(p.run(['install', 'template.yaml', '-e', 'env.yaml', '-p', 'length=16', '-d', 'stack']));
    const outputs = p.outputs();
    assert.match(String(outputs.greeting), /^hello env \([A-Za-z0-9]{16}\)$/);
    assert.equal(outputs.slow, 'env');
    const listed = p.instances();
    assert.equal(listed.stackState, 'CREATE_COMPLETE');
    assert.equal(listed.stackStatusReason, 'Stack CREATE completed successfully');
    // Each resource's type as Heat shows it: an environment's alias as the template gives it
    // (Resource.type() is its definition's type).
    assert.deepEqual(listed.instances.map((i) => `${i.node} ${i.heatState} ${i.heatType}`).sort(), [
      'greeting CREATE_COMPLETE OS::Heat::Value',
      'password CREATE_COMPLETE My::Password',
      'slow CREATE_COMPLETE OS::Heat::TestResource',
    ]);
    const text = ok(p.run(['instances', '-d', 'stack'])).stdout;
    assert.match(
      text,
      /^Stack stack: CREATE_COMPLETE\n {2}status reason: Stack CREATE completed successfully\n/,
    );
    assert.match(text, /\npassword_\w+ {2}CREATE_COMPLETE {2}My::Password {2}\{/);
    ok(p.run(['uninstall', '-d', 'stack']));
    const after = p.instances();
    assert.equal(after.stackState, 'DELETE_COMPLETE');
    assert.ok(after.instances.every((i) => i.heatState === 'DELETE_COMPLETE'));
  });

  test('every problem of a template and its parameters at once, with file:line:col, exit 2', LIMIT, () => {
    const p = project();
    p.file('template.yaml', TEMPLATE);
    const run = p.run(['install', 'template.yaml', '-p', 'length=4', '-d', 'stack']);
    assert.equal(run.code, 2, run.stderr);
    const lines = run.stderr.trim().split('\n');
    assert.ok(
      lines.includes("template.yaml:5:5 parameters.length: parameter 'length': value must be at least 8"),
      run.stderr,
    );
    assert.ok(
      lines.some((l) =>
        /^template\.yaml:8:9 parameters\.name: the parameter 'name' was not provided/.test(l),
      ),
      run.stderr,
    );
    assert.ok(
      lines.some((l) =>
        /^template\.yaml:13:11 resources\.password\.type: unknown resource type 'My::Password'/.test(l),
      ),
      run.stderr,
    );
    assert.equal(lines.length, 4, run.stderr);
    assert.ok(!run.stderr.includes('    at '), 'no stack trace');
    assert.equal(p.run(['deployments', '--json']).stdout.includes('"stack"'), false, 'nothing stored');
  });

  test('a failed create is rolled back with --rollback-on-failure: ROLLBACK_COMPLETE', LIMIT, () => {
    const p = project();
    p.file('fail.yaml', FAILING);
    const failed = p.run(['install', 'fail.yaml', '-d', 'stack', '--rollback-on-failure']);
    assert.equal(failed.code, 1, failed.stderr);
    const listed = p.instances();
    assert.equal(listed.stackState, 'ROLLBACK_COMPLETE');
    assert.ok(
      listed.instances.every((i) => i.heatState === 'DELETE_COMPLETE'),
      JSON.stringify(listed),
    );
    const q = project();
    q.file('fail.yaml', FAILING);
    assert.equal(q.run(['install', 'fail.yaml', '-d', 'stack']).code, 1);
    const kept = q.instances();
    assert.equal(kept.stackState, 'CREATE_FAILED');
    assert.deepEqual(kept.instances.map((i) => `${i.node} ${i.heatState}`).sort(), [
      'broken CREATE_FAILED',
      'first CREATE_COMPLETE',
    ]);
  });

  test(
    'update: --dry-run in Heat categories, in place and replaced, dependents updated, immutable refused',
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', TEMPLATE);
      p.file('env.yaml', ENV);
      ok(p.run(['install', 'template.yaml', '-e', 'env.yaml', '-d', 'stack']));
      const before = p.outputs();
      const password = p.instances().instances.find((i) => i.node === 'password')!;
      const dry = ok(
        p.run([
          'update',
          'template.yaml',
          '-e',
          'env.yaml',
          '-p',
          'length=20',
          '-d',
          'stack',
          '--dry-run',
          '--json',
        ]),
      );
      assert.deepEqual(
        (({ added, deleted, updated, replaced, unchanged }) => ({
          added,
          deleted,
          updated,
          replaced,
          unchanged,
        }))(JSON.parse(dry.stdout)),
        { added: [], deleted: [], updated: ['greeting'], replaced: ['password'], unchanged: ['slow'] },
      );
      assert.equal(JSON.stringify(p.outputs()), JSON.stringify(before), 'a dry run changes nothing');
      ok(p.run(['update', 'template.yaml', '-e', 'env.yaml', '-p', 'length=20', '-d', 'stack']));
      const after = p.outputs();
      assert.match(
        String(after.greeting),
        /^hello env \([A-Za-z0-9]{20}\)$/,
        'the greeting took the new password in place',
      );
      const listed = p.instances();
      assert.equal(listed.stackState, 'UPDATE_COMPLETE');
      const replaced = listed.instances.find((i) => i.node === 'password')!;
      assert.notEqual(replaced.runtimeProperties.value, password.runtimeProperties.value);
      assert.equal(listed.instances.find((i) => i.node === 'slow')!.heatState, 'CREATE_COMPLETE');
      // In place: a TestResource's value.
      ok(
        p.run([
          'update',
          'template.yaml',
          '-p',
          'name=bob',
          '-p',
          'length=20',
          '-e',
          'env.yaml',
          '-d',
          'stack',
        ]),
      );
      assert.equal(p.outputs().slow, 'bob');
      assert.equal(p.instances().instances.find((i) => i.node === 'slow')!.heatState, 'UPDATE_COMPLETE');
      // A hidden parameter's values are masked in a plan.
      const plan = ok(
        p.run([
          'plan',
          'template.yaml',
          '-e',
          'env.yaml',
          '-p',
          'name=bob',
          '-p',
          'length=20',
          '-p',
          'token=second-token-value',
          '-d',
          'stack',
        ]),
      ).stdout;
      assert.ok(plan.includes('~ token: "******" -> "******"'), plan);
      assert.ok(!plan.includes('token-value'), plan);
      const refused = p.run(['update', 'template.yaml', '-e', 'env.yaml', '-p', 'region=two', '-d', 'stack']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /The following parameters are immutable and may not be updated: region/);
    },
  );

  test('hidden parameters are masked in every output, event, listing, plan and failure', LIMIT, () => {
    const p = project();
    p.file('template.yaml', HIDDEN);
    p.file('failing.yaml', HIDDEN_FAILING);
    p.file('env.yaml', 'parameters: {db_password: Pw-From-Environment}\n');
    const values = ['Pw-From-Environment', 'Key-From-Parameter'];
    const shown: string[] = [];
    const capture = (args: string[], code = 0) => {
      const run = p.run(args);
      assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`);
      // The command, not its arguments (which hold the values given).
      shown.push(`[weft ${args[0]}]\n${run.stdout}\n${run.stderr}`);
      return run;
    };
    const secretArgs = ['-e', 'env.yaml', '--parameter', 'api_key=Key-From-Parameter'];
    capture(['plan', 'template.yaml', ...secretArgs, '-d', 'stack']);
    capture(['plan', 'template.yaml', ...secretArgs, '-d', 'stack', '--json']);
    capture(['install', 'template.yaml', ...secretArgs, '-d', 'stack', '--verbose']);
    capture(['install', 'template.yaml', ...secretArgs, '-d', 'stack', '--json']);
    const outputs = JSON.parse(capture(['outputs', '-d', 'stack', '--json']).stdout).outputs;
    // A string holding a hidden value is stored sealed, and shown as the mask whole.
    assert.deepEqual(outputs, {
      password: '******',
      attribute: '******',
      keyed: '******',
      greeting: 'plain-greeting',
    });
    capture(['outputs', 'password', '-d', 'stack']);
    capture(['instances', '-d', 'stack', '--json']);
    capture(['instances', '-d', 'stack']);
    capture(['events', '-d', 'stack', '--json']);
    capture(['deployments', '--json']);
    capture(['deployments', 'history', '-d', 'stack', '--json']);
    const newKey = [...secretArgs.slice(0, 3), 'api_key=Another-Key-Value'];
    values.push('Another-Key-Value');
    capture(['update', 'template.yaml', ...newKey, '-d', 'stack', '--dry-run', '--json']);
    capture(['update', 'template.yaml', ...newKey, '-d', 'stack', '--verbose']);
    capture(['outputs', '-d', 'stack']);
    capture(['events', '-d', 'stack', '--json']);
    capture(['deployments', 'history', '-d', 'stack', '--json']);
    // Back to the first key: the stored model is sealed by the values the rolled-back version holds.
    capture(['exec', 'rollback', '-d', 'stack']);
    capture(['outputs', '-d', 'stack']);
    const database = readdirSync(join(p.dir, '.weft'))
      .filter((name) => name.startsWith('weft.db'))
      .map((name) => readFileSync(join(p.dir, '.weft', name)).toString('latin1'))
      .join('');
    for (const value of values) assert.ok(!database.includes(value), `${value} is stored in clear`);
    const failed = capture(['install', 'failing.yaml', '-e', 'env.yaml', '-d', 'failing', '--verbose'], 1);
    assert.match(failed.stderr, /wait_secs: "\*\*\*\*\*\*" is not a number/);
    capture(['events', '-d', 'failing', '--json']);
    capture(['executions', '-d', 'failing', '--json']);
    capture(['instances', '-d', 'failing', '--json']);
    const all = shown.join('\n');
    for (const value of values) assert.ok(!all.includes(value), `${value} is shown:\n${all}`);
    // What is masked is what the template declares hidden, not every parameter.
    assert.ok(all.includes('"greeting": "plain-greeting"'), all);
  });

  test('suspend and resume: in reverse and in dependency order, Heat states, a failed suspend', LIMIT, () => {
    const p = project({ WEFT_PLUGIN_DIRS: join(fixtures, 'heat-plugins') });
    p.file('template.yaml', SUSPENDED);
    ok(p.run(['install', 'template.yaml', '-d', 'stack']));
    const states = () =>
      Object.fromEntries(p.instances().instances.map((i) => [i.node, i.heatState])) as Record<string, string>;
    /** The nodes in the order the latest execution's operations started (events are JSON lines). */
    const order = () =>
      ok(p.run(['events', '-d', 'stack', '--json']))
        .stdout.trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; node: string | null })
        .filter((e) => e.type === 'task_started')
        .map((e) => e.node);
    const gateOpen = () => p.instances().instances.find((i) => i.node === 'gate')!.runtimeProperties.open;
    ok(p.run(['exec', 'suspend', '-d', 'stack']));
    assert.deepEqual(order(), ['last', 'gate', 'first'], 'dependents are suspended first');
    assert.equal(p.instances().stackState, 'SUSPEND_COMPLETE');
    assert.deepEqual(states(), {
      first: 'SUSPEND_COMPLETE',
      gate: 'SUSPEND_COMPLETE',
      last: 'SUSPEND_COMPLETE',
    });
    assert.equal(gateOpen(), false, "the gate's handleSuspend ran");
    // As Heat: a suspended stack is not updated.
    const refused = p.run(['update', 'template.yaml', '-d', 'stack']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /Updating a stack when it is suspended is not supported/);
    ok(p.run(['exec', 'resume', '-d', 'stack']));
    assert.deepEqual(order(), ['first', 'gate', 'last'], 'dependencies are resumed first');
    assert.equal(p.instances().stackState, 'RESUME_COMPLETE');
    assert.deepEqual(states(), {
      first: 'RESUME_COMPLETE',
      gate: 'RESUME_COMPLETE',
      last: 'RESUME_COMPLETE',
    });
    assert.equal(gateOpen(), true, "the gate's handleResume ran");
    ok(p.run(['update', 'template.yaml', '-d', 'stack']));

    // A suspend that fails: what depends on it was suspended, what it depends on was not.
    const q = project({ WEFT_PLUGIN_DIRS: join(fixtures, 'heat-plugins') });
    q.file('template.yaml', SUSPENDED);
    ok(q.run(['install', 'template.yaml', '-d', 'stack', '-p', 'stuck=true']));
    const failed = q.run(['exec', 'suspend', '-d', 'stack']);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /error: the gate is stuck open/);
    const listed = q.instances();
    assert.equal(listed.stackState, 'SUSPEND_FAILED');
    assert.deepEqual(Object.fromEntries(listed.instances.map((i) => [i.node, i.heatState])), {
      first: 'CREATE_COMPLETE',
      gate: 'SUSPEND_FAILED',
      last: 'SUSPEND_COMPLETE',
    });
  });
});

// A resource whose type changes (here through the alias the environment maps it to, as in
// Heat's test_stack_update_alias_changes) and a resource that reads it.
const RETYPED = `heat_template_version: 2018-08-31
resources:
  test1: {type: My::TestResource}
  reader:
    type: OS::Heat::Value
    properties: {value: {get_resource: test1}}
outputs:
  id: {value: {get_resource: test1}}
  read: {value: {get_attr: [reader, value]}}
`;

const RETYPED_FAILING = RETYPED.replace(
  '{type: My::TestResource}',
  '{type: OS::Heat::TestResource, properties: {fail: true}}',
);

const FLAKY = `heat_template_version: 2018-08-31
parameters:
  fail: {type: boolean, default: false}
resources:
  test1:
    type: OS::Heat::TestResource
    properties: {value: one, fail: {get_param: fail}}
  other: {type: OS::Heat::RandomString}
outputs:
  value: {value: {get_attr: [test1, output]}}
  other: {value: {get_attr: [other, value]}}
`;

/** Index of the first line of the log matching `pattern` (-1 when none). */
const lineOf = (log: string, pattern: RegExp) => log.split('\n').findIndex((l) => pattern.test(l));

/** Whether a TestResource replacement's log has the new one created, then the old one deleted. */
const createdThenDeleted = (log: string) => {
  const created = lineOf(log, /TestResource created/);
  return created >= 0 && lineOf(log.split('\n').slice(created).join('\n'), /TestResource (\S+ )?deleted/) > 0;
};

describe('HOT stack updates that replace resources', { concurrency: true }, () => {
  test('a resource whose type changes is replaced: the new one created, then the old deleted', LIMIT, () => {
    const p = project();
    p.file('template.yaml', RETYPED);
    p.file('random.yaml', 'resource_registry: {"My::TestResource": OS::Heat::RandomString}\n');
    p.file('test.yaml', 'resource_registry: {"My::TestResource": OS::Heat::TestResource}\n');
    ok(p.run(['install', 'template.yaml', '-e', 'random.yaml', '-d', 'stack']));
    const before = p.instances().instances.find((i) => i.node === 'test1')!;
    const first = p.outputs();

    const preview = JSON.parse(
      ok(p.run(['update', 'template.yaml', '-e', 'test.yaml', '-d', 'stack', '--dry-run', '--json'])).stdout,
    );
    assert.deepEqual(preview.replaced, ['test1']);
    assert.deepEqual(preview.updated, ['reader']);
    const plan = ok(p.run(['plan', '-d', 'stack', 'template.yaml', '-e', 'test.yaml'])).stdout;
    assert.match(
      plan,
      /test1 \(type OS::Heat::RandomString -> OS::Heat::TestResource; replaced, new created before old deleted: its type changes/,
    );

    const log = ok(p.run(['update', 'template.yaml', '-e', 'test.yaml', '-d', 'stack'])).stdout;
    const listed = p.instances();
    assert.equal(listed.stackState, 'UPDATE_COMPLETE');
    const now = listed.instances.filter((i) => i.node === 'test1');
    assert.equal(now.length, 1, 'one test1, the old one is gone');
    assert.notEqual(now[0]!.id, before.id);
    assert.equal(now[0]!.heatState, 'CREATE_COMPLETE');
    assert.equal(now[0]!.runtimeProperties.output, 'test_string', 'it is a TestResource now');
    const created = lineOf(log, new RegExp(`\\[${now[0]!.id} create\\] .*lifecycle.create succeeded`));
    const updated = lineOf(log, /\[reader_\w+ update\] .*resource.update succeeded/);
    const deleted = lineOf(log, new RegExp(`\\[${before.id} delete\\] RandomString ${before.id} deleted`));
    assert.ok(created >= 0 && updated > created && deleted > updated, log);
    const outputs = p.outputs();
    assert.notEqual(outputs.id, first.id, "the resource's id changed");
    assert.equal(outputs.read, outputs.id, 'what reads it reads the new one');
  });

  test('a type change whose create fails: the rollback returns the resource to its old type', LIMIT, () => {
    const p = project();
    p.file('template.yaml', RETYPED);
    p.file('random.yaml', 'resource_registry: {"My::TestResource": OS::Heat::RandomString}\n');
    p.file('fail.yaml', RETYPED_FAILING);
    ok(p.run(['install', 'template.yaml', '-e', 'random.yaml', '-d', 'stack']));
    const original = p.instances().instances.find((i) => i.node === 'test1')!;
    const failed = p.run(['update', 'fail.yaml', '-d', 'stack', '--rollback-on-failure']);
    assert.equal(failed.code, 1, failed.stderr);
    const listed = p.instances();
    assert.equal(listed.stackState, 'ROLLBACK_COMPLETE');
    assert.deepEqual(listed.instances.map((i) => i.node).sort(), ['reader', 'test1']);
    const test1 = listed.instances.find((i) => i.node === 'test1')!;
    // The backup (test1@replaced, COMPLETE) is swapped back in: the same resource, not a new one.
    assert.equal(test1.id, original.id);
    assert.equal(test1.runtimeProperties.value, original.runtimeProperties.value);
    assert.equal(p.outputs().read, p.outputs().id, 'what reads it reads the one swapped back in');

    // Without the rollback, the old resource stays (as test1@replaced) until the next update.
    const q = project();
    q.file('template.yaml', RETYPED);
    q.file('random.yaml', 'resource_registry: {"My::TestResource": OS::Heat::RandomString}\n');
    q.file('fail.yaml', RETYPED_FAILING);
    ok(q.run(['install', 'template.yaml', '-e', 'random.yaml', '-d', 'stack']));
    assert.equal(q.run(['update', 'fail.yaml', '-d', 'stack']).code, 1);
    const states = () => Object.fromEntries(q.instances().instances.map((i) => [i.node, i.heatState]));
    assert.deepEqual(states(), {
      reader: 'CREATE_COMPLETE',
      test1: 'CREATE_FAILED',
      'test1@replaced': 'CREATE_COMPLETE',
    });
    ok(q.run(['update', 'template.yaml', '-e', 'random.yaml', '-d', 'stack']));
    assert.deepEqual(Object.keys(states()).sort(), ['reader', 'test1']);
  });

  test(
    "a failed update's rollback swaps the replaced RandomString back in: its value is the original",
    LIMIT,
    () => {
      const p = project();
      const template = (secret: string, extra = '') => `heat_template_version: 2018-08-31
resources:
  secret: ${secret}
  reader:
    type: OS::Heat::Value
    properties: {value: {get_attr: [secret, value]}}
${extra}outputs:
  secret: {value: {get_attr: [secret, value]}}
  read: {value: {get_attr: [reader, value]}}
`;
      p.file('template.yaml', template('{type: OS::Heat::RandomString}'));
      p.file(
        'next.yaml',
        template(
          '{type: OS::Heat::Value, properties: {value: replaced}}',
          '  broken:\n    type: OS::Heat::TestResource\n    properties: {fail: true}\n',
        ),
      );
      ok(p.run(['install', 'template.yaml', '-d', 'stack']));
      const first = p.outputs();
      assert.equal(String(first.secret).length, 32);
      const failed = p.run(['update', 'next.yaml', '-d', 'stack', '--rollback-on-failure']);
      assert.equal(failed.code, 1, failed.stderr);
      const listed = p.instances();
      assert.equal(listed.stackState, 'ROLLBACK_COMPLETE');
      assert.deepEqual(listed.instances.map((i) => i.node).sort(), ['reader', 'secret']);
      assert.deepEqual(p.outputs(), first, 'the RandomString value after the rollback is the original one');
    },
  );

  test('Cloudify DSL still refuses a node whose type changes', LIMIT, () => {
    const p = project();
    const blueprint = (type: string) => `tosca_definitions_version: cloudify_dsl_1_5
imports: [cloudify/types/types.yaml]
node_templates:
  thing: {type: ${type}}
`;
    p.file('a.yaml', blueprint('cloudify.nodes.Root'));
    p.file('b.yaml', blueprint('cloudify.nodes.Compute'));
    ok(p.run(['install', 'a.yaml', '-d', 'stack']));
    const refused = p.run(['update', 'b.yaml', '-d', 'stack', '--dry-run']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /node 'thing' would change its type from cloudify.nodes.Root to cloudify.nodes.Compute/,
    );
  });

  test('a resource whose create failed is replaced by the next update', LIMIT, () => {
    const p = project();
    p.file('template.yaml', FLAKY);
    assert.equal(p.run(['install', 'template.yaml', '-d', 'stack', '-p', 'fail=true']).code, 1);
    const failed = p.instances().instances.find((i) => i.node === 'test1')!;
    assert.equal(failed.heatState, 'CREATE_FAILED');
    const other = p.instances().instances.find((i) => i.node === 'other')!;
    // The same template: the failed resource is replaced (and fails again), nothing else changes.
    const preview = JSON.parse(
      ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'fail=true', '--dry-run', '--json'])).stdout,
    );
    const { added, deleted, updated, replaced, unchanged } = preview;
    assert.deepEqual(
      { added, deleted, updated, replaced, unchanged },
      { added: [], deleted: [], updated: [], replaced: ['test1'], unchanged: ['other'] },
    );
    const again = p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'fail=true']);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stdout + again.stderr, /replacing TestResource test1_\w+: its last create failed/);
    assert.equal(p.instances().stackState, 'UPDATE_FAILED');
    // Fixed: replaced, the new one created before the failed one is deleted.
    const log = ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'fail=false'])).stdout;
    assert.ok(createdThenDeleted(log), log);
    const listed = p.instances();
    assert.equal(listed.stackState, 'UPDATE_COMPLETE');
    const test1 = listed.instances.find((i) => i.node === 'test1')!;
    assert.equal(test1.heatState, 'UPDATE_COMPLETE');
    assert.equal(test1.id, failed.id);
    assert.deepEqual(
      listed.instances.find((i) => i.node === 'other'),
      other,
      'other is untouched',
    );
    assert.equal(p.outputs().value, 'one');
    // Nothing failed now: the same template changes nothing.
    const none = JSON.parse(
      ok(p.run(['update', 'template.yaml', '-d', 'stack', '--dry-run', '--json'])).stdout,
    );
    assert.deepEqual(none.unchanged, ['other', 'test1']);
  });

  test(
    'a resource that failed its check (CHECK_FAILED) is replaced by an update of the same template',
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', FLAKY);
      ok(p.run(['install', 'template.yaml', '-d', 'stack']));
      // An update that fails leaves test1 UPDATE_FAILED; the check then finds it CHECK_FAILED.
      assert.equal(p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'fail=true']).code, 1);
      ok(p.run(['exec', 'check_status', '-d', 'stack']));
      const states = () => Object.fromEntries(p.instances().instances.map((i) => [i.node, i.heatState]));
      assert.deepEqual(states(), { other: 'CHECK_COMPLETE', test1: 'CHECK_FAILED' });
      const preview = JSON.parse(
        ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'fail=true', '--dry-run', '--json']))
          .stdout,
      );
      assert.deepEqual(preview.replaced, ['test1']);
      const text = ok(p.run(['plan', '-d', 'stack', 'template.yaml', '-p', 'fail=false'])).stdout;
      assert.match(text, /^-\/\+ test1_\w+$/m);
      const log = ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'fail=false'])).stdout;
      assert.match(log, /replacing TestResource test1_\w+: it failed its last check/);
      assert.ok(createdThenDeleted(log), log);
      assert.deepEqual(states(), { other: 'CHECK_COMPLETE', test1: 'UPDATE_COMPLETE' });
    },
  );
});

const READ = `heat_template_version: 2018-08-31
parameters:
  len: {type: number, default: 8}
  text: {type: string, default: one}
resources:
  random: {type: OS::Heat::RandomString, properties: {length: {get_param: len}}}
  value: {type: OS::Heat::Value, properties: {value: {get_param: text}}}
outputs:
  random: {value: {get_attr: [random, value]}}
  value: {value: {get_attr: [value, value]}}
`;
const READ_ADDED = `${READ}  copy_random: {value: {get_attr: [copy_random, value]}}
  copy_value: {value: {get_attr: [copy_value, value]}}
`.replace(
  'outputs:',
  `  copy_random: {type: OS::Heat::Value, properties: {value: {get_attr: [random, value]}}}
  copy_value: {type: OS::Heat::Value, properties: {value: {get_attr: [value, value]}}}
outputs:`,
);

describe('HOT stack updates ordered by dependencies', () => {
  test(
    'a resource the update adds that reads one it replaces or updates in place is made after it, from the new values',
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', READ);
      ok(p.run(['install', 'template.yaml', '-d', 'stack']));
      const before = p.outputs();
      assert.equal(String(before.random).length, 8);
      p.file('added.yaml', READ_ADDED);
      const preview = JSON.parse(
        ok(
          p.run([
            'update',
            'added.yaml',
            '-d',
            'stack',
            '-p',
            'len=12',
            '-p',
            'text=two',
            '--dry-run',
            '--json',
          ]),
        ).stdout,
      );
      assert.deepEqual(
        { added: preview.added, replaced: preview.replaced, updated: preview.updated },
        { added: ['copy_random', 'copy_value'], replaced: ['random'], updated: ['value'] },
      );
      ok(p.run(['update', 'added.yaml', '-d', 'stack', '-p', 'len=12', '-p', 'text=two']));
      const after = p.outputs();
      assert.equal(String(after.random).length, 12, 'random is replaced');
      assert.notEqual(after.random, before.random);
      assert.equal(after.value, 'two', 'value is updated in place');
      // The added Values read the replacement's value and the updated one, not the old ones.
      assert.deepEqual(
        { copy_random: after.copy_random, copy_value: after.copy_value },
        { copy_random: after.random, copy_value: 'two' },
      );
      assert.equal(p.instances().stackState, 'UPDATE_COMPLETE');
    },
  );
});

// Heat's ResourceGroupUpdatePolicyTest template (test_resource_group.py), with 5 members.
const ROLLING = (
  policy: string,
  value: string,
  replace = false,
  count = 5,
) => `heat_template_version: '2015-04-30'
resources:
  random_group:
    type: OS::Heat::ResourceGroup
    update_policy:
      rolling_update: ${policy}
    properties:
      count: ${count}
      resource_def:
        type: OS::Heat::TestResource
        properties:
          value: ${value}
          update_replace: ${replace}
`;

/**
 * The batches an update's log shows for the group's members: members whose updates (or creates)
 * ran together,
 * in order, each batch started once the one before had ended (and its pause, if any, was over).
 */
function batchesOf(log: string): { batches: number[][]; pauses: number } {
  const lines = log.split('\n');
  const runs = new Map<number, { start: number; end: number }>();
  lines.forEach((line, at) => {
    const match =
      /\[random_group\.(\d+)_\w+ (?:update|create)\] (?:weft\.interfaces\.resource\.update|cloudify\.interfaces\.lifecycle\.create)( succeeded)?$/.exec(
        line,
      );
    if (!match) return;
    const member = Number(match[1]);
    const run = runs.get(member) ?? { start: at, end: -1 };
    if (match[2]) run.end = at;
    runs.set(member, run);
  });
  const batches: number[][] = [];
  let end = -1;
  for (const [member, run] of [...runs].sort((a, b) => a[1].start - b[1].start)) {
    assert.ok(run.end > run.start, `member ${member} updated\n${log}`);
    if (run.start > end) batches.push([]);
    batches.at(-1)!.push(member);
    end = Math.max(end, run.end);
  }
  for (const batch of batches) batch.sort((a, b) => b - a);
  return {
    batches,
    pauses: lines.filter((l) => /rolling update of random_group: pause after batch \d+ over/.test(l)).length,
  };
}

describe('HOT ResourceGroup rolling_update', { concurrency: true }, () => {
  test(
    'members are updated in batches of max_batch_size, highest index first, pausing between',
    LIMIT,
    () => {
      const p = project();
      p.file('initial.yaml', ROLLING('{min_in_service: 1, max_batch_size: 2, pause_time: 0.5}', 'initial'));
      p.file('updated.yaml', ROLLING('{min_in_service: 1, max_batch_size: 2, pause_time: 0.5}', 'updated'));
      ok(p.run(['install', 'initial.yaml', '-d', 'stack']));
      const plan = ok(p.run(['plan', '-d', 'stack', 'updated.yaml'])).stdout;
      assert.equal(plan.match(/random_group_\w+ weft\.interfaces\.rolling_update\.pause/g)?.length, 2, plan);
      const { batches, pauses } = batchesOf(ok(p.run(['update', 'updated.yaml', '-d', 'stack'])).stdout);
      assert.deepEqual(batches, [[4, 3], [2, 1], [0]]);
      assert.equal(pauses, 2);
      const listed = p.instances();
      assert.equal(listed.stackState, 'UPDATE_COMPLETE');
      const members = listed.instances.filter((i) => i.node.startsWith('random_group.'));
      assert.equal(members.length, 5);
      for (const member of members) {
        assert.equal(member.heatState, 'UPDATE_COMPLETE', member.node);
        assert.equal(member.runtimeProperties.output, 'updated', member.node);
      }
    },
  );

  test(
    "a batch that updates no member is one of Heat's batches all the same: the group pauses len(batches) - 1 times, after it too",
    LIMIT,
    () => {
      const p = project();
      const policy = '{max_batch_size: 1, pause_time: 0.2}';
      // Member 2's definition stays the same ('2' either way); 1 and 0 change.
      p.file('initial.yaml', ROLLING(policy, "'2'", false, 3));
      p.file('updated.yaml', ROLLING(policy, "'%index%'", false, 3));
      ok(p.run(['install', 'initial.yaml', '-d', 'stack']));
      // Heat's _get_batches for 3 members in batches of 1: (3, 1) three times. The first
      // updates 1, the second 0, the third nothing; _replace pauses after the first two.
      const plan = ok(p.run(['plan', '-d', 'stack', 'updated.yaml'])).stdout;
      assert.equal(plan.match(/random_group_\w+ weft\.interfaces\.rolling_update\.pause/g)?.length, 2, plan);
      const log = ok(p.run(['update', 'updated.yaml', '-d', 'stack'])).stdout;
      assert.deepEqual(batchesOf(log), { batches: [[1], [0]], pauses: 2 });
      // The pauses in order: after batch 1 (member 1), after batch 2 (member 0); the group's update
      // ends after the second.
      const lines = log.split('\n');
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      const updated = (m: number) =>
        at(
          new RegExp(
            `\\[random_group\\.${m}_\\w+ update\\] weft\\.interfaces\\.resource\\.update succeeded$`,
          ),
        );
      const paused = (b: number) =>
        at(new RegExp(`rolling update of random_group: pause after batch ${b} over`));
      assert.ok(updated(1) < paused(1) && paused(1) < updated(0) && updated(0) < paused(2), log);
      const listed = p.instances();
      assert.equal(listed.stackState, 'UPDATE_COMPLETE');
      assert.deepEqual(
        listed.instances
          .filter((i) => i.node.startsWith('random_group.'))
          .map((i) => i.runtimeProperties.output),
        ['0', '1', '2'],
      );
    },
  );

  test(
    "Heat's rolling cases: replace in batches of 3 keeping 1 in service; a huge batch size is one batch",
    LIMIT,
    () => {
      const p = project();
      p.file('initial.yaml', ROLLING("{min_in_service: '1', max_batch_size: '3', pause_time: 0}", 'initial'));
      // test_resource_group_update_replace: every member replaced, in batches of 3.
      p.file(
        'replace.yaml',
        ROLLING("{min_in_service: '1', max_batch_size: '3', pause_time: 0}", 'updated', true),
      );
      // test_resource_group_update_huge_batch_size: all at once.
      p.file('huge.yaml', ROLLING("{min_in_service: '0', max_batch_size: '20'}", 'again', true));
      ok(p.run(['install', 'initial.yaml', '-d', 'stack']));
      const preview = JSON.parse(
        ok(p.run(['update', 'replace.yaml', '-d', 'stack', '--dry-run', '--json'])).stdout,
      );
      assert.deepEqual(
        preview.replaced,
        [0, 1, 2, 3, 4].map((i) => `random_group.${i}`),
      );
      const replaced = ok(p.run(['update', 'replace.yaml', '-d', 'stack'])).stdout;
      assert.deepEqual(batchesOf(replaced), {
        batches: [
          [4, 3, 2],
          [1, 0],
        ],
        pauses: 0,
      });
      assert.equal(replaced.match(/TestResource replaced/g)?.length, 5, replaced);
      const huge = ok(p.run(['update', 'huge.yaml', '-d', 'stack'])).stdout;
      assert.deepEqual(batchesOf(huge), { batches: [[4, 3, 2, 1, 0]], pauses: 0 });
      const listed = p.instances().instances.filter((i) => i.node.startsWith('random_group.'));
      assert.deepEqual(
        listed.map((i) => i.runtimeProperties.output),
        ['again', 'again', 'again', 'again', 'again'],
      );
    },
  );
  test(
    "Heat's test_resource_group_update_scaleup: the member a count increase adds is made in the first batch, counting against its size",
    LIMIT,
    () => {
      const p = project();
      const policy = "{min_in_service: '1', max_batch_size: '3'}";
      p.file('initial.yaml', ROLLING(policy, 'initial'));
      p.file('scaleup.yaml', ROLLING(policy, 'updated', false, 6));
      ok(p.run(['install', 'initial.yaml', '-d', 'stack']));
      // Heat's _get_batches for 6 members from 5: (6, 3) then (6, 3); the first batch creates
      // member 5 and updates 4 and 3.
      const log = ok(p.run(['update', 'scaleup.yaml', '-d', 'stack'])).stdout;
      assert.deepEqual(batchesOf(log), {
        batches: [
          [5, 4, 3],
          [2, 1, 0],
        ],
        pauses: 0,
      });
      const members = p.instances().instances.filter((i) => i.node.startsWith('random_group.'));
      assert.deepEqual(
        members.map((i) => i.runtimeProperties.output),
        Array(6).fill('updated'),
      );
    },
  );
  test(
    "Heat's test_resource_group_update_with_adjusted_capacity: temporary members keep min_in_service in service, made in the first batch and removed after the last",
    LIMIT,
    () => {
      const p = project();
      const policy = "{min_in_service: '8', max_batch_size: '4'}";
      p.file('initial.yaml', ROLLING(policy, 'initial', false, 10));
      p.file('updated.yaml', ROLLING(policy, 'updated', false, 10));
      // The plan of the template shows its resources: the spare members made only for the rolling
      // update are none of them.
      const planned = JSON.parse(ok(p.run(['plan', 'initial.yaml', '--json'])).stdout) as {
        nodes: { name: string }[];
      };
      assert.equal(planned.nodes.filter((n) => n.name.startsWith('random_group.')).length, 10);
      ok(p.run(['install', 'initial.yaml', '-d', 'stack']));
      const idsOf = () =>
        p
          .instances()
          .instances.filter((i) => i.node.startsWith('random_group.'))
          .map((i) => [i.node, i.runtimeProperties.resource_id]);
      const before = idsOf();
      assert.equal(before.length, 10);
      // Heat's _get_batches for 10 members, 8 in service, batches of 4: (12, 4) three times, then
      // (10, 0). The first makes members 10 and 11 and updates 9 and 8 (two go out of service,
      // two come in), the next two update 7 to 0, the last removes 10 and 11.
      const log = ok(p.run(['update', 'updated.yaml', '-d', 'stack'])).stdout;
      assert.deepEqual(batchesOf(log), {
        batches: [
          [11, 10, 9, 8],
          [7, 6, 5, 4],
          [3, 2, 1, 0],
        ],
        pauses: 0,
      });
      const lines = log.split('\n');
      const lastUpdate = lines.findLastIndex((l) =>
        /\[random_group\.\d+_\w+ update\] weft\.interfaces\.resource\.update succeeded$/.test(l),
      );
      const deleted = lines
        .map(
          (l, at) =>
            [
              /\[random_group\.(\d+)_\w+ delete\] cloudify\.interfaces\.lifecycle\.delete$/.exec(l)?.[1],
              at,
            ] as const,
        )
        .filter(([member]) => member !== undefined);
      assert.deepEqual(deleted.map(([member]) => member).sort(), ['10', '11'], log);
      for (const [, at] of deleted) assert.ok(at > lastUpdate, log);
      // The group's members are those it had, each updated in place; the temporary ones are gone.
      assert.deepEqual(idsOf(), before);
      const listed = p.instances();
      assert.equal(listed.stackState, 'UPDATE_COMPLETE');
      for (const member of listed.instances.filter((i) => i.node.startsWith('random_group.')))
        assert.equal(member.runtimeProperties.output, 'updated', member.node);
    },
  );
  test(
    "Heat's test_create_nested_groups_with_timeout: batch_create makes the members one batch after the other, pausing between, nested groups too",
    LIMIT,
    () => {
      const p = project();
      const group = (name: string, type: string) => `heat_template_version: rocky
resources:
  ${name}:
    type: OS::Heat::ResourceGroup
    update_policy:
      batch_create: { max_batch_size: 1, pause_time: 1 }
    properties:
      count: 2
      resource_def:
        type: ${type}
`;
      p.file('parent.yaml', group('parent_group', 'child.yaml'));
      p.file('child.yaml', group('child_group', 'value.yaml'));
      p.file(
        'value.yaml',
        "heat_template_version: rocky\nresources:\n  value:\n    type: OS::Heat::Value\n    properties: {type: string, value: 'test'}\n",
      );
      const plan = ok(p.run(['plan', 'parent.yaml'])).stdout;
      assert.equal(plan.match(/ weft\.interfaces\.rolling_update\.pause /g)?.length, 3, plan);
      const log = ok(p.run(['install', 'parent.yaml', '-d', 'stack'])).stdout;
      const started = [
        ...log.matchAll(
          /\[(parent_group[\w.]*)_[a-z0-9]{6} (?:create|pause)\] (?:cloudify\.interfaces\.lifecycle\.create|weft\.interfaces\.rolling_update\.pause)$/gm,
        ),
      ].map((m) => m[1]);
      assert.deepEqual(started, [
        'parent_group.0.child_group.0.value',
        'parent_group.0.child_group.0',
        'parent_group.0.child_group',
        'parent_group.0.child_group.1.value',
        'parent_group.0.child_group.1',
        'parent_group.0.child_group',
        'parent_group.0',
        'parent_group',
        'parent_group.1.child_group.0.value',
        'parent_group.1.child_group.0',
        'parent_group.1.child_group',
        'parent_group.1.child_group.1.value',
        'parent_group.1.child_group.1',
        'parent_group.1.child_group',
        'parent_group.1',
        'parent_group',
      ]);
      assert.equal(log.match(/rolling update of \S+: pause after batch 1 over/g)?.length, 3, log);
      assert.equal(p.instances().stackState, 'CREATE_COMPLETE');
    },
  );
  test(
    "Heat's test_resource_group_update_scaledown and _adjusted: members a smaller count removes go in the batch that leaves them out",
    LIMIT,
    () => {
      const p = project();
      p.file('initial.yaml', ROLLING("{min_in_service: '8', max_batch_size: '4'}", 'initial', false, 10));
      p.file('adjusted.yaml', ROLLING("{min_in_service: '8', max_batch_size: '4'}", 'updated', false, 6));
      p.file('scaledown.yaml', ROLLING("{min_in_service: '1', max_batch_size: '3'}", 'updated', false, 6));
      ok(p.run(['install', 'initial.yaml', '-d', 'stack']));
      // The wave of each member's update (u) or deletion (d) in the plan.
      const waves = (template: string) => {
        const plan = ok(p.run(['plan', '-d', 'stack', template])).stdout;
        const found: Record<string, number> = {};
        for (const [, wave, member, op] of plan.matchAll(
          /^ +(\d+)\. random_group\.(\d+)_\w+ (weft\.interfaces\.resource\.update|cloudify\.interfaces\.lifecycle\.delete)$/gm,
        ))
          found[`${op!.endsWith('update') ? 'u' : 'd'}${member}`] = Number(wave);
        return found;
      };
      // Heat's _get_batches for 6 members from 10, 8 in service: (10, 4) updates 5 to 2; (8, 2)
      // updates 1 and 0 and removes 9 and 8; (6, 0) removes 7 and 6.
      const adjusted = waves('adjusted.yaml');
      const before = (a: string[], b: string[]) =>
        assert.ok(
          Math.max(...a.map((k) => adjusted[k]!)) < Math.min(...b.map((k) => adjusted[k]!)),
          JSON.stringify(adjusted),
        );
      before(['u5', 'u4', 'u3', 'u2'], ['u1', 'u0', 'd9', 'd8']);
      before(['u1', 'u0', 'd9', 'd8'], ['d7', 'd6']);
      // One in service, batches of 3: (6, 3) removes 9 to 6 and updates 5 to 3; (6, 3) the rest.
      const scaledown = waves('scaledown.yaml');
      assert.ok(
        Math.max(scaledown.d9!, scaledown.d6!, scaledown.u3!) < Math.min(scaledown.u2!, scaledown.u0!),
        JSON.stringify(scaledown),
      );
      ok(p.run(['update', 'adjusted.yaml', '-d', 'stack']));
      const members = p.instances().instances.filter((i) => i.node.startsWith('random_group.'));
      assert.deepEqual(
        members.map((i) => [i.node, i.runtimeProperties.output]),
        [0, 1, 2, 3, 4, 5].map((n) => [`random_group.${n}`, 'updated']),
      );
    },
  );
});

describe('HOT stack update cancelled', () => {
  // Heat's test_stack_cancel.py template, with shorter updates: long enough for the cancel to come
  // while test1's update runs, short going back.
  const BEFORE = `heat_template_version: pike
resources:
  test1:
    type: OS::Heat::TestResource
    properties: {value: Test1, action_wait_secs: {update: 1}}
  test2:
    type: OS::Heat::TestResource
    properties: {value: Test1}
    depends_on: [test1]
`;

  test(
    'weft cancel during an update rolls the stack back to its previous template (ROLLBACK_COMPLETE)',
    LIMIT,
    async () => {
      const p = project();
      p.file('before.yaml', BEFORE);
      p.file(
        'after.yaml',
        BEFORE.replaceAll('value: Test1', 'value: Test2').replace('update: 1', 'update: 10'),
      );
      ok(p.run(['install', 'before.yaml', '-d', 'stack']));
      const update = weftInBackground(
        ['update', join(p.dir, 'after.yaml'), '-d', 'stack', '--state-dir', join(p.dir, '.weft')],
        { ...NO_WEFT_ENVIRONMENT, CI: 'true' },
      );
      await update.line(/\[test1_\w+ update\] test1_\w+ waits 10 s \(update\)$/);
      ok(p.run(['cancel', '-d', 'stack']));
      assert.equal(await update.exit, 1, update.lines.join('\n'));
      const log = `${update.lines.join('\n')}\n${update.stderr()}`;
      assert.match(log, /The update was cancelled: rolling deployment 'stack' back to its previous version/);
      assert.doesNotMatch(log, /test2_\w+ update\] updating/, 'test2 was never updated');
      const listed = p.instances();
      assert.equal(listed.stackState, 'ROLLBACK_COMPLETE');
      assert.deepEqual(
        Object.fromEntries(listed.instances.map((i) => [i.node, i.runtimeProperties.output])),
        {
          test1: 'Test1',
          test2: 'Test1',
        },
      );
    },
  );
});

describe('HOT stack cancelled without rollback', () => {
  test(
    "weft cancel --no-rollback is refused but for a stack's create or update (Heat's words), and with --force",
    LIMIT,
    async () => {
      const p = project();
      p.file(
        'slow-delete.yaml',
        `heat_template_version: pike
resources:
  test1:
    type: OS::Heat::TestResource
    properties: {action_wait_secs: {delete: 30}}
`,
      );
      ok(p.run(['install', 'slow-delete.yaml', '-d', 'stack']));
      const conflicting = p.run(['cancel', '-d', 'stack', '--no-rollback', '--force']);
      assert.equal(conflicting.code, 2, conflicting.stderr);
      assert.match(conflicting.stderr, /--force.*cannot be used with option '--no-rollback'/);
      const uninstall = weftInBackground(
        ['uninstall', '-d', 'stack', '--yes', '--state-dir', join(p.dir, '.weft')],
        { ...NO_WEFT_ENVIRONMENT, CI: 'true' },
      );
      await uninstall.line(/test1_\w+ waits 30 s \(delete\)$/);
      const refused = p.run(['cancel', '-d', 'stack', '--no-rollback']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /Cancelling update when stack is DELETE_IN_PROGRESS is not supported\./);
      // The refusal changed nothing: the delete runs on until a plain cancel stops it.
      assert.equal(p.instances().stackState, 'DELETE_IN_PROGRESS');
      ok(p.run(['cancel', '-d', 'stack', '--force']));
      assert.equal(await uninstall.exit, 1, uninstall.lines.join('\n'));
    },
  );
});

describe('HOT stack update --existing', () => {
  test(
    "keeps the stack's template, files and environment, the parameters given over its own; refused with a template",
    LIMIT,
    () => {
      const p = project();
      p.file(
        'template.yaml',
        `heat_template_version: rocky
parameters:
  value: {type: string}
  other: {type: string, default: kept}
resources:
  res:
    type: My::Value
    properties: {value: {list_join: ['-', [{get_param: value}, {get_param: other}]]}}
outputs:
  value: {value: {get_attr: [res, output]}}
`,
      );
      p.file('env.yaml', 'resource_registry:\n  My::Value: OS::Heat::TestResource\n');
      ok(
        p.run([
          'install',
          'template.yaml',
          '-e',
          'env.yaml',
          '-p',
          'value=one',
          '-p',
          'other=two',
          '-d',
          'stack',
        ]),
      );
      // Not even the template's directory is read: the stack's own files are.
      p.file('template.yaml', 'heat_template_version: rocky\n');
      ok(p.run(['update', '--existing', '-p', 'value=three', '-d', 'stack']));
      assert.deepEqual(p.outputs(), { value: 'three-two' });
      // Without its environment, My::Value would be no type at all.
      const listed = p.instances();
      assert.deepEqual(
        [listed.stackState, ...listed.instances.map((i) => `${i.node} ${i.heatState}`)],
        ['UPDATE_COMPLETE', 'res UPDATE_COMPLETE'],
      );
      const refused = p.run(['update', 'template.yaml', '--existing', '-d', 'stack']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(
        refused.stderr,
        /--existing updates the stack with its own template: give no template or plan/,
      );
    },
  );
});

// A template resource of a template resource (nested1.nested2.random), a group of template
// resources with a rolling update that pauses, a chain and a plain resource.
const NESTING = `heat_template_version: 2016-04-08
resources:
  nested1: {type: nested1.yaml}
  group:
    type: OS::Heat::ResourceGroup
    update_policy: {rolling_update: {max_batch_size: 1, pause_time: 30}}
    properties:
      count: 2
      resource_def: {type: member.yaml}
  chain:
    type: OS::Heat::ResourceChain
    properties: {resources: [OS::Heat::RandomString]}
  plain: {type: OS::Heat::RandomString}
outputs:
  random: {value: {get_attr: [nested1, random]}}
  members: {value: {get_attr: [group, value]}}
`;
const NESTED1 = `heat_template_version: 2016-04-08
resources:
  nested2: {type: nested2.yaml}
outputs:
  random: {value: {get_attr: [nested2, random]}}
`;
const NESTED2 = `heat_template_version: 2016-04-08
resources:
  random: {type: OS::Heat::RandomString}
outputs:
  random: {value: {get_attr: [random, value]}}
`;
const MEMBER = (salt: string) => `heat_template_version: 2016-04-08
resources:
  random: {type: OS::Heat::RandomString, properties: {salt: ${salt}}}
outputs:
  value: {value: {get_attr: [random, value]}}
`;

describe('HOT stack updates of stack resources', { concurrency: true }, () => {
  const nesting = () => {
    const p = project();
    p.file('template.yaml', NESTING);
    p.file('nested1.yaml', NESTED1);
    p.file('nested2.yaml', NESTED2);
    p.file('member.yaml', MEMBER('one'));
    ok(p.run(['install', 'template.yaml', '-d', 'stack']));
    return p;
  };
  const STACK_RESOURCES = ['chain', 'group', 'group.0', 'group.1', 'nested1', 'nested1.nested2'];

  test(
    "the same template updates every stack resource (UPDATE_COMPLETE), as Heat's StackResource does, and nothing in their stacks",
    LIMIT,
    () => {
      const p = nesting();
      const before = p.instances().instances;
      const outputs = p.outputs();
      // Heat's preview shows every stack resource updated, what is in them unchanged.
      const preview = JSON.parse(
        ok(p.run(['update', 'template.yaml', '-d', 'stack', '--dry-run', '--json'])).stdout,
      );
      assert.deepEqual(
        { updated: preview.updated, unchanged: preview.unchanged, replaced: preview.replaced },
        {
          updated: STACK_RESOURCES,
          unchanged: ['chain.0', 'group.0.random', 'group.1.random', 'nested1.nested2.random', 'plain'],
          replaced: [],
        },
      );
      const log = ok(p.run(['update', 'template.yaml', '-d', 'stack'])).stdout;
      const listed = p.instances();
      assert.equal(listed.stackState, 'UPDATE_COMPLETE');
      for (const i of listed.instances) {
        const old = before.find((b) => b.id === i.id);
        assert.ok(old, `${i.node} is the instance it was`);
        if (STACK_RESOURCES.includes(i.node)) {
          assert.equal(i.heatState, 'UPDATE_COMPLETE', i.node);
          assert.equal(i.runtimeProperties.resource_id, old.runtimeProperties.resource_id, i.node);
        } else assert.deepEqual(i, old, `${i.node} is untouched`);
      }
      assert.deepEqual(p.outputs(), outputs);
      // Each stack resource's update: started, then done, after those of the stacks in it.
      const updated = (node: string) =>
        lineOf(
          log,
          new RegExp(
            `\\[${node.replaceAll('.', '\\.')}_\\w+ update\\] \\S+ ${node.replaceAll('.', '\\.')}_\\w+ updated$`,
          ),
        );
      for (const node of STACK_RESOURCES)
        assert.ok(
          lineOf(
            log,
            new RegExp(
              `\\[${node.replaceAll('.', '\\.')}_\\w+ update\\] weft\\.interfaces\\.resource\\.update$`,
            ),
          ) >= 0 && updated(node) >= 0,
          `${node} updated\n${log}`,
        );
      assert.ok(updated('nested1.nested2') < updated('nested1'), log);
      assert.ok(updated('group.0') < updated('group') && updated('group.1') < updated('group'), log);
      // No member's definition changed: the group is not rolled in batches (no pause).
      assert.doesNotMatch(log, /rolling update of group: paus/);
    },
  );

  test(
    "a nested template's file changed: its resources are replaced in it, the stack resources around them updated, none replaced",
    LIMIT,
    () => {
      const p = nesting();
      const before = p.instances().instances;
      const outputs = p.outputs();
      p.file(
        'nested2.yaml',
        NESTED2.replace(
          '{type: OS::Heat::RandomString}',
          '{type: OS::Heat::RandomString, properties: {length: 8}}',
        ),
      );
      ok(p.run(['update', 'template.yaml', '-d', 'stack']));
      const listed = p.instances();
      const states = Object.fromEntries(listed.instances.map((i) => [i.node, i.heatState]));
      assert.deepEqual(states, {
        chain: 'UPDATE_COMPLETE',
        'chain.0': 'CREATE_COMPLETE',
        group: 'UPDATE_COMPLETE',
        'group.0': 'UPDATE_COMPLETE',
        'group.0.random': 'CREATE_COMPLETE',
        'group.1': 'UPDATE_COMPLETE',
        'group.1.random': 'CREATE_COMPLETE',
        nested1: 'UPDATE_COMPLETE',
        'nested1.nested2': 'UPDATE_COMPLETE',
        'nested1.nested2.random': 'UPDATE_COMPLETE',
        plain: 'CREATE_COMPLETE',
      });
      // The same instances (no stack replaced); the random string in nested2 made anew.
      assert.deepEqual(listed.instances.map((i) => i.id).sort(), before.map((i) => i.id).sort());
      const now = p.outputs();
      assert.equal(String(now.random).length, 8);
      assert.deepEqual(now.members, outputs.members);
    },
  );

  test(
    "a stack resource goes UPDATE_IN_PROGRESS before the resources in its stack change and UPDATE_COMPLETE after, as Heat's StackResource; a failure in its stack fails it",
    LIMIT,
    () => {
      const p = project();
      const template = (value: string, fail = false) => `heat_template_version: 2016-04-08
resources:
  tmpl:
    type: inner.yaml
    properties: {value: ${value}, fail: ${fail}}
  remote:
    type: OS::Heat::Stack
    properties:
      template: {get_file: inner.yaml}
      parameters: {value: ${value}}
  group:
    type: OS::Heat::ResourceGroup
    update_policy: {rolling_update: {max_batch_size: 1, pause_time: 0.1}}
    properties:
      count: 2
      resource_def:
        type: OS::Heat::TestResource
        properties: {value: ${value}}
`;
      p.file(
        'inner.yaml',
        `heat_template_version: 2016-04-08
parameters:
  value: {type: string}
  fail: {type: boolean, default: false}
resources:
  res:
    type: OS::Heat::TestResource
    properties: {value: {get_param: value}, fail: {get_param: fail}}
`,
      );
      p.file('one.yaml', template('one'));
      p.file('two.yaml', template('two'));
      p.file('failing.yaml', template('three', true));
      ok(p.run(['install', 'one.yaml', '-d', 'stack']));
      const log = ok(p.run(['update', 'two.yaml', '-d', 'stack'])).stdout;
      const lines = log.split('\n');
      const first = (re: RegExp) => lines.findIndex((l) => re.test(l));
      const last = (re: RegExp) => lines.findLastIndex((l) => re.test(l));
      for (const stack of ['tmpl', 'remote', 'group']) {
        // Its update begun (UPDATE_IN_PROGRESS), then every event of the resources in its stack
        // (and the group's pauses), then its update done (UPDATE_COMPLETE).
        const begun = first(
          new RegExp(`\\[${stack}_\\w+ update\\] updating StackResource .*always updated$`),
        );
        const done = first(new RegExp(`\\[${stack}_\\w+ update\\] StackResource ${stack}_\\w+ updated$`));
        const inside = new RegExp(`\\[${stack}\\.\\w+ |\\[${stack}_\\w+ pause\\]`);
        assert.ok(begun >= 0 && done > begun, `${stack}\n${log}`);
        assert.ok(first(inside) > begun && last(inside) < done, `${stack}\n${log}`);
      }
      assert.equal(log.match(/rolling update of group: pause after batch \d+ over/g)?.length, 1, log);
      assert.deepEqual(
        p
          .instances()
          .instances.map((i) => `${i.node} ${i.heatState}`)
          .sort(),
        [
          'group UPDATE_COMPLETE',
          'group.0 UPDATE_COMPLETE',
          'group.1 UPDATE_COMPLETE',
          'remote UPDATE_COMPLETE',
          'remote.res UPDATE_COMPLETE',
          'tmpl UPDATE_COMPLETE',
          'tmpl.res UPDATE_COMPLETE',
        ],
      );
      // A resource in its stack fails: so does the stack resource (its nested stack failed), and
      // the next update finishes it.
      const failed = p.run(['update', 'failing.yaml', '-d', 'stack']);
      assert.equal(failed.code, 1, failed.stderr);
      const states = Object.fromEntries(p.instances().instances.map((i) => [i.node, i.heatState]));
      assert.deepEqual([states['tmpl.res'], states.tmpl], ['UPDATE_FAILED', 'UPDATE_FAILED']);
      ok(p.run(['update', 'two.yaml', '-d', 'stack']));
      const listed = p.instances();
      assert.equal(listed.stackState, 'UPDATE_COMPLETE');
      for (const i of listed.instances) assert.equal(i.heatState, 'UPDATE_COMPLETE', i.node);
    },
  );
});
