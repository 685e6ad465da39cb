// The HOT front end: templates read into the deployment model, with Heat's versions, parameters,
// conditions, functions, environments, groups and nested stacks, and every problem at once with
// its place in the template.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BEGIN_UPDATE_INPUT } from '@weft/sdk/resource-keys';
import { prepareDeployment } from '../src/deployment/deployments.js';
import { formatProblem } from '../src/dsl/diagnostics.js';
import type { BlueprintReader } from '../src/dsl/reader.js';
import type { Value, ValueMap } from '../src/dsl/yaml-source.js';
import { resolveRuntime } from '../src/executor/runtime-values.js';
import { childUserEnvironment } from '../src/hot/environment.js';
import { ownEnvironmentFile } from '../src/hot/environment-files.js';
import { applyFunction, evaluateRuntime } from '../src/hot/functions.js';
import { registerCustomConstraint } from '../src/hot/parameters.js';
import { heatResourceStates, heatStackStatusReason } from '../src/hot/states.js';
import { hotVersion } from '../src/hot/versions.js';
import { fileSystemReader } from '../src/io/fs-reader.js';
import { type LoadResult, loadBlueprint } from '../src/load-blueprint.js';
import type { DeploymentModel } from '../src/model/deployment-model.js';
import { waves } from '../src/workflows/lifecycle.js';
import { heatBatches, rollingBatches } from '../src/workflows/rolling.js';
import { planUpdate, RESOURCE_UPDATE, UPDATE_PARAMETER_DEFAULTS } from '../src/workflows/update.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const UTILITIES = join(repoRoot, 'packages', 'plugins', 'utilities', 'plugin.yaml');

interface Loaded extends LoadResult {
  dir: string;
  lines: string[];
}

/** Loads `template` (with other files beside it) as `weft plan` would; `lines` are its problems as printed. */
function load(
  template: string,
  options: {
    files?: Record<string, string>;
    parameters?: ValueMap;
    environments?: string[];
    validateOnly?: boolean;
  } = {},
): Loaded {
  const dir = mkdtempSync(join(tmpdir(), 'weft-hot-'));
  writeFileSync(join(dir, 'template.yaml'), template);
  for (const [name, text] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const result = loadBlueprint(join(dir, 'template.yaml'), {
    reader: fileSystemReader({ resolvePlugin: (name) => (name === 'utilities' ? UTILITIES : undefined) }),
    deploymentId: 'stack',
    ...(options.validateOnly ? { validateOnly: true } : { inputs: options.parameters ?? {} }),
    environments: (options.environments ?? []).map((e) => join(dir, e)),
  });
  return { ...result, dir, lines: result.problems.sorted().map((p) => formatProblem(p, dir)) };
}

function ok(result: Loaded): Loaded {
  assert.deepEqual(result.lines, [], 'no problems');
  return result;
}

function node(result: Loaded, name: string) {
  const found = result.blueprint?.nodeTemplates.get(name);
  assert.ok(
    found,
    `node ${name} exists (nodes: ${[...(result.blueprint?.nodeTemplates.keys() ?? [])].join(', ')})`,
  );
  return found;
}

function dependencies(result: Loaded, name: string): string[] {
  return node(result, name)
    .relationships.map((r) => r.target)
    .sort();
}

/** A run-time value evaluated against instances whose runtime properties are given per node. */
function atRunTime(value: Value, nodes: Record<string, ValueMap>): Value {
  return resolveRuntime(value, {
    instanceFor: (entity) =>
      nodes[entity]
        ? { id: `${entity}_1`, index: 0, runtimeProperties: nodes[entity]!, properties: {} }
        : `no node '${entity}'`,
    secret: () => undefined,
  });
}

describe('HOT versions', () => {
  test('dates and release names are versions; others are not', () => {
    assert.equal(hotVersion('2013-05-23'), '2013-05-23');
    assert.equal(hotVersion('wallaby'), '2021-04-16');
    assert.equal(hotVersion('newton'), '2016-10-14');
    assert.equal(hotVersion('2019-01-01'), undefined);
    const bad = load('heat_template_version: 2019-01-01\nresources: {}\n');
    assert.match(
      bad.lines[0]!,
      /^template\.yaml:1:24 heat_template_version: unknown version '2019-01-01'; known versions are 2013-05-23, .*, 2021-04-16, newton, .*wallaby$/,
    );
  });

  test('each function and section from the version Heat introduced it in', () => {
    const result = load(`heat_template_version: 2015-10-15
conditions: {}
resources:
  v:
    type: OS::Heat::Value
    properties:
      value: {map_merge: [{a: 1}, {b: 2}]}
  w:
    type: OS::Heat::Value
    condition: true
    properties:
      value: {str_split: [',', 'a,b']}
`);
    assert.deepEqual(result.lines, [
      "template.yaml:2:1 conditions: 'conditions' needs heat_template_version 2016-10-14 or later (this template is 2015-10-15)",
      'template.yaml:7:14 resources.v.properties.value: map_merge needs heat_template_version 2016-04-08 or later (this template is 2015-10-15)',
      "template.yaml:10:5 resources.w.condition: 'condition' needs heat_template_version 2016-10-14 or later (this template is 2015-10-15)",
    ]);
    ok(
      load(
        'heat_template_version: 2016-04-08\nresources:\n  v:\n    type: OS::Heat::Value\n    properties:\n      value: {map_merge: [{a: 1}, {b: 2}]}\n',
      ),
    );
  });

  test('CloudFormation functions and yaql are refused, saying what to use', () => {
    const result = load(`heat_template_version: pike
resources:
  v:
    type: OS::Heat::Value
    properties:
      value: {'Fn::Join': ['-', [a, b]]}
  w:
    type: OS::Heat::Value
    properties:
      value: {yaql: {expression: '$.data', data: {}}}
`);
    assert.deepEqual(result.lines, [
      "template.yaml:6:14 resources.v.properties.value: the CloudFormation function 'Fn::Join' is only in heat_template_version 2013-05-23 (this template is 2017-09-01); use list_join",
      'template.yaml:10:14 resources.w.properties.value: yaql: YAQL expressions are not supported by Weft (no faithful YAQL implementation here); compute the value with the other functions (map_merge, list_concat, filter, repeat, str_replace, if)',
    ]);
  });

  test('the CloudFormation functions HOT versions still map (Heat hot/template.py) are evaluated in them', () => {
    const old = load(`heat_template_version: 2013-05-23
parameters:
  name: {type: string, default: web}
resources:
  v:
    type: OS::Heat::Value
    properties:
      value:
        - {'Fn::Join': ['-', [a, b]]}
        - {'Fn::Split': [',', 'x,y']}
        - {'Fn::Replace': [{'%n%': {Ref: name}}, 'host-%n%']}
        - {'Fn::Base64': text}
        - {'Fn::Select': ['1', [p, q, r]]}
        - {'Fn::Select': [k, {k: found}]}
        - {'Fn::Select': [7, [p]]}
        - {'Fn::Select': [-1, [p, q]]}
outputs:
  all: {value: {get_attr: [v, value]}}
`);
    assert.deepEqual(old.lines, []);
    assert.deepEqual(node(old, 'v').properties.value, [
      'a-b',
      ['x', 'y'],
      'host-web',
      'text',
      'q',
      'found',
      '',
      'q',
    ]);
    // Fn::Select lasted until 2015-04-30; the others went with 2014-10-16; Fn::GetAZs never runs.
    const later = (version: string, fn: string) =>
      load(`heat_template_version: ${version}
resources:
  v:
    type: OS::Heat::Value
    properties:
      value: {'${fn}': ['0', [a]]}
`).lines;
    assert.deepEqual(later('2015-04-30', 'Fn::Select'), []);
    assert.match(
      later('2015-10-15', 'Fn::Select')[0]!,
      /'Fn::Select' is only in heat_template_version 2013-05-23 to 2015-04-30/,
    );
    assert.match(
      later('2014-10-16', 'Fn::Join')[0]!,
      /'Fn::Join' is only in heat_template_version 2013-05-23 \(this template is 2014-10-16\)/,
    );
    assert.match(
      later('2013-05-23', 'Fn::GetAZs')[0]!,
      /'Fn::GetAZs' is not supported in HOT templates; use a parameter/,
    );
  });
});

describe('HOT parameters', () => {
  const template = `heat_template_version: 2017-02-24
parameters:
  size:
    type: number
    default: 4
    constraints:
      - range: {min: 2, max: 10}
      - modulo: {step: 2, offset: 0}
  name:
    type: string
    constraints:
      - length: {min: 3}
      - allowed_pattern: '[a-z]+'
        description: lowercase letters only
  zones:
    type: comma_delimited_list
    default: 'a, b'
  config:
    type: json
    default: {k: v}
  debug:
    type: boolean
    default: 'yes'
  password:
    type: string
    hidden: true
    default: s3cret
    constraints:
      - length: {max: 8}
resources: {}
outputs:
  all:
    value: [{get_param: size}, {get_param: name}, {get_param: zones}, {get_param: [config, k]}, {get_param: debug}]
`;

  test('values given on the command line are read by type and checked', () => {
    const result = load(template, { parameters: { name: 'web', size: '6', password: 'short' } });
    ok(result);
    assert.deepEqual(result.blueprint?.outputs.get('all')?.value, [6, 'web', ['a', 'b'], 'v', true]);
    assert.deepEqual(result.plan?.inputs.get('zones'), ['a', 'b']);
    assert.deepEqual(result.hot?.hidden, ['password']);
  });

  test('every broken constraint, missing and unknown parameter at once; a hidden value is never shown', () => {
    const result = load(template, { parameters: { size: 7, nme: 'x' } });
    assert.deepEqual(result.lines, [
      "parameters.nme: the template has no parameter 'nme'; did you mean 'name'?",
      "template.yaml:4:5 parameters.size: parameter 'size': 7 is not a multiple of 2 with an offset of 0",
      "template.yaml:10:5 parameters.name: the parameter 'name' was not provided (pass it with -p name=VALUE or in an environment's parameters)",
    ]);
    const bad = load(template, { parameters: { name: 'ABC', password: 'waytoolongsecret' } });
    assert.ok(
      bad.lines.some((l) => l.endsWith("parameter 'name': lowercase letters only")),
      bad.lines.join('\n'),
    );
    assert.ok(
      bad.lines.some((l) =>
        l.endsWith("parameter 'password': the value given does not satisfy its constraints"),
      ),
    );
    assert.ok(!bad.lines.join('\n').includes('waytoolongsecret'));
  });

  test('custom constraints come from a registry plugins add to', () => {
    registerCustomConstraint('test.even_length', (v) =>
      String(v).length % 2 === 0 ? undefined : 'odd length',
    );
    const t = (c: string) => `heat_template_version: 2013-05-23
parameters:
  p: {type: string, constraints: [{custom_constraint: ${c}}]}
resources: {}
`;
    ok(load(t('test.even_length'), { parameters: { p: 'ab' } }));
    assert.match(
      load(t('test.even_length'), { parameters: { p: 'abc' } }).lines[0]!,
      /parameter 'p': odd length$/,
    );
    assert.match(
      load(t('ip_addr'), { parameters: { p: '10.0.0.300' } }).lines[0]!,
      /is not a valid IP address/,
    );
    assert.match(
      load(t('nova.flavor'), { parameters: { p: 'x' } }).lines[0]!,
      /unknown custom constraint 'nova.flavor'.*registerCustomConstraint/,
    );
  });

  test('allowed_pattern is matched in linear time, on the whole value', () => {
    const t = `heat_template_version: 2013-05-23
parameters:
  p: {type: string, constraints: [{allowed_pattern: '(a+)+$'}]}
resources: {}
`;
    const started = Date.now();
    assert.match(load(t, { parameters: { p: `${'a'.repeat(5000)}b` } }).lines[0]!, /does not match pattern/);
    assert.ok(Date.now() - started < 2000);
    assert.match(
      load(t.replace('(a+)+$', '[a-z]'), { parameters: { p: 'ab' } }).lines[0]!,
      /does not match pattern/,
    );
  });

  test('parameter_groups name declared parameters, each once', () => {
    const result = load(`heat_template_version: 2013-05-23
parameter_groups:
  - label: one
    parameters: [a, b]
  - parameters: [a]
parameters:
  a: {type: string, default: x}
resources: {}
`);
    assert.deepEqual(result.lines, [
      "template.yaml:4:21 parameter_groups[0].parameters[1]: the parameter 'b' is not defined in the template",
      "template.yaml:5:18 parameter_groups[1].parameters[0]: the parameter 'a' is in more than one group",
    ]);
  });
});

describe('HOT functions', () => {
  const v = '2021-04-16' as const;

  test('str_replace: longer placeholders first, JSON for maps; strict and very strict', () => {
    assert.equal(
      applyFunction(
        'str_replace',
        { template: 'HOST HOSTNAME $x', params: { HOST: 'h', HOSTNAME: 'n', $x: { b: 1, a: [1] } } },
        v,
      ),
      'h n {"a": [1], "b": 1}',
    );
    assert.throws(
      () => applyFunction('str_replace_strict', { template: 'a', params: { b: 'c' } }, v),
      /not found in the template: b/,
    );
    assert.throws(
      () => applyFunction('str_replace_vstrict', { template: 'a', params: { a: '' } }, v),
      /empty value for param a/,
    );
    assert.equal(applyFunction('str_replace_strict', { template: 'a', params: { a: null } }, v), '');
  });

  test('the other functions, as Heat computes them', () => {
    assert.equal(
      applyFunction('list_join', [', ', ['a', 'b'], ['c'], [{ k: 'v' }]], v),
      'a, b, c, {"k": "v"}',
    );
    assert.throws(
      () => applyFunction('list_join', ['-', ['a'], ['b']], '2015-04-30'),
      /several lists need 2015-10-15/,
    );
    assert.equal(
      applyFunction('digest', ['sha256', 'abc'], v),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    assert.deepEqual(applyFunction('str_split', [',', 'a,b,c'], v), ['a', 'b', 'c']);
    assert.equal(applyFunction('str_split', [',', 'a,b,c', 1], v), 'b');
    assert.throws(() => applyFunction('str_split', [',', 'a,b', 5], v), /between 0 and 1/);
    assert.deepEqual(applyFunction('map_merge', [{ a: 1, b: 1 }, { b: 2 }], v), { a: 1, b: 2 });
    assert.deepEqual(
      applyFunction(
        'map_replace',
        [
          { k1: 'v1', k2: 'v2' },
          { keys: { k1: 'K1' }, values: { v2: 'V2' } },
        ],
        v,
      ),
      { K1: 'v1', k2: 'V2' },
    );
    assert.throws(
      () => applyFunction('map_replace', [{ a: 1, b: 2 }, { keys: { a: 'b' } }], v),
      /collides with a key in the input map/,
    );
    assert.deepEqual(
      applyFunction(
        'filter',
        [
          [2, null],
          [1, 2, null, 3],
        ],
        v,
      ),
      [1, 3],
    );
    assert.deepEqual(
      applyFunction(
        'list_concat_unique',
        [
          [1, 2],
          [2, 3],
        ],
        v,
      ),
      [1, 2, 3],
    );
    assert.deepEqual(
      applyFunction(
        'list_concat',
        [
          [1, 2],
          [2, 3],
        ],
        v,
      ),
      [1, 2, 2, 3],
    );
    assert.equal(applyFunction('contains', ['a', ['a', 'b']], v), true);
    assert.equal(
      applyFunction(
        'make_url',
        {
          scheme: 'https',
          username: 'u s',
          host: '::1',
          port: 8080,
          path: 'a b',
          query: { q: 'x/y z' },
          fragment: 'f',
        },
        v,
      ),
      'https://u%20s@[::1]:8080/a%20b?q=x/y+z#f',
    );
  });

  test('repeat, with permutations and without; conditions and if (two arguments elide from wallaby)', () => {
    const result = ok(
      load(`heat_template_version: wallaby
parameters:
  env: {type: string, default: prod}
conditions:
  prod: {equals: [{get_param: env}, prod]}
  dev: {not: prod}
  either: {or: [prod, dev]}
  listed: {contains: [{get_param: env}, [prod, test]]}
resources: {}
outputs:
  pairs:
    value: {repeat: {for_each: {'%a%': [x, y], '%b%': [1, 2]}, template: '%a%%b%'}}
  zipped:
    value: {repeat: {for_each: {'%a%': [x, y], '%b%': [1, 2]}, template: {'k%a%': '%b%'}, permutations: false}}
  chosen:
    value: [{if: [prod, 'on', 'off']}, {if: [dev, dropped]}, {if: [{and: [either, listed]}, both, neither]}]
  only_dev:
    condition: dev
    value: never
`),
    );
    const outputs = result.blueprint!.outputs;
    assert.deepEqual(outputs.get('pairs')?.value, ['x1', 'x2', 'y1', 'y2']);
    assert.deepEqual(outputs.get('zipped')?.value, [{ kx: '1' }, { ky: '2' }]);
    assert.deepEqual(outputs.get('chosen')?.value, ['on', 'both']);
    assert.equal(outputs.get('only_dev')?.value, null, 'an output whose condition is false has no value');
  });

  test('a condition that refers to itself, and an unknown one, are reported', () => {
    const result = load(`heat_template_version: newton
conditions:
  a: {not: b}
  b: {and: [a, true]}
resources:
  r: {type: OS::Heat::None, condition: c}
`);
    assert.ok(
      result.lines.some((l) => l.includes('refers to itself')),
      result.lines.join('\n'),
    );
    assert.ok(
      result.lines.some((l) => l.startsWith('template.yaml:6:40 resources.r.condition: unknown condition')),
      result.lines.join('\n'),
    );
  });
});

describe('HOT resources', () => {
  test('get_resource and get_attr make dependencies and run-time values; conditions leave resources out', () => {
    const result = ok(
      load(`heat_template_version: 2018-08-31
parameters:
  with_extra: {type: boolean, default: false}
conditions:
  extra: {get_param: with_extra}
resources:
  pw: {type: OS::Heat::RandomString, properties: {length: 8}}
  extra: {type: OS::Heat::None, condition: extra}
  v:
    type: OS::Heat::Value
    depends_on: [extra]
    properties:
      value: {str_replace: {template: 'id=ID pw=PW', params: {ID: {get_resource: pw}, PW: {get_attr: [pw, value]}}}}
  t:
    type: OS::Heat::TestResource
    deletion_policy: retain
    properties: {value: {get_attr: [v, value]}, wait_secs: null}
outputs:
  v: {value: {get_attr: [v, value]}}
  extra: {value: {get_resource: extra}}
`),
    );
    assert.deepEqual([...result.blueprint!.nodeTemplates.keys()].sort(), ['pw', 't', 'v']);
    assert.deepEqual(dependencies(result, 'v'), ['pw']);
    assert.deepEqual(dependencies(result, 't'), ['v']);
    assert.equal(node(result, 't').type, 'OS::Heat::TestResource');
    assert.deepEqual(node(result, 't').hierarchy.slice(-2), [
      'weft.nodes.TestResource',
      'OS::Heat::TestResource',
    ]);
    assert.equal(node(result, 't').properties.deletion_policy, 'Retain');
    assert.equal(node(result, 't').properties.wait_secs, 0, 'a null property takes its default');
    const value = node(result, 'v').properties.value!;
    // As in Heat, a RandomString's reference (get_resource) is its value.
    assert.equal(atRunTime(value, { pw: { resource_id: 'pw-id', value: 'secret' } }), 'id=secret pw=secret');
    assert.equal(result.blueprint!.outputs.get('extra')?.value, null);
    // Install order: pw, then v, then t.
    assert.deepEqual(
      result.plan!.instances.map((i) => i.node),
      ['pw', 'v', 't'].filter((n) => result.plan!.instances.some((i) => i.node === n)),
    );
  });

  test('every problem at once: unknown types, resources, keys, policies, and a dependency cycle', () => {
    const result = load(`heat_template_version: 2016-10-14
resources:
  a:
    type: OS::Heat::RandomStrin
    properties: {length: 8}
  b:
    type: OS::Nova::Server
  c:
    type: OS::Heat::Value
    depends_on: nothere
    deletion_policy: Keep
    propertes: {}
  d:
    type: OS::Heat::Value
    properties: {value: {get_attr: [e, value]}}
  e:
    type: OS::Heat::Value
    properties: {value: {get_attr: [d, value]}}
  f:
    type: OS::Heat::RandomString
    properties: {length: 0, colour: red}
`);
    const text = result.lines.join('\n');
    for (const expected of [
      "template.yaml:4:11 resources.a.type: unknown resource type 'OS::Heat::RandomStrin' (the types here are",
      "with -e env.yaml); did you mean 'OS::Heat::RandomString'?",
      "template.yaml:7:11 resources.b.type: unknown resource type 'OS::Nova::Server'",
      "template.yaml:10:17 resources.c.depends_on: the template has no resource 'nothere'",
      "template.yaml:11:22 resources.c.deletion_policy: invalid deletion policy 'Keep'; one of Delete, Retain, Snapshot, delete, retain, snapshot",
      "template.yaml:12:5 resources.c.propertes: unknown resource key; did you mean 'properties'?",
      'template.yaml:14:5 resources.d: circular dependency: d -> e -> d',
      'resources.f.properties.colour',
    ])
      assert.ok(text.includes(expected), `expected ${expected} in:\n${text}`);
    assert.match(
      text,
      /OS::Nova::Server' \(the types here are .*a plugin's type, or a type an environment's resource_registry maps/,
    );
    assert.doesNotMatch(text, /relationship cycle|not defined yet/);
  });

  test('ResourceGroup: members by count with %index%, removal policies, get_attr over members', () => {
    const result = ok(
      load(`heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 3
      removal_policies: [{resource_list: ['1']}]
      resource_def:
        type: OS::Heat::TestResource
        properties: {value: 'member-%index%'}
  after:
    type: OS::Heat::Value
    properties:
      value: {get_attr: [group, output]}
outputs:
  refs: {value: {get_attr: [group, refs]}}
  second: {value: {get_attr: [group, resource.2, output]}}
  map: {value: {get_attr: [group, refs_map]}}
`),
    );
    const names = [...result.blueprint!.nodeTemplates.keys()].sort();
    assert.deepEqual(names, ['after', 'group', 'group.0', 'group.2', 'group.3']);
    assert.equal(node(result, 'group.2').properties.value, 'member-2');
    assert.deepEqual(dependencies(result, 'group'), ['group.0', 'group.2', 'group.3']);
    assert.deepEqual(dependencies(result, 'after'), ['group']);
    const state = {
      'group.0': { output: 'o0', resource_id: 'r0' },
      'group.2': { output: 'o2', resource_id: 'r2' },
      'group.3': { output: 'o3', resource_id: 'r3' },
    };
    assert.deepEqual(atRunTime(node(result, 'after').properties.value!, state), ['o0', 'o2', 'o3']);
    const outputs = result.blueprint!.outputs;
    assert.deepEqual(atRunTime(outputs.get('refs')!.value, state), ['r0', 'r2', 'r3']);
    assert.equal(atRunTime(outputs.get('second')!.value, state), 'o2');
    assert.deepEqual(atRunTime(outputs.get('map')!.value, state), { 0: 'r0', 2: 'r2', 3: 'r3' });
  });

  test('ResourceChain: each member after the previous unless concurrent', () => {
    const result = ok(
      load(`heat_template_version: 2016-04-08
resources:
  chain:
    type: OS::Heat::ResourceChain
    properties:
      resources: [OS::Heat::None, OS::Heat::RandomString, OS::Heat::None]
      resource_properties: {}
`),
    );
    assert.deepEqual(dependencies(result, 'chain.1'), ['chain.0']);
    assert.deepEqual(dependencies(result, 'chain.2'), ['chain.1']);
    assert.deepEqual(dependencies(result, 'chain'), ['chain.0', 'chain.1', 'chain.2']);
  });

  test("a template file as a type outside the template's directory is refused, unread", () => {
    const outside = mkdtempSync(join(tmpdir(), 'weft-hot-outside-'));
    writeFileSync(join(outside, 'secret.yaml'), 'not: [a template\n');
    for (const type of [
      join(outside, 'secret.yaml'),
      `file://${join(outside, 'secret.yaml')}`,
      '../x/secret.yaml',
    ]) {
      const result = load(`heat_template_version: 2016-10-14
resources:
  app: {type: '${type}'}
`);
      assert.deepEqual(result.lines, [
        `template.yaml:3:15 resources.app.type: template '${type}' is outside the template's directory`,
      ]);
    }
  });

  test('nested stacks: a template file as a type, OS::Heat::Stack, outputs as attributes, resource_facade', () => {
    const result = ok(
      load(
        `heat_template_version: 2016-10-14
resources:
  first: {type: OS::Heat::RandomString}
  app:
    type: app.yaml
    metadata: {role: web}
    properties: {prefix: {get_attr: [first, value]}}
  inline:
    type: OS::Heat::Stack
    properties:
      template: {get_file: inline.yaml}
      parameters: {n: 3}
outputs:
  greeting: {value: {get_attr: [app, greeting]}}
  role: {value: {get_attr: [app, role]}}
  n: {value: {get_attr: [inline, n]}}
`,
        {
          files: {
            'app.yaml': `heat_template_version: 2016-10-14
parameters:
  prefix: {type: string}
resources:
  inner:
    type: OS::Heat::Value
    properties: {value: {list_join: ['-', [{get_param: prefix}, hello]]}}
outputs:
  greeting: {value: {get_attr: [inner, value]}}
  role: {value: {resource_facade: metadata}}
`,
            'inline.yaml': `heat_template_version: 2013-05-23
parameters:
  n: {type: number}
resources: {}
outputs:
  n: {value: {get_param: n}}
`,
          },
        },
      ),
    );
    assert.deepEqual(dependencies(result, 'app.inner'), ['first']);
    assert.deepEqual(dependencies(result, 'app'), ['app.inner', 'first']);
    assert.equal(node(result, 'app').type, 'weft.heat.TemplateResource');
    const outputs = result.blueprint!.outputs;
    assert.equal(
      atRunTime(outputs.get('greeting')!.value, { 'app.inner': {} }),
      null,
      'read from the inner resource',
    );
    assert.equal(
      atRunTime(node(result, 'app.inner').properties.value!, { first: { value: 'abc' } }),
      'abc-hello',
    );
    assert.deepEqual(outputs.get('role')?.value, { role: 'web' });
    assert.equal(outputs.get('n')?.value, 3);
    assert.ok(result.blueprint!.files.some((f) => f.endsWith('app.yaml')));
    assert.ok(result.blueprint!.files.some((f) => f.endsWith('inline.yaml')));
  });
});

/**
 * A directory with an installed plugin `foo` whose node type My::Resource::Foo has `body` (YAML
 * under the type, after derived_from), and a reader that finds it (and the utilities plugin).
 */
function fooPlugin(body: string): { dir: string; reader: BlueprintReader } {
  const dir = mkdtempSync(join(tmpdir(), 'weft-hot-plugin-'));
  writeFileSync(
    join(dir, 'plugin.yaml'),
    `plugins:
  foo: {executor: central_deployment_agent, package_name: foo, package_version: '1.0'}
node_types:
  My::Resource::Foo:
    derived_from: cloudify.nodes.Root
${body}`,
  );
  const reader = fileSystemReader({
    resolvePlugin: (name) =>
      name === 'utilities' ? UTILITIES : name === 'foo' ? join(dir, 'plugin.yaml') : undefined,
    pluginNames: () => ['utilities', 'foo'],
  });
  return { dir, reader };
}

describe('HOT plugin types', () => {
  test("an installed plugin's node type is a resource type under its Heat name", () => {
    const { dir, reader } = fooPlugin(`    properties:
      size: {type: integer, default: 1}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: foo.resources.create
`);
    writeFileSync(
      join(dir, 'template.yaml'),
      `heat_template_version: 2018-08-31
resources:
  foo:
    type: My::Resource::Foo
    properties: {size: '3'}
  bar:
    type: My::Resource::Bar
`,
    );
    const result = loadBlueprint(join(dir, 'template.yaml'), { reader, deploymentId: 'stack', inputs: {} });
    const lines = result.problems.sorted().map((p) => formatProblem(p, dir));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0]!,
      /^template\.yaml:7:11 resources\.bar\.type: unknown resource type 'My::Resource::Bar' \(.*a plugin's type/,
    );
    writeFileSync(
      join(dir, 'template.yaml'),
      readFileSync(join(dir, 'template.yaml'), 'utf8').replace(/ {2}bar:\n.*\n/, ''),
    );
    const fixed = loadBlueprint(join(dir, 'template.yaml'), { reader, deploymentId: 'stack', inputs: {} });
    assert.deepEqual(fixed.problems.problems, []);
    const foo = fixed.blueprint!.nodeTemplates.get('foo')!;
    assert.equal(foo.type, 'My::Resource::Foo');
    assert.equal(foo.properties.size, 3, 'text read as the integer its schema wants');
  });

  test("a plugin type's resource has its deletion_policy and restricted_actions; stand-ins are marked", () => {
    const { dir, reader } = fooPlugin(`    properties:
      size: {type: integer, default: 1}
      name: {type: string, default: x}
`);
    writeFileSync(
      join(dir, 'template.yaml'),
      `heat_template_version: 2018-08-31
parameters:
  size: {type: number}
resources:
  foo:
    type: My::Resource::Foo
    deletion_policy: Retain
    properties: {size: {get_param: size}, name: fixed}
`,
    );
    writeFileSync(
      join(dir, 'env.yaml'),
      'resource_registry: {resources: {foo: {restricted_actions: [update, replace]}}}\n',
    );
    const load = (inputs: ValueMap | undefined) =>
      loadBlueprint(join(dir, 'template.yaml'), {
        reader,
        deploymentId: 'stack',
        environments: [join(dir, 'env.yaml')],
        ...(inputs ? { inputs } : { validateOnly: true }),
      });
    const given = load({ size: 3 });
    assert.deepEqual(given.problems.problems, []);
    const foo = given.blueprint!.nodeTemplates.get('foo')!;
    assert.equal(foo.properties.deletion_policy, 'Retain');
    assert.deepEqual(foo.properties.restricted_actions, ['update', 'replace']);
    assert.equal(given.blueprint!.heatStandIns, undefined);
    // Checked without the parameter: `size` holds a stand-in, which the resource's checks must not judge.
    const checked = load(undefined);
    assert.deepEqual(checked.problems.problems, []);
    assert.deepEqual(checked.blueprint!.heatStandIns, { foo: ['size'] });
  });

  test('a Cloudify blueprint does not take the HOT policies its types do not declare', () => {
    const result = load(`tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  a:
    type: cloudify.nodes.Root
    properties: {deletion_policy: Retain}
`);
    assert.match(
      result.problems.problems.map((p) => p.message).join('\n'),
      /type 'cloudify.nodes.Root' has no property 'deletion_policy'/,
    );
  });
});

describe('HOT environments', () => {
  test('merged in order: parameters, parameter_defaults, registry aliases, template files, per-resource', () => {
    const result = ok(
      load(
        `heat_template_version: 2016-10-14
parameters:
  a: {type: string, default: template}
  b: {type: string, default: template}
  c: {type: string, default: template}
resources:
  one: {type: My::Value, properties: {value: {get_param: a}}}
  two: {type: My::Thing}
  three: {type: My::Thing}
outputs:
  values: {value: [{get_param: a}, {get_param: b}, {get_param: c}]}
`,
        {
          parameters: { c: 'command line' },
          environments: ['one.yaml', 'two.yaml'],
          files: {
            'one.yaml': `parameters: {a: first}
parameter_defaults: {b: first-default}
resource_registry:
  My::Value: OS::Heat::Value
  My::Thing: thing.yaml
event_sinks: []
`,
            'two.yaml': `parameters: {a: second, c: env}
resource_registry:
  resources:
    three: {My::Thing: OS::Heat::None}
`,
            'thing.yaml': 'heat_template_version: 2013-05-23\nresources:\n  inner: {type: OS::Heat::None}\n',
          },
        },
      ),
    );
    assert.deepEqual(result.blueprint!.outputs.get('values')?.value, [
      'second',
      'first-default',
      'command line',
    ]);
    assert.equal(node(result, 'one').type, 'OS::Heat::Value');
    assert.equal(node(result, 'two').type, 'weft.heat.TemplateResource');
    assert.ok(result.blueprint!.nodeTemplates.has('two.inner'));
    assert.equal(node(result, 'three').type, 'OS::Heat::None');
    assert.ok(result.problems.warnings.some((w) => w.message.startsWith('event_sinks are ignored')));
  });

  test('a bad environment is reported where it is', () => {
    const result = load('heat_template_version: 2013-05-23\nresources: {}\n', {
      environments: ['env.yaml'],
      files: { 'env.yaml': 'paramters: {a: 1}\nparameters: {a: 1}\n' },
    });
    assert.deepEqual(result.lines, [
      "env.yaml:1:1 paramters: unknown environment section (the sections are parameters, parameter_defaults, resource_registry, encrypted_param_names, event_sinks, parameter_merge_strategies); did you mean 'parameters'?",
      "env.yaml:2:17 parameters.a: the environment sets parameter 'a', which the template does not declare",
    ]);
  });

  test("a stack's own environment as a file: named as no file taken is, its text the environment", () => {
    const environment = {
      parameters: { a: 'kept' },
      resource_registry: { 'My::Thing': 'thing.yaml' },
    };
    const free = ownEnvironmentFile(environment, { 'template.yaml': '' });
    assert.equal(free.name, 'environment.json');
    assert.deepEqual(JSON.parse(free.text), environment);
    const taken = ownEnvironmentFile(environment, { 'environment.json': '', 'environment-2.json': '' });
    assert.equal(taken.name, 'environment-3.json');
    assert.equal(taken.text, free.text);
    assert.deepEqual(JSON.parse(ownEnvironmentFile(undefined, {}).text), {}, 'none is the empty one');
  });
});

describe("HOT nested stacks' environments", () => {
  test("Heat's get_child_environment: no parameters, the entry that made the type a template removed, the resources part narrowed to the resource's", () => {
    const parent = {
      parameters: { a: 1 },
      parameter_defaults: { b: 2 },
      resource_registry: {
        'My::A': 'My::B',
        'My::B': 'b.yaml',
        'My::Other': 'other.yaml',
        'Wild::*': 'wild/*.yaml',
        resources: {
          'ne*': { 'My::X': 'OS::Heat::None' },
          nested: { 'My::Own': 'own.yaml', 'My::Y': 'OS::Heat::None' },
          other: { 'My::Z': 'OS::Heat::None' },
        },
      },
      encrypted_param_names: [],
      event_sinks: [],
    };
    const registry = (name: string, type: string) =>
      childUserEnvironment(parent, name, type).resource_registry as Record<string, unknown>;
    // An alias of an alias: the entry that names the template goes, the alias stays.
    assert.deepEqual(registry('nested', 'My::A'), {
      'My::A': 'My::B',
      'My::Other': 'other.yaml',
      'Wild::*': 'wild/*.yaml',
      resources: { 'My::X': 'OS::Heat::None', 'My::Own': 'own.yaml', 'My::Y': 'OS::Heat::None' },
    });
    // The resource's own entry first; a wildcard's; a template file as the type removes nothing.
    assert.deepEqual(Object.keys(registry('nested', 'My::Own').resources as object), ['My::X', 'My::Y']);
    assert.equal(registry('wild', 'Wild::Thing')['Wild::*'], undefined);
    assert.deepEqual(registry('plain', 'x.yaml'), { ...parent.resource_registry, resources: {} });
    assert.deepEqual(childUserEnvironment(parent, 'other', 'OS::Heat::ResourceGroup'), {
      ...parent,
      parameters: {},
      resource_registry: { ...parent.resource_registry, resources: { 'My::Z': 'OS::Heat::None' } },
    });
    // The parent's is not changed.
    assert.equal(parent.resource_registry['My::B'], 'b.yaml');
  });
});

describe('HOT run-time expressions', () => {
  test('keep their template version: list_join of maps is JSON only from 2015-10-15', () => {
    const expression = { list_join: ['-', [{ get_attr: ['r', 'm'] }]] };
    const resources = { resourceId: () => null, attribute: () => ({ k: 'v' }) };
    assert.equal(evaluateRuntime(expression, '2021-04-16', resources), '{"k": "v"}');
    assert.throws(
      () => evaluateRuntime(expression, '2015-04-30', resources),
      /items to join must be strings/,
    );
  });
});

describe('HOT ResourceGroup rolling_update', () => {
  test('a group whose rolling update keeps members in service has spare members past its count, of no instance', () => {
    const group = (policy: string) =>
      `heat_template_version: '2015-04-30'
resources:
  random_group:
    type: OS::Heat::ResourceGroup
    update_policy: {rolling_update: ${policy}}
    properties:
      count: 10
      resource_def: {type: OS::Heat::RandomString, properties: {salt: '%index%'}}
outputs:
  all: {value: {get_attr: [random_group, value]}}
`;
    // A batch's capacity is at most the count plus the least of max_batch_size, min_in_service
    // and the count (heat/scaling/rolling_update.py next_batch): 10 + min(4, 8, 10).
    const result = ok(load(group('{min_in_service: 8, max_batch_size: 4}')));
    const members = [...result.blueprint!.nodeTemplates.keys()].filter((n) => n.startsWith('random_group.'));
    assert.equal(members.length, 14);
    for (const spare of ['10', '11', '12', '13']) {
      const made = node(result, `random_group.${spare}`);
      assert.equal(made.instances.default, 0, spare);
      // Of the group's definition, %index% its own name.
      assert.equal((made.properties as ValueMap).salt, spare);
    }
    assert.deepEqual(
      result.plan!.instances.map((i) => i.node).filter((n) => n.startsWith('random_group.')).length,
      10,
    );
    // The group depends on its members only, as its attributes read them only.
    assert.deepEqual(
      dependencies(result, 'random_group'),
      [...Array(10).keys()].map((n) => `random_group.${n}`).sort(),
    );
    // No member is kept in service, or no rolling update: no spare.
    for (const policy of ['{min_in_service: 0, max_batch_size: 4}', 'null'])
      assert.ok(!ok(load(group(policy))).blueprint!.nodeTemplates.has('random_group.10'), policy);
  });
  test("batches as Heat's ResourceGroup._get_batches counts them and _assemble_for_rolling_update fills them", () => {
    // Heat's TestGetBatches scenarios (heat/tests/openstack/heat/test_resource_group.py): target
    // count, members there are ("1".."init", "0" taken by a removal policy), max_batch_size,
    // min_in_service, then each batch's capacity, size and the members given the new definition.
    const scenarios: [number, number, number, number, [number, number, string[]][]][] = [
      [
        4,
        4,
        1,
        0,
        [
          [4, 1, ['4']],
          [4, 1, ['3']],
          [4, 1, ['2']],
          [4, 1, ['1']],
        ],
      ],
      [
        4,
        4,
        1,
        4,
        [
          [5, 1, ['5']],
          [5, 1, ['4']],
          [5, 1, ['3']],
          [5, 1, ['2']],
          [5, 1, ['1']],
          [4, 0, []],
        ],
      ],
      [
        4,
        4,
        1,
        5,
        [
          [5, 1, ['5']],
          [5, 1, ['4']],
          [5, 1, ['3']],
          [5, 1, ['2']],
          [5, 1, ['1']],
          [4, 0, []],
        ],
      ],
      [
        4,
        4,
        2,
        0,
        [
          [4, 2, ['4', '3']],
          [4, 2, ['2', '1']],
        ],
      ],
      [
        4,
        4,
        2,
        4,
        [
          [6, 2, ['6', '5']],
          [6, 2, ['4', '3']],
          [6, 2, ['2', '1']],
          [4, 0, []],
        ],
      ],
      [
        5,
        5,
        2,
        0,
        [
          [5, 2, ['5', '4']],
          [5, 2, ['3', '2']],
          [5, 1, ['1']],
        ],
      ],
      [
        5,
        5,
        2,
        4,
        [
          [6, 2, ['6', '5']],
          [6, 2, ['4', '3']],
          [6, 2, ['2', '1']],
          [5, 0, []],
        ],
      ],
      [
        3,
        3,
        2,
        0,
        [
          [3, 2, ['3', '2']],
          [3, 1, ['1']],
        ],
      ],
      [
        3,
        3,
        2,
        4,
        [
          [5, 2, ['5', '4']],
          [5, 2, ['3', '2']],
          [4, 1, ['1']],
          [3, 0, []],
        ],
      ],
      [4, 4, 4, 0, [[4, 4, ['4', '3', '2', '1']]]],
      [4, 4, 5, 0, [[4, 4, ['4', '3', '2', '1']]]],
      [
        4,
        4,
        4,
        1,
        [
          [5, 4, ['5', '4', '3', '2']],
          [4, 1, ['1']],
        ],
      ],
      [
        4,
        4,
        6,
        1,
        [
          [5, 4, ['5', '4', '3', '2']],
          [4, 1, ['1']],
        ],
      ],
      [
        4,
        4,
        4,
        2,
        [
          [6, 4, ['6', '5', '4', '3']],
          [4, 2, ['2', '1']],
        ],
      ],
      [
        4,
        4,
        4,
        4,
        [
          [8, 4, ['8', '7', '6', '5']],
          [8, 4, ['4', '3', '2', '1']],
          [4, 0, []],
        ],
      ],
      [
        4,
        4,
        5,
        6,
        [
          [8, 4, ['8', '7', '6', '5']],
          [8, 4, ['4', '3', '2', '1']],
          [4, 0, []],
        ],
      ],
      [
        4,
        7,
        1,
        0,
        [
          [4, 1, ['4']],
          [4, 1, ['3']],
          [4, 1, ['2']],
          [4, 1, ['1']],
        ],
      ],
      [
        4,
        7,
        1,
        4,
        [
          [5, 1, ['4']],
          [5, 1, ['3']],
          [5, 1, ['2']],
          [5, 1, ['1']],
          [4, 0, []],
        ],
      ],
      [
        4,
        7,
        1,
        5,
        [
          [5, 1, ['4']],
          [5, 1, ['3']],
          [5, 1, ['2']],
          [5, 1, ['1']],
          [4, 0, []],
        ],
      ],
      [
        4,
        7,
        2,
        0,
        [
          [4, 2, ['4', '3']],
          [4, 2, ['2', '1']],
        ],
      ],
      [
        4,
        7,
        2,
        4,
        [
          [6, 2, ['4', '3']],
          [6, 2, ['2', '1']],
          [4, 0, []],
        ],
      ],
      [
        5,
        7,
        2,
        0,
        [
          [5, 2, ['5', '4']],
          [5, 2, ['3', '2']],
          [5, 1, ['1']],
        ],
      ],
      [
        5,
        7,
        2,
        4,
        [
          [6, 2, ['5', '4']],
          [6, 2, ['3', '2']],
          [5, 1, ['1']],
        ],
      ],
      [
        4,
        7,
        4,
        4,
        [
          [8, 4, ['8', '4', '3', '2']],
          [5, 1, ['1']],
          [4, 0, []],
        ],
      ],
      [
        4,
        7,
        5,
        6,
        [
          [8, 4, ['8', '4', '3', '2']],
          [5, 1, ['1']],
          [4, 0, []],
        ],
      ],
      [
        6,
        4,
        1,
        0,
        [
          [5, 1, ['5']],
          [6, 1, ['6']],
          [6, 1, ['4']],
          [6, 1, ['3']],
          [6, 1, ['2']],
          [6, 1, ['1']],
        ],
      ],
      [
        6,
        4,
        1,
        4,
        [
          [5, 1, ['5']],
          [6, 1, ['6']],
          [6, 1, ['4']],
          [6, 1, ['3']],
          [6, 1, ['2']],
          [6, 1, ['1']],
        ],
      ],
      [
        6,
        4,
        1,
        5,
        [
          [5, 1, ['5']],
          [6, 1, ['6']],
          [6, 1, ['4']],
          [6, 1, ['3']],
          [6, 1, ['2']],
          [6, 1, ['1']],
        ],
      ],
      [
        6,
        4,
        2,
        0,
        [
          [6, 2, ['5', '6']],
          [6, 2, ['4', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        4,
        2,
        4,
        [
          [6, 2, ['5', '6']],
          [6, 2, ['4', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        5,
        2,
        0,
        [
          [6, 2, ['6', '5']],
          [6, 2, ['4', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        5,
        2,
        4,
        [
          [6, 2, ['6', '5']],
          [6, 2, ['4', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        3,
        2,
        0,
        [
          [5, 2, ['4', '5']],
          [6, 2, ['6', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        3,
        2,
        4,
        [
          [5, 2, ['4', '5']],
          [6, 2, ['6', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        4,
        4,
        0,
        [
          [6, 4, ['5', '6', '4', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        4,
        5,
        0,
        [
          [6, 5, ['5', '6', '4', '3', '2']],
          [6, 1, ['1']],
        ],
      ],
      [
        6,
        4,
        4,
        1,
        [
          [6, 4, ['5', '6', '4', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        4,
        6,
        1,
        [
          [7, 6, ['5', '6', '7', '4', '3', '2']],
          [6, 1, ['1']],
        ],
      ],
      [
        6,
        4,
        4,
        2,
        [
          [6, 4, ['5', '6', '4', '3']],
          [6, 2, ['2', '1']],
        ],
      ],
      [
        6,
        4,
        4,
        4,
        [
          [8, 4, ['8', '7', '6', '5']],
          [8, 4, ['4', '3', '2', '1']],
          [6, 0, []],
        ],
      ],
      [
        6,
        4,
        5,
        6,
        [
          [9, 5, ['9', '8', '7', '6', '5']],
          [10, 4, ['10', '4', '3', '2']],
          [7, 1, ['1']],
          [6, 0, []],
        ],
      ],
    ];
    for (const [target, init, size, min, expected] of scenarios) {
      const label = `${target}_${init}_${size}_${min}`;
      assert.deepEqual(
        heatBatches(target, init, size, min),
        expected.map(([c, s]) => [c, s]),
        label,
      );
      const members = Array.from({ length: init }, (_, n) => String(n + 1));
      const batches = rollingBatches(
        { members, outdated: new Set(members), skipped: new Set(['0']), target },
        size,
        min,
      );
      let current = new Set(members);
      batches.forEach((batch, n) => {
        const [capacity, , names] = expected[n]!;
        assert.deepEqual(new Set([...batch.create, ...batch.update]), new Set(names), `${label} batch ${n}`);
        for (const gone of batch.remove) current.delete(gone);
        current = new Set([...current, ...batch.create]);
        assert.deepEqual(
          [...current].sort((a, b) => Number(a) - Number(b)),
          Array.from({ length: capacity }, (_, i) => String(i + 1)),
          `${label} batch ${n} members`,
        );
      });
      assert.equal(batches.length, expected.length, label);
    }
    assert.deepEqual(heatBatches(0, 0, 2, 0), []);
  });

  test('the policy is read with its defaults (numbers as strings too) and checked', () => {
    const template = (policy: string) => `heat_template_version: 2015-04-30
resources:
  group:
    type: OS::Heat::ResourceGroup
    update_policy: ${policy}
    properties:
      count: 2
      resource_def: {type: OS::Heat::RandomString}
`;
    const read = ok(load(template("{rolling_update: {min_in_service: '1', max_batch_size: 3}}")));
    assert.deepEqual(node(read, 'group').properties.rolling_update, {
      min_in_service: 1,
      max_batch_size: 3,
      pause_time: 0,
    });
    const bad = load(template('{rolling_update: {max_batch_size: 0, pause: 1}, batch_updates: {}}'));
    assert.deepEqual(bad.lines, [
      'template.yaml:5:54 resources.group.update_policy.rolling_update.max_batch_size: max_batch_size must be a whole number of 1 or more, got 0',
      'template.yaml:5:57 resources.group.update_policy.rolling_update.pause: unknown key of rolling_update',
      'template.yaml:5:68 resources.group.update_policy.batch_updates: unknown update_policy of OS::Heat::ResourceGroup',
    ]);
    // batch_create: Heat's batch_create_schema (max_batch_size, pause_time; no min_in_service).
    const batched = ok(load(template("{batch_create: {pause_time: '0.5'}}")));
    assert.deepEqual(node(batched, 'group').properties.batch_create, { max_batch_size: 1, pause_time: 0.5 });
    assert.deepEqual(load(template('{batch_create: {max_batch_size: 1.5, min_in_service: 1}}')).lines, [
      'template.yaml:5:52 resources.group.update_policy.batch_create.max_batch_size: max_batch_size must be a whole number of 1 or more, got 1.5',
      'template.yaml:5:57 resources.group.update_policy.batch_create.min_in_service: unknown key of batch_create',
    ]);
  });
});

describe('HOT resource states', () => {
  test("a stack resource not started yet shows its stack's: in progress once a member started, failed when one failed", () => {
    const at = (node: string, action?: string, status?: string) => ({
      node,
      state: action ? 'creating' : 'uninitialized',
      runtimeProperties: action ? { heat: { state: { action, status } } } : {},
    });
    const shown = (instances: ReturnType<typeof at>[]) => {
      const states = heatResourceStates(instances);
      return instances.map((i) => `${i.node} ${states.get(i)}`);
    };
    // A failed member makes its group failed whatever the order; a template resource in the
    // failed group's member fails too, two levels up.
    assert.deepEqual(
      shown([
        at('group'),
        at('group.1', 'CREATE', 'COMPLETE'),
        at('group.0'),
        at('group.0.oops', 'CREATE', 'FAILED'),
        at('chain'),
        at('chain.0', 'CREATE', 'COMPLETE'),
        at('chain.1'),
        at('plain'),
      ]),
      [
        'group CREATE_FAILED',
        'group.1 CREATE_COMPLETE',
        'group.0 CREATE_FAILED',
        'group.0.oops CREATE_FAILED',
        'chain CREATE_IN_PROGRESS',
        'chain.0 CREATE_COMPLETE',
        'chain.1 INIT_COMPLETE',
        'plain INIT_COMPLETE',
      ],
    );
    // A stack resource with an action of its own keeps it.
    assert.deepEqual(shown([at('group', 'UPDATE', 'COMPLETE'), at('group.0', 'UPDATE', 'FAILED')]), [
      'group UPDATE_COMPLETE',
      'group.0 UPDATE_FAILED',
    ]);
  });
});

describe('HOT stack status reason', () => {
  test("worded as Heat's stack_status_reason: started, completed, a resource's failure by its path, a cancel", () => {
    const run = (status: string, error: unknown = null, workflow = 'install') => [
      { workflow, status, error },
    ];
    assert.equal(heatStackStatusReason([]), 'Stack INIT completed successfully');
    assert.equal(heatStackStatusReason(run('started')), 'Stack CREATE started');
    assert.equal(
      heatStackStatusReason(run('terminated', null, 'update')),
      'Stack UPDATE completed successfully',
    );
    assert.equal(
      heatStackStatusReason(run('failed', { message: 'it broke', task: { node: 'group.0.oops' } })),
      'Resource CREATE failed: resources.group.resources.0.resources.oops: it broke',
    );
    assert.equal(
      heatStackStatusReason(run('failed', { message: 'no task can run' })),
      'Stack CREATE failed: no task can run',
    );
    assert.equal(
      heatStackStatusReason(run('cancelled', null, 'update')),
      'Resource UPDATE failed: Operation cancelled',
    );
    // A failed create's uninstall is the stack's rollback.
    assert.equal(
      heatStackStatusReason([...run('failed', { message: 'x' }), ...run('terminated', null, 'uninstall')]),
      'Stack ROLLBACK completed successfully',
    );
  });
});

describe('HOT stack updates of stack resources', () => {
  // A group of template resources (each a nested stack of a RandomString), a template resource
  // of a template resource (nested1.nested2.random), a chain, an OS::Heat::Stack and a plain
  // resource; the group rolls its updates with a pause between batches.
  const TEMPLATE = `heat_template_version: 2016-04-08
resources:
  group:
    type: OS::Heat::ResourceGroup
    update_policy: {rolling_update: {max_batch_size: 1, pause_time: 5}}
    properties:
      count: 2
      resource_def: {type: member.yaml}
  nested1: {type: nested1.yaml}
  chain:
    type: OS::Heat::ResourceChain
    properties: {resources: [OS::Heat::None]}
  stack:
    type: OS::Heat::Stack
    properties:
      template: {heat_template_version: 2016-04-08, resources: {inner: {type: OS::Heat::None}}}
  plain: {type: OS::Heat::RandomString}
`;
  const FILES = {
    'member.yaml':
      'heat_template_version: 2016-04-08\nresources:\n  random: {type: OS::Heat::RandomString}\n',
    'nested1.yaml': 'heat_template_version: 2016-04-08\nresources:\n  nested2: {type: nested2.yaml}\n',
    'nested2.yaml':
      'heat_template_version: 2016-04-08\nresources:\n  random: {type: OS::Heat::RandomString}\n',
  };
  const STACK_RESOURCES = ['chain', 'group', 'group.0', 'group.1', 'nested1', 'nested1.nested2', 'stack'];

  /** The stack made from the files (every instance started), and the plan of its update to `files`' changes. */
  function planned(changes: Record<string, string> = {}, parameters = UPDATE_PARAMETER_DEFAULTS) {
    const first = load(TEMPLATE, { files: FILES });
    const prepare = () => {
      const { prepared, problems } = prepareDeployment({
        reader: fileSystemReader({ resolvePlugin: (name) => (name === 'utilities' ? UTILITIES : undefined) }),
        blueprintPath: join(first.dir, 'template.yaml'),
        deploymentId: 'stack',
      });
      assert.ok(prepared, JSON.stringify(problems.problems));
      return prepared;
    };
    const before = prepare();
    for (const [name, text] of Object.entries(changes)) writeFileSync(join(first.dir, name), text);
    const after = prepare();
    const instances = before.instances.map((i) => ({ ...i, state: 'started' as const }));
    const plan = planUpdate(
      before.deployment.model as unknown as DeploymentModel,
      instances,
      after.deployment.model as unknown as DeploymentModel,
      'stack',
      parameters,
    );
    const nodeOf = new Map(instances.map((i) => [i.id, i.node]));
    const actions = Object.fromEntries(
      Object.entries(plan.actions)
        .map(([id, action]) => [nodeOf.get(id) ?? id, action])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
    );
    return { plan, actions, nodeOf };
  }

  test("every stack resource is updated, changed or not (Heat's StackResource._needs_update); what is in it as it changes", () => {
    const { plan, actions, nodeOf } = planned();
    // The same template: the stack resources only, none of the resources in their stacks.
    assert.deepEqual(actions, Object.fromEntries(STACK_RESOURCES.map((n) => [n, 'update'])));
    assert.deepEqual(plan.replacements, {});
    for (const task of plan.graph.tasks) assert.equal(task.operation, RESOURCE_UPDATE);
    // A nested stack's resource whose stack has tasks begins its update before them (Heat's
    // UPDATE_IN_PROGRESS) and finishes it after them; one with none (chain, stack, the members'
    // stacks) is updated by one task.
    const order = waves(plan.graph).map((wave) =>
      wave
        .map((t) => `${nodeOf.get(t.instanceId)!}${t.inputs?.[BEGIN_UPDATE_INPUT] ? ' begins' : ''}`)
        .sort(),
    );
    assert.deepEqual(order, [
      ['chain', 'group begins', 'nested1 begins', 'stack'],
      ['group.0', 'group.1', 'nested1.nested2'],
      ['group', 'nested1'],
    ]);
    // No rolling update: the group's members keep their definition, so no batch, no pause.
    assert.deepEqual(
      plan.graph.tasks.filter((t) => t.operation !== RESOURCE_UPDATE),
      [],
    );
  });

  test('a changed file of a nested stack changes its resources; the stack resources around them are updated after them', () => {
    const { plan, actions, nodeOf } = planned({
      'member.yaml':
        'heat_template_version: 2016-04-08\nresources:\n  random: {type: OS::Heat::RandomString, properties: {salt: two}}\n',
      'nested2.yaml':
        'heat_template_version: 2016-04-08\nresources:\n  random: {type: OS::Heat::RandomString, properties: {length: 8}}\n',
    });
    assert.deepEqual(actions, {
      ...Object.fromEntries(STACK_RESOURCES.map((n) => [n, 'update'])),
      'group.0.random': 'update',
      'group.1.random': 'update',
      'nested1.nested2.random': 'update',
    });
    // Each resource's wave, a stack resource's update begun in `begun`.
    const at = new Map<string, number>();
    const begun = new Map<string, number>();
    waves(plan.graph).forEach((wave, n) => {
      for (const t of wave)
        if (t.instanceId) (t.inputs?.[BEGIN_UPDATE_INPUT] ? begun : at).set(nodeOf.get(t.instanceId)!, n);
    });
    for (const [inner, outer] of [
      ['group.0.random', 'group.0'],
      ['group.0', 'group'],
      ['group.1', 'group'],
      ['nested1.nested2.random', 'nested1.nested2'],
      ['nested1.nested2', 'nested1'],
    ] as const) {
      assert.ok(at.get(inner)! < at.get(outer)!, `${inner} before ${outer} ends`);
      assert.ok(begun.get(outer)! < (begun.get(inner) ?? at.get(inner)!), `${outer} begins before ${inner}`);
    }
    // The members' definitions changed (within them): the group rolls them one batch at a time,
    // its update begun before the first.
    assert.equal(plan.graph.tasks.filter((t) => t.operation !== RESOURCE_UPDATE).length, 1, 'one pause');
    assert.ok(
      begun.get('group')! < at.get('group.0.random')! && begun.get('group')! < at.get('group.1.random')!,
    );
    assert.ok(at.get('group.0.random') !== at.get('group.1.random'), 'one member per batch');
  });

  test('a stack resource a reinstall_list names is reinstalled, not updated', () => {
    const first = planned();
    const group = Object.entries(first.plan.actions).find(([id]) => first.nodeOf.get(id) === 'group')![0];
    const { actions } = planned({}, { ...UPDATE_PARAMETER_DEFAULTS, reinstall_list: [group] });
    assert.equal(actions.group, 'reinstall');
    assert.equal(actions.nested1, 'update');
  });
});
