/**
 * Plugin discovery (runtime/plugins.ts): plugin.yaml and plugin.json plugins found in plugin
 * directories (skipping tests/ and the like), entry modules, versions, `plugin:NAME` resolution,
 * dependency errors, validation of a plugin's types, and ModuleDispatcher's `entries`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { parseBlueprint } from '../src/dsl/blueprint.js';
import { formatProblem } from '../src/dsl/diagnostics.js';
import { fileSystemReader } from '../src/io/fs-reader.js';
import { deploymentModel } from '../src/model/deployment-model.js';
import { planDeployment } from '../src/model/plan.js';
import { ModuleDispatcher } from '../src/runtime/module-dispatcher.js';
import {
  compareVersions,
  discoverPlugins,
  PluginError,
  PluginSet,
  validatePlugin,
  versionMatches,
} from '../src/runtime/plugins.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'weft-plugins-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** A Cloudify-style plugin.yaml declaring `name` and one node type `<name>.Thing`. */
function pluginYaml(name: string, version: string, extra = ''): string {
  return `plugins:
  ${name}:
    executor: central_deployment_agent
    package_name: weft-${name}
    package_version: '${version}'
${extra}node_types:
  ${name}.Thing:
    derived_from: cloudify.nodes.Root
    properties:
      size: {type: integer, default: 1}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: ${name}.create
`;
}

const names = (plugins: { name: string }[]) => plugins.map((p) => p.name);

describe('plugin discovery', () => {
  test('finds plugin.yaml and plugin.json plugins one level down, skipping tests/, node_modules/ and dot-directories', () => {
    const root = tree({
      'alpha/plugin.yaml': pluginYaml('alpha', '1.0'),
      'alpha/package.json': '{"name": "alpha", "main": "lib/main.js"}',
      'alpha/lib/main.js': 'export function create() {}\n',
      'beta/plugin.json': JSON.stringify({
        name: 'beta',
        version: '2.1.0',
        entry: 'src/beta.mjs',
        types: 'types/beta.yaml',
        requires: ['alpha'],
      }),
      'beta/src/beta.mjs': 'export function create() {}\n',
      'beta/types/beta.yaml': pluginYaml('beta', '2.1.0'),
      'gamma/plugin.yaml': pluginYaml('gamma', '0.3'),
      'gamma/index.mjs': 'export {}\n',
      'delta/plugin.yaml': pluginYaml('delta', '1'),
      'delta/index.ts': 'export function create(): void {}\n',
      'tests/plugin.yaml': pluginYaml('from_tests', '1'),
      'tests/inner/plugin.yaml': pluginYaml('from_tests_inner', '1'),
      'test/plugin.yaml': pluginYaml('from_test', '1'),
      'node_modules/dep/plugin.yaml': pluginYaml('from_node_modules', '1'),
      '.hidden/plugin.yaml': pluginYaml('hidden', '1'),
      'not-a-plugin/readme.txt': 'nothing here',
      'deeper/nested/plugin.yaml': pluginYaml('too_deep', '1'),
    });
    const plugins = discoverPlugins([root]);
    assert.deepEqual(names(plugins), ['alpha', 'beta', 'delta', 'gamma']);
    const [alpha, beta, delta, gamma] = plugins as [
      (typeof plugins)[0],
      (typeof plugins)[0],
      (typeof plugins)[0],
      (typeof plugins)[0],
    ];
    assert.deepEqual(alpha.problems, []);
    assert.equal(alpha.version, '1.0');
    assert.equal(alpha.packageName, 'weft-alpha');
    assert.equal(alpha.format, 'plugin.yaml');
    assert.equal(alpha.dir, join(root, 'alpha'));
    assert.equal(alpha.searchDir, root);
    assert.equal(alpha.typesFile, join(root, 'alpha', 'plugin.yaml'));
    assert.equal(alpha.entry, join(root, 'alpha', 'lib', 'main.js'));
    assert.deepEqual(beta.problems, []);
    assert.equal(beta.format, 'plugin.json');
    assert.equal(beta.version, '2.1.0');
    assert.equal(beta.typesFile, join(root, 'beta', 'types', 'beta.yaml'));
    assert.equal(beta.entry, join(root, 'beta', 'src', 'beta.mjs'));
    assert.deepEqual(beta.requires, ['alpha']);
    assert.equal(gamma.entry, join(root, 'gamma', 'index.mjs'));
    // TypeScript entries are recorded as they are; they are compiled when loaded.
    assert.equal(delta.entry, join(root, 'delta', 'index.ts'));
  });

  test('a searched directory may be a plugin itself; missing directories are passed over', () => {
    const root = tree({ 'plugin.yaml': pluginYaml('solo', '1.2.3'), 'index.js': 'export {}\n' });
    const plugins = discoverPlugins([join(root, 'nope'), root]);
    assert.deepEqual(names(plugins), ['solo']);
    assert.equal(plugins[0]!.dir, root);
    assert.equal(plugins[0]!.entry, join(root, 'index.js'));
  });

  test('the version comes from package.json when plugin.yaml has no package_version', () => {
    const root = tree({
      'p/plugin.yaml': 'plugins:\n  p: {executor: central_deployment_agent}\n',
      'p/package.json': '{"name": "p", "version": "4.5.6"}',
    });
    const [p] = discoverPlugins([root]);
    assert.equal(p!.version, '4.5.6');
    assert.equal(p!.entry, undefined);
    assert.deepEqual(p!.problems, []);
  });

  test('bad definitions are problems with file:line:col', () => {
    const root = tree({
      'none/plugin.yaml': 'node_types: {}\n',
      'two/plugin.yaml': 'plugins:\n  a: {}\n  b: {}\n',
      'badmain/plugin.yaml': pluginYaml('badmain', '1'),
      'badmain/package.json': '{"main": "dist/index.js"}',
      'badjson/plugin.json': '{"name": "badjson",\n "types": }\n',
      'notypes/plugin.json': '{"name": "notypes", "version": "1"}',
      'src/plugin.yaml': pluginYaml('src', '1', '    source: ./lib\n'),
      'req/plugin.yaml': pluginYaml('req', '1', '    requires: alpha\n'),
      'yaml/plugin.yaml': 'plugins:\n  yaml: [unclosed\n',
    });
    const byName = new Map(discoverPlugins([root]).map((p) => [basename(p.dir), p]));
    const lines = (name: string) => byName.get(name)!.problems.map((p) => formatProblem(p, root));
    assert.match(lines('none')[0]!, /^none\/plugin\.yaml:1:1 plugins: declares no plugin/);
    assert.match(lines('two')[0]!, /^two\/plugin\.yaml:2:3 plugins: declares 2 plugins \(a, b\)/);
    assert.match(
      lines('badmain')[0]!,
      /^badmain\/package\.json:1:1 main: package\.json main 'dist\/index\.js' does not exist$/,
    );
    assert.match(lines('badjson')[0]!, /^badjson\/plugin\.json:\d+:\d+ invalid JSON: [^\n]+$/);
    assert.match(lines('notypes')[0]!, /^notypes\/plugin\.json:1:1 types: missing/);
    assert.match(
      lines('src')[0]!,
      /^src\/plugin\.yaml:6:13 plugins\.src\.source: a local source in plugin\.yaml/,
    );
    assert.match(
      lines('req')[0]!,
      /^req\/plugin\.yaml:6:15 plugins\.req\.requires: expected a list of plugin names$/,
    );
    assert.match(lines('yaml')[0]!, /^yaml\/plugin\.yaml:\d+:\d+ invalid YAML/);
  });
});

describe('plugin versions and resolution', () => {
  const one = tree({ 'p/plugin.yaml': pluginYaml('p', '1.0'), 'q/plugin.yaml': pluginYaml('q', '0.9') });
  const two = tree({ 'p/plugin.yaml': pluginYaml('p', '1.10'), 'p2/plugin.yaml': pluginYaml('p', '1.2.5') });
  const three = tree({ 'p/plugin.yaml': pluginYaml('p', '1.0') });
  const set = PluginSet.discover([one, two, three]);

  test('versions compare part by part', () => {
    assert.ok(compareVersions('1.10', '1.9') > 0);
    assert.ok(compareVersions('2', '10') < 0);
    assert.ok(compareVersions('1.0.1', '1.0') > 0);
    assert.ok(compareVersions(undefined, '0') < 0);
    assert.equal(compareVersions('1.2', '1.2'), 0);
    assert.ok(versionMatches('1.2.5', '1.2'));
    assert.ok(!versionMatches('1.20', '1.2'));
    // Cloudify's constraints.
    assert.ok(versionMatches('1.25.0', ' >=1.22.1'));
    assert.ok(!versionMatches('1.21', '>=1.22.1'));
    assert.ok(versionMatches('1.5', '>1.0,<2.0'));
    assert.ok(!versionMatches('2.0', '>1.0, <2.0'));
    assert.ok(versionMatches('1.3', '==1.3') && !versionMatches('1.4', '!=1.4'));
  });

  test('a stand-in plugin (any_version) serves any version asked when none installed has it', () => {
    const root = tree({
      'standin/plugin.yaml':
        "plugins:\n  s:\n    package_name: cloudify-s-plugin\n    package_version: '0.1.0'\n    any_version: true\n",
      'real/plugin.yaml': pluginYaml('r', '2.0'),
    });
    const plugins = PluginSet.discover([root]);
    assert.equal(plugins.find('cloudify-s-plugin', '>=1.22.1')?.name, 's');
    assert.equal(plugins.find('s', '1.25.0')?.name, 's');
    assert.equal(plugins.find('r', '3.0'), undefined, 'an ordinary plugin keeps to its versions');
  });

  test('the highest version, or the exact one asked, or the highest under a prefix', () => {
    assert.equal(set.find('p')!.version, '1.10');
    assert.equal(set.find('p', '1.0')!.dir, join(one, 'p'));
    assert.equal(set.find('p', '1.2')!.version, '1.2.5');
    assert.equal(set.find('p', '1')!.version, '1.10');
    assert.equal(set.find('p', '3'), undefined);
    assert.equal(set.find('nope'), undefined);
    assert.equal(set.resolvePlugin('p', undefined), join(two, 'p', 'plugin.yaml'));
    assert.equal(set.resolvePlugin('p', '1.0'), join(one, 'p', 'plugin.yaml'));
    assert.equal(set.resolvePlugin('p', '2.0'), undefined);
  });

  test('the same name and version found again later is shadowed', () => {
    const shadowed = set.plugins.find((p) => p.dir === join(three, 'p'))!;
    assert.equal(shadowed.problems[0]!.code, 'plugin-shadowed');
    assert.match(
      shadowed.problems[0]!.message,
      new RegExp(`also in ${join(one, 'p')}, which is used instead`),
    );
    assert.deepEqual(set.find('p', '1.0')!.problems, []);
  });

  test('a blueprint imports plugin:NAME and plugin:NAME?version=V; a version not installed is a clear problem', () => {
    const bp = tree({
      'bp.yaml': `tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
  - plugin:p?version=1.2
  - plugin:q
node_templates:
  thing: {type: p.Thing, properties: {size: 3}}
  other: {type: q.Thing}
`,
      'bad.yaml': `tosca_definitions_version: cloudify_dsl_1_5
imports: [cloudify/types/types.yaml, 'plugin:p?version=7']
`,
    });
    const reader = fileSystemReader({ resolvePlugin: set.resolvePlugin });
    const parsed = parseBlueprint(join(bp, 'bp.yaml'), reader);
    assert.deepEqual(parsed.problems.problems, []);
    assert.equal(parsed.blueprint!.plugins.get('p')!.packageVersion, '1.2.5');
    assert.ok(parsed.blueprint!.nodeTypes.has('q.Thing'));
    const bad = parseBlueprint(join(bp, 'bad.yaml'), reader);
    assert.deepEqual(
      bad.problems.problems.map((p) => formatProblem(p, bp)),
      [
        "bad.yaml:2:38 imports[1]: plugin 'p' (version 7) is not installed, so 'plugin:p?version=7' cannot be imported",
      ],
    );
  });

  test("entriesFor picks the installed plugin with the deployment's package_version", () => {
    const withEntries = tree({
      'a1/plugin.yaml': pluginYaml('a', '1.0'),
      'a1/index.js': 'export {}\n',
      'a2/plugin.yaml': pluginYaml('a', '2.0'),
      'a2/index.js': 'export {}\n',
    });
    const plugins = PluginSet.discover([withEntries]);
    assert.deepEqual(
      plugins.entriesFor({ plugins: { a: { packageVersion: '1.0' }, other: {} } }),
      new Map([['a', join(withEntries, 'a1', 'index.js')]]),
    );
    assert.deepEqual(
      plugins.entriesFor({ plugins: { a: {} } }),
      new Map([['a', join(withEntries, 'a2', 'index.js')]]),
    );
  });
});

test('operations_per_worker and memory_limit_mb: read for the chosen plugins; other values are problems', () => {
  const root = tree({
    'a/plugin.yaml': pluginYaml('a', '1.0', '    operations_per_worker: 16\n'),
    'a/index.js': 'export {}\n',
    'b/plugin.yaml': pluginYaml('b', '1.0'),
    'b/index.js': 'export {}\n',
    'c/plugin.yaml': pluginYaml('c', '1.0', '    operations_per_worker: 0\n    memory_limit_mb: 8\n'),
    'd/plugin.yaml': pluginYaml('d', '1.0', '    memory_limit_mb: 300\n'),
    'd/index.js': 'export {}\n',
  });
  const plugins = PluginSet.discover([root]);
  assert.deepEqual(
    plugins.workerSettingsFor({ plugins: { a: {}, b: {}, d: {} } }),
    new Map([
      ['a', { operationsPerWorker: 16 }],
      ['d', { memoryLimitMb: 300 }],
    ]),
  );
  assert.deepEqual(
    plugins.find('c')!.problems.map((p) => p.message),
    ['expected a whole number of at least 1, got 0', 'expected a whole number of at least 32, got 8'],
  );
});

describe('plugin dependencies', () => {
  test('a missing dependency names the chain; resolving the plugin is a PluginError', () => {
    const root = tree({
      'a/plugin.yaml': pluginYaml('a', '1', '    requires: [b]\n'),
      'b/plugin.yaml': pluginYaml('b', '1', '    requires: [c]\n'),
      'ok/plugin.yaml': pluginYaml('ok', '1', '    requires: [b2]\n'),
      'b2/plugin.json': JSON.stringify({ name: 'b2', version: '1', types: 'types.yaml' }),
      'b2/types.yaml': pluginYaml('b2', '1'),
    });
    const set = PluginSet.discover([root]);
    const problems = (name: string) => set.find(name)!.problems.map((p) => formatProblem(p, root));
    assert.deepEqual(problems('a'), [
      "a/plugin.yaml:6:15 plugins.a.requires: missing dependency: a -> b -> c (no plugin 'c' is installed)",
    ]);
    assert.deepEqual(problems('b'), [
      "b/plugin.yaml:6:15 plugins.b.requires: missing dependency: b -> c (no plugin 'c' is installed)",
    ]);
    assert.deepEqual(problems('ok'), []);
    assert.equal(set.resolvePlugin('ok', undefined), join(root, 'ok', 'plugin.yaml'));
    assert.throws(
      () => set.resolvePlugin('a', undefined),
      (error: Error) =>
        error instanceof PluginError &&
        error.message ===
          `plugin 'a' 1 in ${join(root, 'a')} cannot be used: missing dependency: a -> b -> c (no plugin 'c' is installed)`,
    );
  });

  test('a dependency cycle names the cycle, for every plugin on it', () => {
    const root = tree({
      'a/plugin.yaml': pluginYaml('a', '1', '    requires: [b]\n'),
      'b/plugin.json': JSON.stringify({ name: 'b', version: '1', types: 'types.yaml', requires: ['c'] }),
      'b/types.yaml': pluginYaml('b', '1'),
      'c/plugin.yaml': pluginYaml('c', '1', '    requires: [a]\n'),
      'd/plugin.yaml': pluginYaml('d', '1', '    requires: [d]\n'),
      'e/plugin.yaml': pluginYaml('e', '1', '    requires: [a]\n'),
    });
    const set = PluginSet.discover([root]);
    const message = (name: string) => set.find(name)!.problems[0]?.message;
    assert.equal(message('a'), 'dependency cycle: a -> b -> c -> a');
    assert.equal(message('b'), 'dependency cycle: b -> c -> a -> b');
    assert.equal(message('c'), 'dependency cycle: c -> a -> b -> c');
    assert.equal(message('d'), 'dependency cycle: d -> d');
    assert.equal(message('e'), 'dependency cycle: a -> b -> c -> a (reached through e -> a)');
  });

  test('a dependency on a broken plugin says so', () => {
    const root = tree({
      'a/plugin.yaml': pluginYaml('a', '1', '    requires: [b]\n'),
      'b/plugin.json': '{"name": "b"}',
    });
    const [a] = discoverPlugins([root]);
    assert.match(
      a!.problems[0]!.message,
      /^dependency a -> b: plugin 'b' in .* cannot be used \(missing: the path/,
    );
  });
});

describe('validatePlugin', () => {
  test('a good plugin has no problems; its types are checked like an imported file', () => {
    const root = tree({
      'good/plugin.yaml': pluginYaml('good', '1', '    requires: [base]\n').replace(
        'node_types:',
        'imports: [plugin:base]\nnode_types:\n  good.Derived: {derived_from: base.Thing}',
      ),
      'base/plugin.json': JSON.stringify({ name: 'base', version: '1', types: 'base.yaml' }),
      'base/base.yaml': 'tosca_definitions_version: cloudify_dsl_1_3\n' + pluginYaml('base', '1'),
      'bad/plugin.yaml': `plugins:
  bad: {executor: central_deployment_agent}
node_types:
  bad.Thing:
    derived_from: cloudify.nodes.Rot
    properties:
      port: {type: integr}
`,
    });
    const set = PluginSet.discover([root]);
    assert.deepEqual(validatePlugin(set.find('good')!, set), []);
    assert.deepEqual(validatePlugin(set.find('base')!, set), []);
    assert.deepEqual(
      validatePlugin(set.find('bad')!, set).map((p) => formatProblem(p, root)),
      [
        "bad/plugin.yaml:5:19 node_types.bad.Thing.derived_from: unknown node type 'cloudify.nodes.Rot'; did you mean 'cloudify.nodes.Root'?",
        "bad/plugin.yaml:7:20 node_types.bad.Thing.properties.port.type: unknown type 'integr'; did you mean 'integer'?",
      ],
    );
  });
});

describe('ModuleDispatcher entries', () => {
  const root = tree({
    'mod/plugin.yaml': pluginYaml('mod', '1'),
    'mod/index.mjs': 'export function create() {}\nexport async function wf() {}\n',
    'ts/plugin.yaml': pluginYaml('ts', '1'),
    'ts/index.ts':
      "export function create(): string {\n  const typed: number = 42;\n  return 'typed ' + typed;\n}\n",
    'bp/blueprint.yaml': `tosca_definitions_version: cloudify_dsl_1_5
imports: [cloudify/types/types.yaml, plugin:mod, plugin:ts]
node_templates:
  m: {type: mod.Thing}
`,
  });
  const set = PluginSet.discover([root]);
  const parsed = parseBlueprint(
    join(root, 'bp', 'blueprint.yaml'),
    fileSystemReader({ resolvePlugin: set.resolvePlugin }),
  );
  assert.deepEqual(parsed.problems.problems, []);
  const planned = planDeployment(parsed.blueprint!, { deploymentId: 'd', inputs: {} });
  const model = deploymentModel(planned.plan!);

  test('an imported plugin without a source runs from its discovered entry module', async () => {
    const entries = set.entriesFor(model);
    entries.delete('ts');
    const dispatcher = new ModuleDispatcher(model, { entries });
    await dispatcher.load();
    assert.equal(dispatcher.entryOf('mod'), join(root, 'mod', 'index.mjs'));
    assert.equal(typeof (await dispatcher.workflow('mod', 'wf')), 'function');
    // Without entries, nothing is loaded (as before).
    const plain = new ModuleDispatcher(model);
    await plain.load();
    assert.equal(await plain.workflow('mod', 'wf'), undefined);
  });

  test('a TypeScript entry loads directly, its types stripped as it is compiled', async () => {
    const dispatcher = new ModuleDispatcher(model, { entries: set.entriesFor(model) });
    await dispatcher.load();
    const { loadModule } = await import('../src/runtime/plugin-module.js');
    const module = await loadModule(join(root, 'ts', 'index.ts'));
    assert.equal((module.create as () => string)(), 'typed 42');
  });
});
