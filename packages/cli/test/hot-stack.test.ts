// Heat's whole-stack actions on a HOT deployment through the CLI: abandon (the stack's data
// printed, the deployment forgotten, its resources left in place), install --adopt (a stack
// that takes them over), snapshots and restore. Heat's heat_integrationtests/functional/test_abandon_adopt.py cases, with
// a file resource whose existence shows what was deleted and what was not. Real processes on a
// real SQLite state directory.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, ok } from '@weft/testing/cli';
import { fixtures, tempDir, weft } from './helpers.js';

const LIMIT = { timeout: 120_000 };

// Heat's AbandonAdoptTest template, with a RandomString (its value is data of its own) and a file.
const TEMPLATE = `heat_template_version: 2014-10-16
parameters:
  path: {type: string}
resources:
  test1:
    type: OS::Heat::TestResource
    properties:
      value: test_value_1
  test2:
    type: OS::Heat::TestResource
    properties:
      value: test_value_2
  secret:
    type: OS::Heat::RandomString
  file:
    type: Weft::Test::File
    properties:
      path: {get_param: path}
      content: {get_attr: [secret, value]}
outputs:
  test1_output:
    value: {get_attr: [test1, output]}
  test2_output:
    value: {get_attr: [test2, output]}
  secret:
    value: {get_attr: [secret, value]}
`;

// Heat's NestedStackAdoptTest templates.
const PARENT = `heat_template_version: 2014-10-16
resources:
  parent_resource:
    type: OS::Heat::TestResource
    properties:
      value: parent_value
  nested:
    type: nested.yaml
outputs:
  parent_output:
    value: {get_attr: [parent_resource, output]}
  nested_output1:
    value: {get_attr: [nested, nested_output1]}
  nested_output2:
    value: {get_attr: [nested, nested_output2]}
`;

const NESTED = `heat_template_version: 2014-10-16
resources:
  nested_resource1:
    type: OS::Heat::TestResource
    properties:
      value: nested_value_1
  nested_resource2:
    type: OS::Heat::TestResource
    properties:
      value: nested_value_2
outputs:
  nested_output1:
    value: {get_attr: [nested_resource1, output]}
  nested_output2:
    value: {get_attr: [nested_resource2, output]}
`;

interface Abandoned {
  name: string;
  id: string;
  action: string;
  environment: Record<string, unknown>;
  files: Record<string, string>;
  status: string;
  template: Record<string, unknown>;
  /** A resource's entry, or a nested stack resource's: its nested stack's, an Abandoned. */
  resources: Record<string, AbandonedResource>;
  project_id: string;
  stack_user_project_id: string | null;
  tags: string[];
}

interface AbandonedResource {
  name: string;
  resource_id: string | null;
  type: string;
  action: string;
  status: string;
  metadata: Record<string, unknown>;
  resource_data: Record<string, unknown>;
}

/** The keys of Heat's Stack.prepare_abandon, in its order: a stack's, a nested stack resource's. */
const STACK_KEYS = [
  'name',
  'id',
  'action',
  'environment',
  'files',
  'status',
  'template',
  'resources',
  'project_id',
  'stack_user_project_id',
  'tags',
];

/** The keys of Heat's Resource.prepare_abandon, in its order. */
const RESOURCE_KEYS = ['name', 'resource_id', 'type', 'action', 'status', 'metadata', 'resource_data'];

/** A nested stack resource's entry: its nested stack's abandon data. */
const nestedStack = (entry: AbandonedResource | undefined) => entry as unknown as Abandoned;

/** Where the state is: the state directory's SQLite file, or a PostgreSQL schema of the test's own. */
const backends: { name: string; args: () => string[] }[] = [
  { name: 'SQLite', args: () => [] },
  {
    name: 'PostgreSQL',
    args: () => [
      '--db',
      `postgres://postgres@127.0.0.1:5432/test?schema=weft_hot_stack_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
    ],
  },
];

function project(store: string[] = []) {
  const dir = tempDir('weft-hot-stack-');
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return name;
  };
  const run = (args: string[]) =>
    weft([...args, '--state-dir', join(dir, '.weft'), ...store], {
      cwd: dir,
      env: { ...NO_WEFT_ENVIRONMENT, CI: 'true', WEFT_PLUGIN_DIRS: join(fixtures, 'heat-plugins') },
    });
  const instances = (id: string) =>
    JSON.parse(ok(run(['instances', '-d', id, '--json'])).stdout) as {
      stackState: string;
      instances: { node: string; heatState: string; runtimeProperties: Record<string, unknown> }[];
    };
  const ids = (id: string) =>
    Object.fromEntries(instances(id).instances.map((i) => [i.node, i.runtimeProperties.resource_id]));
  const states = (id: string) =>
    Object.fromEntries(instances(id).instances.map((i) => [i.node, i.heatState]));
  const outputs = (id: string) =>
    JSON.parse(ok(run(['outputs', '-d', id, '--json'])).stdout).outputs as Record<string, unknown>;
  const deployments = () => ok(run(['deployments'])).stdout;
  return { dir, file, run, ids, states, instances, outputs, deployments };
}

describe('HOT stack abandon and adopt', { concurrency: true }, () => {
  for (const backend of backends)
    test(
      `abandon prints the stack and leaves its resources; adopt takes them over; delete deletes them (${backend.name})`,
      LIMIT,
      () => {
        const p = project(backend.args());
        p.file('template.yaml', TEMPLATE);
        const path = join(p.dir, 'resource.txt');
        ok(p.run(['install', 'template.yaml', '-d', 'a', '-p', `path=${path}`]));
        const before = p.outputs('a');
        const idsBefore = p.ids('a');
        assert.equal(readFileSync(path, 'utf8'), before.secret);

        const abandoned = ok(p.run(['stack', 'abandon', '-d', 'a']));
        const data = JSON.parse(abandoned.stdout) as Abandoned;
        assert.deepEqual(Object.keys(data), STACK_KEYS);
        assert.equal(data.name, 'a');
        assert.equal(data.id, 'a');
        // The project OS::project_id gives, no stack domain project, no tags.
        assert.deepEqual(
          [data.project_id, data.stack_user_project_id, data.tags],
          ['default_tenant', null, []],
        );
        assert.equal(`${data.action}_${data.status}`, 'CREATE_COMPLETE');
        assert.equal(data.template.heat_template_version, '2014-10-16');
        assert.deepEqual(Object.keys(data.resources).sort(), ['file', 'secret', 'test1', 'test2']);
        assert.deepEqual(data.resources.secret, {
          name: 'secret',
          resource_id: idsBefore.secret,
          type: 'OS::Heat::RandomString',
          action: 'CREATE',
          status: 'COMPLETE',
          metadata: {},
          resource_data: { value: before.secret },
        });
        assert.equal(data.resources.file!.resource_id, path);
        // The deployment is gone, what it made is not.
        assert.doesNotMatch(p.deployments(), /\ba\b/);
        assert.ok(existsSync(path), 'abandon deleted the file');

        p.file('abandon.json', abandoned.stdout);
        const adopted = ok(
          p.run(['install', 'template.yaml', '-d', 'b', '-p', `path=${path}`, '--adopt', 'abandon.json']),
        );
        assert.match(adopted.stdout + adopted.stderr, /RandomString adopted/);
        assert.deepEqual(p.outputs('b'), before, 'the adopted stack has the same outputs');
        assert.deepEqual(p.ids('b'), idsBefore, 'the adopted stack has the same resource ids');
        assert.equal(p.instances('b').stackState, 'ADOPT_COMPLETE');
        assert.deepEqual(p.states('b'), {
          file: 'ADOPT_COMPLETE',
          secret: 'ADOPT_COMPLETE',
          test1: 'ADOPT_COMPLETE',
          test2: 'ADOPT_COMPLETE',
        });
        assert.equal(readFileSync(path, 'utf8'), before.secret, 'adopting did not create the file again');
        // An adopted stack is a stack like any other: abandoned again it tells the same, and deleted
        // it deletes its resources.
        assert.match(
          ok(p.run(['stack', 'abandon', '-d', 'b', '-O', 'again.json'])).stderr,
          /Stack 'b' abandoned/,
        );
        const again = JSON.parse(readFileSync(join(p.dir, 'again.json'), 'utf8')) as Abandoned;
        assert.equal(`${again.action}_${again.status}`, 'ADOPT_COMPLETE');
        assert.equal(again.resources.secret!.resource_data.value, before.secret);
        ok(p.run(['install', 'template.yaml', '-d', 'c', '-p', `path=${path}`, '--adopt', 'again.json']));
        ok(p.run(['uninstall', '-d', 'c', '-y']));
        assert.ok(!existsSync(path), 'deleting the adopted stack deleted the file');
      },
    );

  test("adopt uses the abandon data's template, as Heat's; another template is refused", LIMIT, () => {
    const p = project();
    p.file('template.yaml', TEMPLATE);
    p.file('other.yaml', TEMPLATE.replace('test_value_2', 'another_value'));
    const path = join(p.dir, 'resource.txt');
    ok(p.run(['install', 'template.yaml', '-d', 'a', '-p', `path=${path}`]));
    const before = p.outputs('a');
    const ids = p.ids('a');
    ok(p.run(['stack', 'abandon', '-d', 'a', '-O', 'abandon.json']));
    // A template other than the one the stack was abandoned with: refused, nothing made.
    const refused = p.run([
      'install',
      'other.yaml',
      '-d',
      'b',
      '-p',
      `path=${path}`,
      '--adopt',
      'abandon.json',
    ]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /^error: abandon\.json:\d+:\d+ template: the stack was abandoned with another template than other\.yaml; Heat adopts a stack with the template of its abandon data: leave other\.yaml out/,
    );
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.doesNotMatch(p.deployments(), /\bb\b/);
    // No template: the data's, and the stack's name from it.
    ok(p.run(['install', '--adopt', 'abandon.json', '-p', `path=${path}`]));
    assert.equal(p.instances('a').stackState, 'ADOPT_COMPLETE');
    assert.deepEqual(p.outputs('a'), before);
    assert.deepEqual(p.ids('a'), ids);
    assert.equal(readFileSync(path, 'utf8'), before.secret, 'adopting did not create the file again');
    // The same template as a file is taken as well; without any, a plain install is refused as before.
    ok(p.run(['stack', 'abandon', '-d', 'a', '-O', 'again.json']));
    ok(p.run(['install', 'template.yaml', '-d', 'c', '-p', `path=${path}`, '--adopt', 'again.json']));
    assert.equal(p.instances('c').stackState, 'ADOPT_COMPLETE');
    const bare = p.run(['install']);
    assert.equal(bare.code, 2, bare.stderr);
    assert.match(bare.stderr, /^error: missing required argument 'blueprint'/);
    p.file(
      'nameless.json',
      JSON.stringify({ resources: {}, template: { heat_template_version: '2014-10-16' } }),
    );
    const nameless = p.run(['install', '--adopt', 'nameless.json']);
    assert.equal(nameless.code, 2, nameless.stderr);
    assert.match(nameless.stderr, /^error: name the stack with -d ID \(nameless\.json names none\)/);
  });

  test("a nested stack's resources: abandoned under it, adopted on their own", LIMIT, () => {
    const p = project();
    p.file('parent.yaml', PARENT);
    p.file('nested.yaml', NESTED);
    ok(p.run(['install', 'parent.yaml', '-d', 'parent']));
    const outputs = p.outputs('parent');
    const ids = p.ids('parent');
    const data = JSON.parse(ok(p.run(['stack', 'abandon', '-d', 'parent'])).stdout) as Abandoned;
    assert.deepEqual(Object.keys(data.resources).sort(), ['nested', 'parent_resource']);
    assert.deepEqual(Object.keys(data.resources.parent_resource!), RESOURCE_KEYS);
    // The nested stack resource's entry is its nested stack's abandon data, as Heat's
    // StackResource.prepare_abandon gives it: the stack as its OS::stack_name names it, its
    // template, the parent's files and environment (no parameters), the same project.
    const stack = nestedStack(data.resources.nested);
    assert.deepEqual(Object.keys(stack), STACK_KEYS);
    const { resources: nested, template, ...rest } = stack;
    assert.deepEqual(rest, {
      name: 'parent.nested',
      id: 'parent.nested',
      action: 'CREATE',
      environment: {
        parameters: {},
        parameter_defaults: {},
        resource_registry: { resources: {} },
        encrypted_param_names: [],
        event_sinks: [],
      },
      files: { 'nested.yaml': NESTED },
      status: 'COMPLETE',
      project_id: 'default_tenant',
      stack_user_project_id: null,
      tags: [],
    });
    assert.deepEqual(Object.keys(template.resources as object), ['nested_resource1', 'nested_resource2']);
    assert.deepEqual(Object.keys(nested.nested_resource1!), RESOURCE_KEYS);
    assert.equal(nested.nested_resource1!.name, 'nested_resource1');
    assert.equal(nested.nested_resource1!.resource_id, ids['nested.nested_resource1']);
    assert.equal(nested.nested_resource2!.resource_id, ids['nested.nested_resource2']);
    // As Heat's test: the nested stack's resources alone, adopted into a stack of the nested template.
    p.file('nested-adopt.json', JSON.stringify({ resources: nested }));
    ok(p.run(['install', 'nested.yaml', '-d', 'adopted', '--adopt', 'nested-adopt.json']));
    const adopted = p.outputs('adopted');
    assert.equal(adopted.nested_output1, outputs.nested_output1);
    assert.equal(adopted.nested_output2, outputs.nested_output2);
    const adoptedIds = p.ids('adopted');
    assert.equal(adoptedIds.nested_resource1, ids['nested.nested_resource1']);
    assert.equal(adoptedIds.nested_resource2, ids['nested.nested_resource2']);

    // The data holds the template's files, as Heat's prepare_abandon: the whole stack is adopted
    // with its own template from where its nested template is not.
    assert.deepEqual(data.files, { 'nested.yaml': NESTED });
    mkdirSync(join(p.dir, 'elsewhere'));
    p.file(join('elsewhere', 'parent.json'), JSON.stringify(data));
    ok(p.run(['install', '--adopt', join('elsewhere', 'parent.json'), '-d', 'whole']));
    assert.deepEqual(p.outputs('whole'), outputs);
    // The nested stack resource's entry has no id of its own (Heat's adopt makes a new nested
    // stack, of a new id); every resource keeps its id.
    const resourceIds = (all: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(all).filter(([node]) => node !== 'nested'));
    assert.deepEqual(resourceIds(p.ids('whole')), resourceIds(ids));
    // A file outside the template's directory is refused, with its place.
    p.file('outside.json', JSON.stringify({ ...data, files: { '../x.yaml': NESTED } }));
    const refused = p.run(['install', '--adopt', 'outside.json', '-d', 'outside']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /^error: outside\.json:1:\d+ files\.\.\.\/x\.yaml: a file of abandon data must be a path within the template's directory\n$/,
    );
  });

  test(
    "a group's, a chain's and an OS::Heat::Stack's entries are their nested stacks' abandon data, at every level; adopted whole",
    LIMIT,
    () => {
      const p = project();
      p.file(
        'template.yaml',
        `heat_template_version: 2016-04-08
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def: {type: member.yaml}
  chain:
    type: OS::Heat::ResourceChain
    properties: {resources: [OS::Heat::RandomString]}
  remote:
    type: OS::Heat::Stack
    properties:
      template: {get_file: member.yaml}
outputs:
  group: {value: {get_attr: [group, value]}}
  chain: {value: {get_attr: [chain, resource.0, value]}}
  remote: {value: {get_attr: [remote, value]}}
`,
      );
      p.file(
        'member.yaml',
        'heat_template_version: 2016-04-08\nresources:\n  random: {type: OS::Heat::RandomString}\noutputs:\n  value: {value: {get_attr: [random, value]}}\n',
      );
      p.file('env.yaml', "resource_registry:\n  resources:\n    'gr*': {My::X: OS::Heat::None}\n");
      ok(p.run(['install', 'template.yaml', '-e', 'env.yaml', '-d', 'stack']));
      const outputs = p.outputs('stack');
      const data = JSON.parse(ok(p.run(['stack', 'abandon', '-d', 'stack'])).stdout) as Abandoned;
      // Each level's keys, by node name: Heat's Stack.prepare_abandon's for the stack and each
      // nested stack resource (whose entry is its nested stack's), Resource.prepare_abandon's else.
      const keys: Record<string, string> = {};
      const walk = (stack: Abandoned, prefix: string) => {
        keys[prefix || '(stack)'] = Object.keys(stack).join();
        for (const [name, entry] of Object.entries(stack.resources)) {
          if (Object.hasOwn(entry, 'resources')) walk(nestedStack(entry), `${prefix}${name}.`);
          else keys[`${prefix}${name}`] = Object.keys(entry).join();
        }
      };
      walk(data, '');
      const stackKeys = STACK_KEYS.join();
      const resourceKeys = RESOURCE_KEYS.join();
      assert.deepEqual(keys, {
        '(stack)': stackKeys,
        'group.': stackKeys,
        'group.0.': stackKeys,
        'group.0.random': resourceKeys,
        'group.1.': stackKeys,
        'group.1.random': resourceKeys,
        'chain.': stackKeys,
        'chain.0': resourceKeys,
        'remote.': stackKeys,
        'remote.random': resourceKeys,
      });
      const group = nestedStack(data.resources.group);
      const member = nestedStack(group.resources['0']);
      assert.deepEqual(
        [
          group.name,
          group.id,
          group.template,
          member.name,
          member.id,
          Object.keys(member.template.resources as object),
        ],
        ['stack.group', 'stack.group', null, 'stack.group.0', 'stack.group.0', ['random']],
      );
      // remove_resources_except: a nested stack's registry has the resources part of the patterns
      // its resource's name matches.
      const registry = (stack: Abandoned) =>
        (stack.environment.resource_registry as { resources: unknown }).resources;
      assert.deepEqual(registry(group), { 'My::X': 'OS::Heat::None' });
      assert.deepEqual(registry(nestedStack(data.resources.chain)), {});
      p.file('stack.json', JSON.stringify(data));
      ok(p.run(['install', '--adopt', 'stack.json', '-e', 'env.yaml', '-d', 'adopted']));
      assert.equal(p.instances('adopted').stackState, 'ADOPT_COMPLETE');
      assert.deepEqual(p.outputs('adopted'), outputs);
    },
  );

  test(
    "the environment is in the abandon data, as Heat's prepare_abandon has it, and the adopt uses it",
    LIMIT,
    () => {
      const p = project();
      p.file(
        'template.yaml',
        PARENT.replace('type: OS::Heat::TestResource', 'type: My::Test')
          .replace('value: parent_value', 'value: {get_param: value}')
          .replace('type: nested.yaml', 'type: My::Nested')
          .replace('resources:', 'parameters:\n  value: {type: string}\nresources:'),
      );
      p.file('nested.yaml', NESTED);
      p.file(
        'env.yaml',
        'parameters: {value: from_env}\nparameter_defaults: {unused: 1}\nresource_registry:\n  My::Test: OS::Heat::TestResource\n  My::Nested: nested.yaml\n',
      );
      ok(p.run(['install', 'template.yaml', '-e', 'env.yaml', '-d', 'stack']));
      const outputs = p.outputs('stack');
      assert.equal(outputs.parent_output, 'from_env');
      const ids = p.ids('stack');
      const data = JSON.parse(ok(p.run(['stack', 'abandon', '-d', 'stack'])).stdout) as Abandoned & {
        environment: Record<string, unknown>;
      };
      assert.deepEqual(data.environment, {
        parameters: { value: 'from_env' },
        parameter_defaults: { unused: 1 },
        resource_registry: {
          'My::Test': 'OS::Heat::TestResource',
          'My::Nested': 'nested.yaml',
          resources: {},
        },
        encrypted_param_names: [],
        event_sinks: [],
      });
      assert.deepEqual(data.files, { 'nested.yaml': NESTED });
      // The nested stack's environment is the child environment Heat's get_child_environment
      // makes: its parent's without the entry that mapped My::Nested to its template.
      assert.deepEqual(nestedStack(data.resources.nested).environment, {
        parameters: {},
        parameter_defaults: { unused: 1 },
        resource_registry: { 'My::Test': 'OS::Heat::TestResource', resources: {} },
        encrypted_param_names: [],
        event_sinks: [],
      });
      // Adopted with the data alone, from where neither the environment nor the nested template is.
      mkdirSync(join(p.dir, 'elsewhere'));
      p.file(join('elsewhere', 'stack.json'), JSON.stringify(data));
      ok(p.run(['install', '--adopt', join('elsewhere', 'stack.json')]));
      assert.deepEqual(p.outputs('stack'), outputs);
      assert.deepEqual(p.ids('stack'), ids);
    },
  );

  test('a resource the abandon data does not have fails the adopt, as in Heat', LIMIT, () => {
    const p = project();
    p.file('template.yaml', TEMPLATE);
    const path = join(p.dir, 'resource.txt');
    ok(p.run(['install', 'template.yaml', '-d', 'a', '-p', `path=${path}`]));
    const data = JSON.parse(ok(p.run(['stack', 'abandon', '-d', 'a'])).stdout) as Abandoned;
    delete data.resources.test2;
    p.file('partial.json', JSON.stringify(data));
    const failed = p.run([
      'install',
      'template.yaml',
      '-d',
      'b',
      '-p',
      `path=${path}`,
      '--adopt',
      'partial.json',
    ]);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /Resource ID was not provided\./);
    assert.equal(p.states('b').test2, 'ADOPT_FAILED');
    assert.equal(p.states('b').test1, 'ADOPT_COMPLETE');
    assert.equal(p.instances('b').stackState, 'ADOPT_FAILED');
  });

  test('bad input: one line, exit 2, nothing stored', LIMIT, () => {
    const p = project();
    p.file('template.yaml', TEMPLATE);
    p.file(
      'blueprint.yaml',
      'tosca_definitions_version: cloudify_dsl_1_3\nimports: [cloudify/types/types.yaml]\nnode_templates:\n  n: {type: cloudify.nodes.Root}\n',
    );
    p.file('broken.json', '{"resources": [1, 2]}\n');
    p.file('bad.json', '{"resources": {\n');
    p.file('good.json', '{"resources": {}}\n');
    ok(p.run(['install', 'blueprint.yaml', '-d', 'plain']));
    const checks: [string[], RegExp][] = [
      [['stack', 'abandon', '-d', 'plain'], /^error: deployment 'plain' is not a Heat stack/],
      [['stack', 'abandon', '-d', 'nothing'], /^error: no deployment 'nothing'/],
      [
        ['install', 'template.yaml', '-d', 's', '-p', 'path=x', '--adopt', 'broken.json'],
        /^error: broken\.json:1:15 resources: abandon data must have a mapping of resources/,
      ],
      [
        ['install', 'template.yaml', '-d', 's', '-p', 'path=x', '--adopt', 'bad.json'],
        /^error: bad\.json:\d+:\d+ /,
      ],
      [
        ['install', 'template.yaml', '-d', 's', '-p', 'path=x', '--adopt', 'missing.json'],
        /^error: cannot read the adopt file missing\.json/,
      ],
      [
        ['install', 'blueprint.yaml', '-d', 's', '--adopt', 'good.json'],
        /^error: --adopt takes a HOT template/,
      ],
      [
        ['install', 'blueprint.yaml', '-d', 'plain', '--adopt', 'good.json'],
        /^error: --adopt takes a HOT template/,
      ],
    ];
    for (const [args, message] of checks) {
      const result = p.run(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    // The plain deployment is still there, and no stack was made.
    assert.match(p.deployments(), /plain/);
    assert.doesNotMatch(p.deployments(), /\bs\b/);
    ok(p.run(['install', 'template.yaml', '-d', 'hot', '-p', `path=${join(p.dir, 'f')}`]));
    const exists = p.run(['install', 'template.yaml', '-d', 'hot', '-p', 'path=x', '--adopt', 'good.json']);
    assert.equal(exists.code, 2, exists.stderr);
    assert.match(exists.stderr, /^error: deployment 'hot' exists; --adopt creates a new stack/);
  });
});

// A password whose length a parameter sets (a change replaces it) and a value made from it.
const PASSWORD = `heat_template_version: 2018-08-31
parameters:
  length: {type: number, default: 12}
resources:
  password:
    type: OS::Heat::RandomString
    properties: {length: {get_param: length}}
  greeting:
    type: OS::Heat::Value
    properties: {value: {str_replace: {template: hello $p, params: {$p: {get_attr: [password, value]}}}}}
outputs:
  password: {value: {get_attr: [password, value]}}
  greeting: {value: {get_attr: [greeting, value]}}
`;

// A secret and a file holding it (the file's content is its data), and the same without the file.
const RESTORED = `heat_template_version: 2018-08-31
parameters:
  length: {type: number, default: 12}
  path: {type: string}
resources:
  secret:
    type: OS::Heat::RandomString
    properties: {length: {get_param: length}}
  file:
    type: Weft::Test::File
    properties:
      path: {get_param: path}
      content: {get_attr: [secret, value]}
outputs:
  secret: {value: {get_attr: [secret, value]}}
`;

const WITHOUT_FILE = `heat_template_version: 2018-08-31
parameters:
  length: {type: number, default: 12}
resources:
  secret:
    type: OS::Heat::RandomString
    properties: {length: {get_param: length}}
outputs:
  secret: {value: {get_attr: [secret, value]}}
`;

describe('HOT stack snapshots and restore', { concurrency: true }, () => {
  for (const backend of backends)
    test(
      `a RandomString's value survives snapshot, an update that replaces it, and restore (${backend.name})`,
      LIMIT,
      () => {
        const p = project(backend.args());
        p.file('template.yaml', PASSWORD);
        ok(p.run(['install', 'template.yaml', '-d', 'stack']));
        const before = p.outputs('stack');
        assert.equal((before.password as string).length, 12);

        const taken = JSON.parse(
          ok(p.run(['stack', 'snapshot', '-d', 'stack', 'first', '--json'])).stdout,
        ) as {
          snapshot: { id: string; name: string; status: string };
        };
        assert.equal(taken.snapshot.name, 'first');
        assert.equal(taken.snapshot.status, 'COMPLETE');
        const listed = JSON.parse(ok(p.run(['stack', 'snapshots', '-d', 'stack', '--json'])).stdout) as {
          snapshots: { id: string; name: string }[];
        };
        assert.deepEqual(
          listed.snapshots.map((s) => [s.id, s.name]),
          [[taken.snapshot.id, 'first']],
        );
        const shown = JSON.parse(ok(p.run(['stack', 'snapshot-show', '-d', 'stack', 'first'])).stdout) as {
          id: string;
          data: Abandoned;
        };
        assert.equal(shown.id, taken.snapshot.id);
        assert.equal(shown.data.resources.password!.resource_data.value, before.password);
        assert.equal(shown.data.template.heat_template_version, '2018-08-31');

        // An update that replaces the password (a new value), then the restore that brings it back.
        ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'length=20']));
        const changed = p.outputs('stack');
        assert.equal((changed.password as string).length, 20);
        assert.notEqual(changed.password, before.password);
        const restored = ok(p.run(['stack', 'restore', '-d', 'stack', taken.snapshot.id]));
        assert.match(restored.stdout + restored.stderr, /restoring RandomString/);
        assert.equal(p.instances('stack').stackState, 'RESTORE_COMPLETE');
        assert.deepEqual(p.outputs('stack'), before, "the snapshot's values are back");
        const password = p.instances('stack').instances.find((i) => i.node === 'password')!;
        assert.deepEqual((password.runtimeProperties.heat as { properties: unknown }).properties, {
          length: 12,
        });
        assert.ok(
          p.instances('stack').instances.every((i) => !('heat_restore' in i.runtimeProperties)),
          'what the snapshot kept is left on no instance',
        );
        // The restore is over: the next replacement makes a new value.
        ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'length=16']));
        assert.notEqual(p.outputs('stack').password, before.password);

        assert.match(ok(p.run(['stack', 'snapshot-delete', '-d', 'stack', 'first'])).stderr, /deleted/);
        assert.match(ok(p.run(['stack', 'snapshots', '-d', 'stack'])).stdout, /has no snapshots/);
        const gone = p.run(['stack', 'restore', '-d', 'stack', 'first']);
        assert.equal(gone.code, 2, gone.stderr);
        assert.match(gone.stderr, /^error: stack 'stack' has no snapshot 'first' \(it has none/);
      },
    );

  test(
    'a resource removed since the snapshot comes back from its data; a failed restore is retried',
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', RESTORED);
      p.file('without-file.yaml', WITHOUT_FILE);
      mkdirSync(join(p.dir, 'sub'));
      const path = join(p.dir, 'sub', 'file.txt');
      ok(p.run(['install', 'template.yaml', '-d', 'stack', '-p', `path=${path}`]));
      const before = p.outputs('stack');
      assert.equal(readFileSync(path, 'utf8'), before.secret);
      ok(p.run(['stack', 'snapshot', '-d', 'stack', 'kept']));
      // The file's resource is removed (its file deleted) and the secret replaced by a new one.
      ok(p.run(['update', 'without-file.yaml', '-d', 'stack', '-p', 'length=20']));
      assert.ok(!existsSync(path));
      assert.notEqual(p.outputs('stack').secret, before.secret);

      // The file cannot be written (its directory, where its snapshot's copy is too, is put aside):
      // the restore fails, and says so as Heat does.
      renameSync(join(p.dir, 'sub'), join(p.dir, 'aside'));
      writeFileSync(join(p.dir, 'sub'), 'not a directory');
      const failed = p.run(['stack', 'restore', '-d', 'stack', 'kept', '--task-retries', '0']);
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /or restore the snapshot again \(weft stack restore -d stack /);
      assert.equal(p.instances('stack').stackState, 'RESTORE_FAILED');
      // The snapshot is as it was, and the restore can be run again once the cause is gone.
      const shown = JSON.parse(ok(p.run(['stack', 'snapshot-show', '-d', 'stack', 'kept'])).stdout) as {
        data: Abandoned;
      };
      assert.equal(shown.data.resources.file!.resource_data.content, before.secret);
      assert.equal(shown.data.resources.secret!.resource_data.value, before.secret);
      rmSync(join(p.dir, 'sub'));
      renameSync(join(p.dir, 'aside'), join(p.dir, 'sub'));
      const restored = ok(p.run(['stack', 'restore', '-d', 'stack', 'kept']));
      assert.match(restored.stdout + restored.stderr, /file .*file\.txt restored from the snapshot/);
      assert.equal(p.instances('stack').stackState, 'RESTORE_COMPLETE');
      assert.deepEqual(p.outputs('stack'), before);
      assert.equal(readFileSync(path, 'utf8'), before.secret, 'the file is back with what the snapshot kept');
      assert.deepEqual(p.states('stack'), { file: 'CREATE_COMPLETE', secret: 'UPDATE_COMPLETE' });
      assert.ok(
        p.instances('stack').instances.every((i) => !('heat_restore' in i.runtimeProperties)),
        'what the snapshot kept is left on no instance',
      );
      // The stack is one like any other again: an update makes a new secret (and file content).
      ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', `path=${path}`, '-p', 'length=16']));
      assert.equal(p.instances('stack').stackState, 'UPDATE_COMPLETE');
      assert.notEqual(p.outputs('stack').secret, before.secret);
      assert.equal(readFileSync(path, 'utf8'), p.outputs('stack').secret);
    },
  );

  test(
    "a snapshot runs each resource's handleSnapshot, its deletion handleDeleteSnapshot; a failed one is kept, not restored",
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', RESTORED);
      const path = join(p.dir, 'file.txt');
      ok(p.run(['install', 'template.yaml', '-d', 'stack', '-p', `path=${path}`]));
      const secret = p.outputs('stack').secret as string;
      const taken = JSON.parse(ok(p.run(['stack', 'snapshot', '-d', 'stack', 'first', '--json'])).stdout) as {
        snapshot: { id: string; status: string };
        execution: { workflow: string; status: string };
      };
      assert.equal(taken.snapshot.status, 'COMPLETE');
      assert.deepEqual([taken.execution.workflow, taken.execution.status], ['snapshot', 'terminated']);
      assert.equal(p.instances('stack').stackState, 'SNAPSHOT_COMPLETE');
      assert.deepEqual(p.states('stack'), { file: 'SNAPSHOT_COMPLETE', secret: 'SNAPSHOT_COMPLETE' });
      // What handleSnapshot kept (the copy's path) is in the snapshot's data, and the copy exists.
      const shown = JSON.parse(ok(p.run(['stack', 'snapshot-show', '-d', 'stack', 'first'])).stdout) as {
        status: string;
        data: Abandoned;
      };
      assert.equal(shown.status, 'COMPLETE');
      assert.equal(`${shown.data.action}_${shown.data.status}`, 'SNAPSHOT_COMPLETE');
      const backup = shown.data.resources.file!.resource_data.backup as string;
      assert.equal(readFileSync(backup, 'utf8'), secret);
      // A stack that was snapshotted is updated as any other.
      ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', `path=${path}`, '-p', 'length=16']));
      assert.equal(p.instances('stack').stackState, 'UPDATE_COMPLETE');

      // Deleting the snapshot deletes the copy; the stack's state is left as it was.
      const deleted = ok(p.run(['stack', 'snapshot-delete', '-d', 'stack', 'first']));
      assert.match(deleted.stdout + deleted.stderr, /the snapshot of File \S+ deleted/);
      assert.ok(!existsSync(backup), 'handleDeleteSnapshot deleted the copy');
      assert.equal(p.instances('stack').stackState, 'UPDATE_COMPLETE');

      // The file is gone behind the stack's back: its snapshot fails, the stack is SNAPSHOT_FAILED,
      // and the snapshot is kept FAILED: shown, not restored, deleted.
      rmSync(path);
      const failed = p.run(['stack', 'snapshot', '-d', 'stack', 'second', '--task-retries', '0']);
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stdout, /Snapshot \S+ \(second\) of stack 'stack' FAILED/);
      assert.match(failed.stderr, /ENOENT/);
      assert.equal(p.instances('stack').stackState, 'SNAPSHOT_FAILED');
      assert.equal(p.states('stack').file, 'SNAPSHOT_FAILED');
      const listed = JSON.parse(ok(p.run(['stack', 'snapshots', '-d', 'stack', '--json'])).stdout) as {
        snapshots: { name: string; status: string }[];
      };
      assert.deepEqual(
        listed.snapshots.map((s) => [s.name, s.status]),
        [['second', 'FAILED']],
      );
      const refused = p.run(['stack', 'restore', '-d', 'stack', 'second']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(
        refused.stderr,
        /^error: Restoring incomplete snapshot is not supported: snapshot \S+ \(second\) is FAILED\n$/,
      );
      ok(p.run(['stack', 'snapshot-delete', '-d', 'stack', 'second']));
      assert.match(ok(p.run(['stack', 'snapshots', '-d', 'stack'])).stdout, /has no snapshots/);
    },
  );

  test(
    "uninstall deletes the stack's snapshots first: each resource's handleDeleteSnapshot, then the records",
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', RESTORED);
      const path = join(p.dir, 'file.txt');
      ok(p.run(['install', 'template.yaml', '-d', 'stack', '-p', `path=${path}`]));
      const backups = ['one', 'two'].map((name) => {
        ok(p.run(['stack', 'snapshot', '-d', 'stack', name]));
        const shown = JSON.parse(ok(p.run(['stack', 'snapshot-show', '-d', 'stack', name])).stdout) as {
          data: Abandoned;
        };
        const backup = shown.data.resources.file!.resource_data.backup as string;
        assert.ok(existsSync(backup));
        return backup;
      });
      const log = ok(p.run(['uninstall', '-d', 'stack']));
      const lines = (log.stdout + log.stderr).split('\n');
      const snapshotDeleted = lines.findLastIndex((l) => /the snapshot of File \S+ deleted/.test(l));
      const fileDeleted = lines.findIndex((l) => /lifecycle\.delete/.test(l) && /file/.test(l));
      assert.ok(snapshotDeleted >= 0 && fileDeleted > snapshotDeleted, log.stdout + log.stderr);
      for (const backup of backups)
        assert.ok(!existsSync(backup), `${backup}: handleDeleteSnapshot deleted it`);
      assert.ok(!existsSync(path));
      assert.match(ok(p.run(['stack', 'snapshots', '-d', 'stack'])).stdout, /has no snapshots/);
    },
  );

  test(
    "uninstall deletes the snapshots of resources the stack no longer has, made from the snapshot's definition",
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', RESTORED);
      p.file('without-file.yaml', WITHOUT_FILE);
      const path = join(p.dir, 'file.txt');
      ok(p.run(['install', 'template.yaml', '-d', 'stack', '-p', `path=${path}`]));
      const backups = ['one', 'two'].map((name) => {
        ok(p.run(['stack', 'snapshot', '-d', 'stack', name]));
        const shown = JSON.parse(ok(p.run(['stack', 'snapshot-show', '-d', 'stack', name])).stdout) as {
          data: Abandoned;
        };
        return shown.data.resources.file!.resource_data.backup as string;
      });
      ok(p.run(['update', 'without-file.yaml', '-d', 'stack']));
      assert.ok(!existsSync(path) && backups.every((b) => existsSync(b)), 'the snapshot copies stay');

      const log = ok(p.run(['uninstall', '-d', 'stack']));
      const output = log.stdout + log.stderr;
      assert.equal(output.match(/the snapshot of File \S+ deleted/g)?.length, 2, output);
      for (const backup of backups)
        assert.ok(
          !existsSync(backup),
          `${backup}: the removed file resource's handleDeleteSnapshot deleted it`,
        );
      // Only its snapshots' data: the resource the update deleted is not deleted again.
      assert.ok(!output.split('\n').some((l) => /lifecycle\.delete/.test(l) && /file/.test(l)), output);
      assert.match(ok(p.run(['stack', 'snapshots', '-d', 'stack'])).stdout, /has no snapshots/);
      // What the uninstall borrowed from the snapshots is gone with it.
      assert.deepEqual(
        p.instances('stack').instances.map((i) => i.node),
        ['secret'],
      );
    },
  );

  test(
    "deleting a snapshot reaches a resource the stack no longer has, made from the snapshot's definition",
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', RESTORED);
      p.file('without-file.yaml', WITHOUT_FILE);
      const path = join(p.dir, 'file.txt');
      ok(p.run(['install', 'template.yaml', '-d', 'stack', '-p', `path=${path}`]));
      ok(p.run(['stack', 'snapshot', '-d', 'stack', 'kept']));
      const shown = JSON.parse(ok(p.run(['stack', 'snapshot-show', '-d', 'stack', 'kept'])).stdout) as {
        data: Abandoned;
      };
      const backup = shown.data.resources.file!.resource_data.backup as string;
      ok(p.run(['update', 'without-file.yaml', '-d', 'stack']));
      assert.ok(!existsSync(path) && existsSync(backup), 'the file is gone, its snapshot copy is not');

      const deleted = ok(p.run(['stack', 'snapshot-delete', '-d', 'stack', 'kept']));
      assert.match(deleted.stdout + deleted.stderr, /the snapshot of File \S+ deleted/);
      assert.ok(!existsSync(backup), "the removed file resource's handleDeleteSnapshot deleted the copy");
      // What the deletion borrowed from the snapshot is gone with it: the stack is as it was.
      const listed = p.instances('stack');
      assert.deepEqual(
        listed.instances.map((i) => i.node),
        ['secret'],
      );
      assert.equal(listed.stackState, 'UPDATE_COMPLETE');
      ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', `path=${path}`]));
      assert.equal(p.states('stack').file, 'CREATE_COMPLETE');
    },
  );

  test(
    'a failed snapshot finished by weft resume is stored COMPLETE with what its handlers kept, and restores',
    LIMIT,
    () => {
      const p = project();
      p.file('template.yaml', RESTORED);
      const path = join(p.dir, 'file.txt');
      ok(p.run(['install', 'template.yaml', '-d', 'stack', '-p', `path=${path}`]));
      const secret = p.outputs('stack').secret as string;
      // The file is gone behind the stack's back: the snapshot fails and is stored FAILED.
      rmSync(path);
      const failed = p.run(['stack', 'snapshot', '-d', 'stack', 'later', '--task-retries', '0', '--json']);
      assert.equal(failed.code, 1, failed.stderr);
      const taken = JSON.parse(failed.stdout) as {
        snapshot: { id: string; status: string };
        execution: { id: string };
      };
      assert.equal(taken.snapshot.status, 'FAILED');
      const status = () =>
        (
          JSON.parse(ok(p.run(['stack', 'snapshots', '-d', 'stack', '--json'])).stdout) as {
            snapshots: { id: string; status: string }[];
          }
        ).snapshots.map((s) => [s.id, s.status]);
      assert.deepEqual(status(), [[taken.snapshot.id, 'FAILED']]);
      // The file is back: resuming the execution finishes the snapshot, and the stored snapshot
      // follows it (COMPLETE, with the copy handleSnapshot made), as Heat's save_snapshot stores
      // the stack's data and status when the snapshot action ends.
      writeFileSync(path, secret);
      ok(p.run(['resume', taken.execution.id, '-d', 'stack']));
      assert.equal(p.instances('stack').stackState, 'SNAPSHOT_COMPLETE');
      assert.deepEqual(status(), [[taken.snapshot.id, 'COMPLETE']]);
      const shown = JSON.parse(ok(p.run(['stack', 'snapshot-show', '-d', 'stack', 'later'])).stdout) as {
        status: string;
        data: Abandoned;
      };
      assert.equal(`${shown.data.action}_${shown.data.status}`, 'SNAPSHOT_COMPLETE');
      const backup = shown.data.resources.file!.resource_data.backup as string;
      assert.equal(readFileSync(backup, 'utf8'), secret);
      // It is a snapshot like any other: an update changes the secret, the restore brings it back.
      ok(p.run(['update', 'template.yaml', '-d', 'stack', '-p', `path=${path}`, '-p', 'length=16']));
      assert.notEqual(p.outputs('stack').secret, secret);
      ok(p.run(['stack', 'restore', '-d', 'stack', 'later']));
      assert.equal(p.outputs('stack').secret, secret);
      assert.equal(readFileSync(path, 'utf8'), secret);
    },
  );

  test('bad input: one line, exit 2', LIMIT, () => {
    const p = project();
    p.file('template.yaml', PASSWORD);
    p.file(
      'blueprint.yaml',
      'tosca_definitions_version: cloudify_dsl_1_3\nimports: [cloudify/types/types.yaml]\nnode_templates:\n  n: {type: cloudify.nodes.Root}\n',
    );
    ok(p.run(['install', 'blueprint.yaml', '-d', 'plain']));
    ok(p.run(['install', 'template.yaml', '-d', 'stack']));
    ok(p.run(['stack', 'snapshot', '-d', 'stack', 'one']));
    const checks: [string[], RegExp][] = [
      [['stack', 'snapshot', '-d', 'plain'], /^error: deployment 'plain' is not a Heat stack/],
      [['stack', 'snapshots', '-d', 'plain'], /^error: deployment 'plain' is not a Heat stack/],
      [['stack', 'restore', '-d', 'plain', 'one'], /^error: deployment 'plain' is not a Heat stack/],
      [['stack', 'snapshot', '-d', 'nothing'], /^error: no deployment 'nothing'/],
      [
        ['stack', 'snapshot-show', '-d', 'stack', 'two'],
        /^error: stack 'stack' has no snapshot 'two' \(it has: one\)/,
      ],
      [['stack', 'snapshot-delete', '-d', 'stack', 'two'], /^error: stack 'stack' has no snapshot 'two'/],
      [['stack', 'restore', '-d', 'stack', 'two'], /^error: stack 'stack' has no snapshot 'two'/],
    ];
    for (const [args, message] of checks) {
      const result = p.run(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});
