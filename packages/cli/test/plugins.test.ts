/**
 * `weft plugins list|validate|install|remove` and plugin directories, through the real `weft`:
 * discovery from --plugin-dir and WEFT_PLUGIN_DIRS (skipping tests/), installation from a
 * directory, a git bare repository at a tag, a commit and a branch, an npm tarball and an npm
 * package spec (through `npm pack`, offline), removal; then blueprints importing `plugin:NAME`
 * validated, planned, installed and executed with the plugin's node type and module.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, ok, describeRun as show } from '@weft/testing/cli';
import { fixtures, repoRoot, tempDir, weft as weftRaw } from './helpers.js';

const fx = join(fixtures, 'plugins');
const search = join(fx, 'search');
const BLUEPRINT = join(fx, 'blueprint', 'blueprint.yaml');
const LIMIT = { timeout: 120_000 };

type Result = ReturnType<typeof weftRaw>;

/** `weft` in `cwd`, with no state, database or plugin directories from the environment. */
function weft(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Result {
  return weftRaw(args, {
    cwd,
    env: { ...NO_WEFT_ENVIRONMENT, ...env },
  });
}

/** Exit 2 with exactly one line on stderr, matching `re`. */
function usageError(r: Result, re: RegExp): void {
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, show(r));
  assert.match(r.stderr.trimEnd(), re);
}

interface PluginJson {
  name: string;
  version: string | null;
  dir: string;
  searchDir: string;
  foundVia: string;
  origin: { kind: string; source: string; ref?: string; commit?: string } | null;
  typesFile: string | null;
  entry: string | null;
  requires: string[];
  problems: { code: string; message: string }[];
}

/** The plugins found, the built-in ones (always there, searched last) left out. */
function listJson(cwd: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): PluginJson[] {
  const all = (
    JSON.parse(ok(weft(['plugins', 'list', '--json', ...args], cwd, env)).stdout) as { plugins: PluginJson[] }
  ).plugins;
  return all.filter((p) => p.foundVia !== 'built-in');
}

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.name=Weft Test', '-c', 'user.email=test@weft.invalid', ...args], {
    cwd,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A bare repository holding the demo plugin: tag v1.0 and commit `first` at 1.0, branch main at 2.0. */
function demoRepository(): { url: string; first: string } {
  const root = tempDir();
  const bare = join(root, 'demo.git');
  const work = join(root, 'work');
  git(root, 'init', '--quiet', '--bare', bare);
  cpSync(join(search, 'demo'), work, { recursive: true });
  git(work, 'init', '--quiet');
  git(work, 'checkout', '--quiet', '-b', 'main');
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '-m', 'demo 1.0');
  git(work, 'tag', 'v1.0');
  const first = git(work, 'rev-parse', 'HEAD');
  const yaml = join(work, 'plugin.yaml');
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace("package_version: '1.0'", "package_version: '2.0'"));
  git(work, 'commit', '--quiet', '-am', 'demo 2.0');
  git(work, 'push', '--quiet', bare, 'main', '--tags');
  return { url: `file://${bare}`, first };
}

const outsideEntries: Record<string, [entry: string, source: string]> = {
  JavaScript: [
    'index.mjs',
    "import { operation } from '@weft/sdk';\nexport const create = operation((ctx) => { ctx.instance.runtimeProperties.made = ctx.plugin.name; });\n",
  ],
  // TypeScript outside a `"type": "module"` package is compiled to CommonJS: its import becomes a require.
  TypeScript: [
    'index.ts',
    "import { operation, type OperationContext } from '@weft/sdk';\nexport const create = operation(async (ctx: OperationContext) => { await ctx.instance.update({ made: ctx.plugin.name }); });\n",
  ],
};
for (const [language, [entry, source]] of Object.entries(outsideEntries)) {
  test(`a ${language} plugin directory outside any npm project imports the engine's @weft/sdk`, () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'outside'));
    writeFileSync(
      join(cwd, 'outside', 'plugin.yaml'),
      "plugins:\n  outside:\n    package_version: '1.0'\nnode_types:\n  outside.Thing:\n    derived_from: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle:\n        create: outside.create\n",
    );
    writeFileSync(join(cwd, 'outside', entry), source);
    writeFileSync(
      join(cwd, 'blueprint.yaml'),
      'tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml, plugin:outside]\nnode_templates:\n  t: {type: outside.Thing}\n',
    );
    ok(weft(['install', 'blueprint.yaml', '--plugin-dir', 'outside'], cwd));
    const [instance] = (
      JSON.parse(ok(weft(['instances', '--json'], cwd)).stdout) as {
        instances: { runtimeProperties: Record<string, unknown> }[];
      }
    ).instances;
    assert.deepEqual(instance!.runtimeProperties, { made: 'outside' });
  });
}

describe('weft plugins list', () => {
  test('finds plugin.yaml and plugin.json plugins in --plugin-dir, skipping tests/', () => {
    const cwd = tempDir();
    const plugins = listJson(cwd, ['--plugin-dir', search]);
    assert.deepEqual(
      plugins.map((p) => [p.name, p.version, p.foundVia, p.requires]),
      [
        ['demo', '1.0', '--plugin-dir', []],
        ['loomy', '0.5.0', '--plugin-dir', ['demo']],
      ],
    );
    const [demo, loomy] = plugins as [PluginJson, PluginJson];
    assert.equal(demo.dir, join(search, 'demo'));
    assert.equal(demo.searchDir, search);
    assert.equal(demo.typesFile, join(search, 'demo', 'plugin.yaml'));
    assert.equal(demo.entry, join(search, 'demo', 'lib', 'index.mjs'));
    assert.equal(loomy.typesFile, join(search, 'loomy', 'types.yaml'));
    assert.equal(loomy.entry, join(search, 'loomy', 'main.mjs'));
    assert.deepEqual(
      plugins.flatMap((p) => p.problems),
      [],
    );

    const text = ok(weft(['plugins', 'list', '--plugin-dir', search], cwd)).stdout.split('\n');
    assert.match(text[0]!, /^NAME +VERSION +DIR +SOURCE$/);
    assert.match(text[1]!, new RegExp(`^demo +1\\.0 +${join(search, 'demo')} +--plugin-dir ${search}$`));
    assert.match(text[2]!, /^loomy +0\.5\.0 /);
  });

  test('WEFT_PLUGIN_DIRS is a path list; a plugin directory may be given itself; nothing found says where it looked', () => {
    const cwd = tempDir();
    const plugins = listJson(cwd, [], {
      WEFT_PLUGIN_DIRS: `${join(search, 'loomy')}:${join(cwd, 'missing')}`,
    });
    assert.deepEqual(
      plugins.map((p) => [p.name, p.foundVia]),
      [['loomy', 'WEFT_PLUGIN_DIRS']],
    );
    // loomy requires demo, which is not in these directories.
    assert.deepEqual(
      plugins[0]!.problems.map((p) => p.message),
      ["missing dependency: loomy -> demo (no plugin 'demo' is installed)"],
    );
    // Only the built-in plugins, found last, whatever else is searched.
    const builtIn = ok(weft(['plugins', 'list'], cwd))
      .stdout.trim()
      .split('\n')
      .slice(1);
    assert.deepEqual(
      builtIn.map((line) => line.split(/ +/).slice(0, 1).concat(line.split(/ +/).slice(3, 4))),
      [
        ['script', 'built-in'],
        ['rest', 'built-in'],
        ['fabric', 'built-in'],
        ['utilities', 'built-in'],
        ['devstack', 'built-in'],
      ],
    );
    // Each is valid as a plugin of its own (the script plugin's declaration matches the standard library's).
    for (const dir of ['script', 'rest', 'remote', 'utilities', 'devstack'])
      assert.match(
        ok(weft(['plugins', 'validate', join(repoRoot, 'packages', 'plugins', dir)], cwd)).stdout,
        /^valid: plugin /,
      );
    usageError(
      weft(['plugins', 'list', '--plugin-dir', 'nope'], cwd),
      /^error: --plugin-dir nope: no such directory$/,
    );
  });
});

describe('weft plugins validate', () => {
  test('a good plugin is valid; its dependencies are looked up in the plugin directories', () => {
    const cwd = tempDir();
    const demo = ok(weft(['plugins', 'validate', join(search, 'demo')], cwd));
    assert.match(
      demo.stdout,
      /^valid: plugin 'demo' 1\.0 \(types .*plugin\.yaml; entry .*lib\/index\.mjs\)\n$/,
    );
    const loomy = ok(weft(['plugins', 'validate', join(search, 'loomy'), '--plugin-dir', search], cwd));
    assert.match(loomy.stdout, /^valid: plugin 'loomy' 0\.5\.0 \(.*; requires demo\)\n$/);
    const json = JSON.parse(
      ok(weft(['plugins', 'validate', join(search, 'demo', 'plugin.yaml'), '--json'], cwd)).stdout,
    );
    assert.deepEqual(json, { schemaVersion: 1, valid: true, name: 'demo', version: '1.0', problems: [] });
  });

  test('every problem with file:line:col, exit 2', () => {
    const cwd = tempDir();
    cpSync(join(fx, 'broken'), join(cwd, 'broken'), { recursive: true });
    const r = weft(['plugins', 'validate', 'broken'], cwd);
    assert.equal(r.code, 2, show(r));
    assert.deepEqual(r.stderr.trim().split('\n'), [
      "broken/plugin.yaml:5:15 plugins.broken.requires: missing dependency: broken -> nonexistent (no plugin 'nonexistent' is installed)",
      "broken/plugin.yaml:9:19 node_types.broken.Thing.derived_from: unknown node type 'cloudify.nodes.Rooot'; did you mean 'cloudify.nodes.Root'?",
      "broken/plugin.yaml:11:20 node_types.broken.Thing.properties.size.type: unknown type 'integr'; did you mean 'integer'?",
      '3 problems found',
    ]);
    const loomy = weft(['plugins', 'validate', join(search, 'loomy')], cwd);
    assert.equal(loomy.code, 2, show(loomy));
    assert.match(loomy.stderr, /plugin\.json:7:15 requires: missing dependency: loomy -> demo/);
    usageError(
      weft(['plugins', 'validate', join(fx, 'blueprint')], cwd),
      /^error: .*blueprint holds no plugin\.yaml or plugin\.json$/,
    );
    usageError(weft(['plugins', 'validate', 'nowhere'], cwd), /^error: nowhere: no such directory$/);
  });

  test('plugin.json problems point at their keys; install lists every one', () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'jsonbad'));
    writeFileSync(
      join(cwd, 'jsonbad', 'plugin.json'),
      '{\n  "name": "jsonbad",\n  "entry": "main.js",\n  "types": "../outside.yaml",\n  "requires": "notalist"\n}\n',
    );
    const lines = [
      "jsonbad/plugin.json:4:12 types: '../outside.yaml' is outside the plugin directory",
      "jsonbad/plugin.json:3:12 entry: entry 'main.js' does not exist",
      'jsonbad/plugin.json:5:15 requires: expected a list of plugin names',
    ];
    const validate = weft(['plugins', 'validate', 'jsonbad'], cwd);
    assert.equal(validate.code, 2, show(validate));
    assert.deepEqual(validate.stderr.trim().split('\n'), [...lines, '3 problems found']);
    const install = weft(['plugins', 'install', 'jsonbad'], cwd);
    assert.equal(install.code, 2, show(install));
    assert.equal(
      install.stderr,
      `error: cannot install jsonbad: 3 problems:\n${lines.map((l) => `  ${l.replace('jsonbad/', '')}`).join('\n')}\n`,
    );
    assert.deepEqual(listJson(cwd), []);
  });

  test("the plugin's code: its module loads and its types' operations are functions it exports", () => {
    const cwd = tempDir();
    const plugin = (name: string, files: Record<string, string>) => {
      mkdirSync(join(cwd, name));
      writeFileSync(
        join(cwd, name, 'plugin.yaml'),
        `plugins:\n  ${name}: {executor: central_deployment_agent}\nnode_types:\n  ${name}.T:\n    derived_from: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle: {create: ${name}.create, start: ${name}.strat, stop: script.script_runner.tasks.run}\nrelationships:\n  ${name}.R:\n    derived_from: cloudify.relationships.connected_to\n    source_interfaces:\n      cloudify.interfaces.relationship_lifecycle: {establish: ${name}.linc}\n`,
      );
      for (const [file, text] of Object.entries(files)) writeFileSync(join(cwd, name, file), text);
      return weft(['plugins', 'validate', name], cwd);
    };
    const typo = plugin('typo', {
      'index.mjs':
        'export const create = () => {};\nexport const start = () => {};\nexport const link = () => {};\n',
    });
    assert.equal(typo.code, 2, show(typo));
    assert.deepEqual(typo.stderr.trim().split('\n'), [
      "typo/plugin.yaml:7:67 node_types.typo.T.interfaces.cloudify.interfaces.lifecycle.start: plugin 'typo' has no function 'strat'; did you mean 'start'?",
      "typo/plugin.yaml:12:63 relationships.typo.R.source_interfaces.cloudify.interfaces.relationship_lifecycle.establish: plugin 'typo' has no function 'linc'; did you mean 'link'?",
      '2 problems found',
    ]);
    // Nor is it installed.
    const install = weft(['plugins', 'install', 'typo'], cwd);
    assert.equal(install.code, 2, show(install));
    assert.match(
      install.stderr,
      /^error: cannot install typo: 2 problems:\n {2}plugin\.yaml:7:67 .*'strat'.*\n {2}plugin\.yaml:12:63 .*'linc'/,
    );
    assert.deepEqual(listJson(cwd), []);
    const syntax = plugin('syntax', {
      'index.ts': 'export const create = () => {\n  const x: number = ;\n};\n',
    });
    assert.equal(syntax.code, 2, show(syntax));
    assert.match(
      syntax.stderr,
      /^plugins\.syntax: cannot load the plugin's module .*index\.ts: .*index\.ts:2:\d+: /m,
    );
    const none = plugin('none', {});
    assert.equal(none.code, 2, show(none));
    assert.match(
      none.stderr,
      /^none\/plugin\.yaml:7:\d+ node_types\.none\.T\.interfaces\.cloudify\.interfaces\.lifecycle\.create: 'none\.create' names this plugin, which has no entry module/m,
    );
  });
});

describe('weft plugins install and remove', () => {
  test('from a directory: copied into the state directory, listed with its source, removed', LIMIT, () => {
    const cwd = tempDir();
    const state = join(cwd, 'state');
    const installed = ok(weft(['plugins', 'install', join(search, 'demo'), '--state-dir', state], cwd));
    assert.equal(
      installed.stdout,
      `Installed plugin 'demo' 1.0 in ${join('state', 'plugins', 'demo')} (from ${join(search, 'demo')})\n`,
    );
    assert.ok(existsSync(join(state, 'plugins', 'demo', 'lib', 'index.mjs')));
    const [demo] = listJson(cwd, ['--state-dir', state]);
    assert.equal(demo!.foundVia, 'state');
    assert.deepEqual(demo!.origin && [demo!.origin.kind, demo!.origin.source], [
      'path',
      join(search, 'demo'),
    ]);

    usageError(
      weft(['plugins', 'install', join(search, 'demo'), '--state-dir', state], cwd),
      /^error: plugin 'demo' is already installed in state\/plugins\/demo; remove it first \(weft plugins remove demo\) or use --force$/,
    );
    ok(weft(['plugins', 'install', join(search, 'demo'), '--state-dir', state, '--force'], cwd));

    // Installing one that needs a missing plugin works, with a warning.
    const loomy = ok(
      weft(['plugins', 'install', join(search, 'loomy'), '--state-dir', state, '--json'], cwd),
    );
    assert.equal(JSON.parse(loomy.stdout).name, 'loomy');
    assert.equal(loomy.stderr, '');
    usageError(
      weft(['plugins', 'remove', 'demo', '--state-dir', state], cwd),
      /^error: plugin 'demo' is still used by plugin 'loomy'; remove those plugins first, or use --force$/,
    );
    ok(weft(['plugins', 'remove', 'demo', '--state-dir', state, '--force'], cwd));
    assert.ok(!existsSync(join(state, 'plugins', 'demo')));
    assert.deepEqual(
      listJson(cwd, ['--state-dir', state]).map((p) => [p.name, p.problems.map((x) => x.code)]),
      [['loomy', ['plugin-dependency']]],
    );
    const removed = ok(weft(['plugins', 'remove', 'loomy', '--state-dir', state], cwd));
    assert.equal(removed.stdout, `Removed plugin 'loomy' (${join('state', 'plugins', 'loomy')})\n`);
    usageError(
      weft(['plugins', 'remove', 'loomy', '--state-dir', state], cwd),
      /^error: no plugin 'loomy' is installed in state\/plugins$/,
    );
    usageError(
      weft(['plugins', 'remove', 'demo', '--state-dir', state], cwd, { WEFT_PLUGIN_DIRS: search }),
      /^error: plugin 'demo' is not installed in state\/plugins; it is found in .*search\/demo, which weft does not manage$/,
    );
  });

  test('bad sources are one-line errors, exit 2, and leave nothing behind', () => {
    const cwd = tempDir();
    usageError(weft(['plugins', 'install', './nope'], cwd), /^error: \.\/nope: no such file or directory$/);
    usageError(
      weft(['plugins', 'install', join(fx, 'blueprint')], cwd),
      /^error: .*blueprint holds no plugin\.yaml or plugin\.json$/,
    );
    mkdirSync(join(cwd, 'bad'));
    writeFileSync(join(cwd, 'bad', 'plugin.json'), '{"name": "bad"}');
    usageError(
      weft(['plugins', 'install', 'bad'], cwd),
      /^error: cannot install bad: plugin\.json:1:1 types: missing: the path of the YAML file/,
    );
    usageError(
      weft(['plugins', 'install', `git+file://${join(cwd, 'none.git')}#v1`], cwd),
      /^error: git clone file:\/\/.*none\.git failed: .*does not appear to be a git repository/,
    );
    assert.deepEqual(listJson(cwd), []);
    const leftovers = spawnSync('ls', ['-A', join(cwd, '.weft', 'plugins')], { encoding: 'utf8' }).stdout;
    assert.equal(leftovers, '');
  });

  test('from a git repository at a tag, at a commit and at a branch', LIMIT, () => {
    const cwd = tempDir();
    const { url, first } = demoRepository();
    const tag = ok(weft(['plugins', 'install', `git+${url}#v1.0`], cwd));
    assert.equal(
      tag.stdout,
      `Installed plugin 'demo' 1.0 in ${join('.weft', 'plugins', 'demo')} (from git+${url}#v1.0 (${first.slice(0, 12)}))\n`,
    );
    let [demo] = listJson(cwd);
    assert.deepEqual(
      [demo!.version, demo!.origin?.kind, demo!.origin?.ref, demo!.origin?.commit],
      ['1.0', 'git', 'v1.0', first],
    );
    assert.ok(!existsSync(join(cwd, '.weft', 'plugins', 'demo', '.git')));

    ok(weft(['plugins', 'install', `git+${url}#main`, '--force'], cwd));
    [demo] = listJson(cwd);
    assert.equal(demo!.version, '2.0');

    ok(weft(['plugins', 'install', `git+${url}#${first.slice(0, 10)}`, '--force'], cwd));
    [demo] = listJson(cwd);
    assert.deepEqual([demo!.version, demo!.origin?.commit], ['1.0', first]);

    usageError(
      weft(['plugins', 'install', `git+${url}#no-such-ref`, '--force'], cwd),
      /^error: file:\/\/.*demo\.git has no branch, tag or commit 'no-such-ref'$/,
    );
    // The installed plugin's module runs the blueprint's operations.
    const r = ok(weft(['install', BLUEPRINT, '--json'], cwd));
    assert.equal(JSON.parse(r.stdout).outputs.created_by, 'demo');
  });

  test('from an npm tarball, and from an npm package spec through npm pack (offline)', LIMIT, () => {
    const cwd = tempDir();
    const packed = spawnSync('npm', ['pack', join(search, 'loomy'), '--pack-destination', cwd, '--json'], {
      cwd,
      encoding: 'utf8',
    });
    assert.equal(packed.status, 0, packed.stderr);
    const tarball = join(cwd, 'weft-plugin-loomy-0.5.0.tgz');
    assert.ok(existsSync(tarball));
    const fromTarball = ok(weft(['plugins', 'install', 'weft-plugin-loomy-0.5.0.tgz'], cwd));
    assert.match(
      fromTarball.stdout,
      /^Installed plugin 'loomy' 0\.5\.0 in \.weft\/plugins\/loomy \(from .*\.tgz\)\n$/,
    );
    assert.match(fromTarball.stderr, /^warning: missing dependency: loomy -> demo/);
    let [loomy] = listJson(cwd);
    assert.deepEqual(
      [loomy!.origin?.kind, loomy!.entry],
      ['tarball', join(cwd, '.weft', 'plugins', 'loomy', 'main.mjs')],
    );

    const fromNpm = ok(weft(['plugins', 'install', `npm:${join(search, 'demo')}`], cwd));
    assert.match(fromNpm.stdout, /^Installed plugin 'demo' 1\.0 in \.weft\/plugins\/demo/);
    [, loomy] = listJson(cwd);
    const all = listJson(cwd);
    assert.deepEqual(
      all.map((p) => [p.name, p.origin?.kind, p.problems]),
      [
        ['demo', 'npm', []],
        ['loomy', 'tarball', []],
      ],
    );
    // Both run: loomy's module comes from the tarball.
    writeFileSync(join(cwd, 'bp.yaml'), readFileSync(join(fx, 'blueprint', 'loomy.yaml'), 'utf8'));
    const r = ok(weft(['install', 'bp.yaml', '--json'], cwd));
    assert.equal(JSON.parse(r.stdout).execution.status, 'terminated');
    const { instances } = JSON.parse(ok(weft(['instances', '--json'], cwd)).stdout) as {
      instances: { runtimeProperties: Record<string, unknown> }[];
    };
    assert.deepEqual(instances[0]!.runtimeProperties, { loomy: true });
    // loomy requires demo, and a deployment runs loomy.
    usageError(
      weft(['plugins', 'remove', 'demo'], cwd),
      /^error: plugin 'demo' is still used by plugin 'loomy'/,
    );
    usageError(
      weft(['plugins', 'remove', 'loomy'], cwd),
      /is still used by deployment '.*'; uninstall and delete those deployments first, or use --force$/,
    );
    assert.match(ok(weft(['plugins', 'remove', 'demo', '--force'], cwd)).stdout, /^Removed plugin 'demo'/);
  });

  test(
    "a plugin's npm dependencies are installed with it (from a path and from git); @weft/sdk is the engine's",
    LIMIT,
    () => {
      const root = tempDir();
      // A dependency as a package directory (beside the plugin) and as a tarball (inside it).
      mkdirSync(join(root, 'greeter'));
      writeFileSync(
        join(root, 'greeter', 'package.json'),
        JSON.stringify({ name: 'greeter', version: '1.0.0', type: 'module', main: 'index.js' }),
      );
      writeFileSync(join(root, 'greeter', 'index.js'), "export const greet = (who) => 'hello ' + who;\n");
      const plugin = join(root, 'greet-plugin');
      mkdirSync(plugin);
      const packed = spawnSync('npm', ['pack', join(root, 'greeter'), '--pack-destination', plugin], {
        cwd: root,
        encoding: 'utf8',
      });
      assert.equal(packed.status, 0, packed.stderr);
      writeFileSync(
        join(plugin, 'plugin.yaml'),
        "plugins:\n  greet:\n    package_version: '1.0'\nnode_types:\n  greet.Thing:\n    derived_from: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle:\n        create: greet.create\n",
      );
      writeFileSync(
        join(plugin, 'index.js'),
        "import { operation } from '@weft/sdk';\nimport { greet } from 'greeter';\nexport const create = operation((ctx) => { ctx.instance.runtimeProperties.said = greet(ctx.node.name); });\n",
      );
      const manifest = (greeter: string) =>
        JSON.stringify({
          name: 'weft-plugin-greet',
          version: '1.0.0',
          type: 'module',
          main: 'index.js',
          dependencies: { '@weft/sdk': '^0.1.0', greeter },
          devDependencies: { 'not-installed': '9.9.9' },
        });
      writeFileSync(
        join(root, 'blueprint.yaml'),
        'tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml, plugin:greet]\nnode_templates:\n  world: {type: greet.Thing}\n',
      );
      const said = (cwd: string) => {
        ok(weft(['install', join(root, 'blueprint.yaml'), '-d', 'greet'], cwd));
        const [instance] = (
          JSON.parse(ok(weft(['instances', '-d', 'greet', '--json'], cwd)).stdout) as {
            instances: { runtimeProperties: Record<string, unknown> }[];
          }
        ).instances;
        return instance!.runtimeProperties.said;
      };

      writeFileSync(join(plugin, 'package.json'), manifest('file:../greeter'));
      const fromPath = tempDir();
      ok(weft(['plugins', 'install', plugin], fromPath));
      const installed = join(fromPath, '.weft', 'plugins', 'greet');
      assert.ok(existsSync(join(installed, 'node_modules', 'greeter', 'index.js')));
      assert.ok(!existsSync(join(installed, 'node_modules', '@weft')));
      assert.ok(!existsSync(join(installed, 'node_modules', 'not-installed')));
      assert.equal(said(fromPath), 'hello world');

      writeFileSync(join(plugin, 'package.json'), manifest('file:greeter-1.0.0.tgz'));
      const bare = join(root, 'greet.git');
      git(root, 'init', '--quiet', '--bare', bare);
      git(plugin, 'init', '--quiet');
      git(plugin, 'add', '-A');
      git(plugin, 'commit', '--quiet', '-m', 'greet');
      git(plugin, 'push', '--quiet', bare, 'HEAD:main');
      const fromGit = tempDir();
      ok(weft(['plugins', 'install', `git+file://${bare}#main`], fromGit));
      assert.equal(said(fromGit), 'hello world');

      // A dependency npm cannot install is a one-line error; nothing is left installed.
      writeFileSync(join(plugin, 'package.json'), manifest('file:../no-such-package'));
      const failing = tempDir();
      usageError(
        weft(['plugins', 'install', plugin], failing),
        /greet-plugin: installing its dependencies failed: /,
      );
      assert.deepEqual(listJson(failing), []);
    },
  );
});

describe('blueprints importing plugin:NAME', () => {
  test("validate, plan, install and exec use the installed plugin's types and module", LIMIT, () => {
    const cwd = tempDir();
    const before = weft(['validate', BLUEPRINT], cwd);
    assert.equal(before.code, 2);
    assert.match(
      before.stderr,
      /imports\[1\]: plugin 'demo' is not installed, so 'plugin:demo' cannot be imported/,
    );

    ok(weft(['plugins', 'install', join(search, 'demo')], cwd));
    assert.equal(ok(weft(['validate', BLUEPRINT], cwd)).stdout, 'valid\n');
    const plan = ok(weft(['plan', BLUEPRINT, '--json'], cwd));
    const steps = JSON.parse(plan.stdout).install as { operation: string; implementation: string }[];
    assert.deepEqual(
      steps.map((s) => s.implementation),
      ['demo.create', 'demo.lifecycle.start'],
    );

    const install = ok(weft(['install', BLUEPRINT, '-d', 'demo', '--json'], cwd));
    assert.deepEqual(JSON.parse(install.stdout).outputs, {
      created_by: 'demo',
      port: 9090,
      greeting: 'hello from demo',
    });

    ok(
      weft(
        [
          'exec',
          'execute_operation',
          '-p',
          'operation=cloudify.interfaces.lifecycle.start',
          '-p',
          'operation_kwargs={greeting: hi}',
          '-p',
          'allow_kwargs_override=true',
          '--json',
        ],
        cwd,
      ),
    );
    const { outputs } = JSON.parse(ok(weft(['outputs', '--json'], cwd)).stdout);
    assert.equal(outputs.greeting, 'hi from demo');
    // While a deployment runs it, the plugin stays (unless forced).
    usageError(
      weft(['plugins', 'remove', 'demo'], cwd),
      /^error: plugin 'demo' is still used by deployment 'demo'; uninstall and delete those deployments first, or use --force$/,
    );
    // Forced out, it is missed before anything starts: nothing is run or stored.
    ok(weft(['plugins', 'remove', 'demo', '--force'], cwd));
    const executions = ok(weft(['executions', '--json'], cwd)).stdout;
    usageError(
      weft(['uninstall'], cwd),
      /^error: plugin 'demo' of deployment 'demo' is not installed here: install it \(weft plugins install\) or name its directory with --plugin-dir$/,
    );
    assert.equal(ok(weft(['executions', '--json'], cwd)).stdout, executions);
    ok(weft(['uninstall', '--json', '--plugin-dir', join(search, 'demo')], cwd));
    ok(weft(['deployments', 'delete', 'demo'], cwd));
  });

  test('plugin:NAME?version=V must match; --plugin-dir and WEFT_PLUGIN_DIRS are searched too', () => {
    const cwd = tempDir();
    const versioned = join(fx, 'blueprint', 'versioned.yaml');
    const mismatch = join(fx, 'blueprint', 'mismatch.yaml');
    assert.equal(ok(weft(['validate', versioned, '--plugin-dir', search], cwd)).stdout, 'valid\n');
    assert.equal(ok(weft(['validate', versioned], cwd, { WEFT_PLUGIN_DIRS: search })).stdout, 'valid\n');
    const r = weft(['validate', mismatch, '--plugin-dir', search], cwd);
    assert.equal(r.code, 2, show(r));
    assert.match(
      r.stderr,
      /mismatch\.yaml:4:5 imports\[1\]: plugin 'demo' \(version 9\.9\) is not installed, so 'plugin:demo\?version=9\.9' cannot be imported\n/,
    );
    // With a 2.0 installed as well, the exact version asked is the one used.
    const two = join(cwd, 'two');
    cpSync(join(search, 'demo'), join(two, 'demo'), { recursive: true });
    const yaml = join(two, 'demo', 'plugin.yaml');
    writeFileSync(
      yaml,
      readFileSync(yaml, 'utf8').replace("package_version: '1.0'", "package_version: '2.0'"),
    );
    const plan = ok(weft(['plan', versioned, '--plugin-dir', two, '--plugin-dir', search, '--json'], cwd));
    assert.equal(JSON.parse(plan.stdout).nodes[0].type, 'demo.Server');
    usageError(
      weft(['validate', versioned, '--plugin-dir', 'nope'], cwd),
      /^error: --plugin-dir nope: no such directory$/,
    );
  });

  test('a plugin with a missing or cyclic dependency is a problem at the import, naming the chain', () => {
    const cwd = tempDir();
    const dir = join(cwd, 'plugins');
    for (const [name, requires] of [
      ['a', 'b'],
      ['b', 'c'],
      ['x', 'y'],
      ['y', 'x'],
    ] as const) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(
        join(dir, name, 'plugin.yaml'),
        `plugins:\n  ${name}: {executor: central_deployment_agent, requires: [${requires}]}\n`,
      );
    }
    const bp = (name: string) => {
      writeFileSync(
        join(cwd, `${name}.yaml`),
        `tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml, 'plugin:${name}']\n`,
      );
      return `${name}.yaml`;
    };
    const validate = weft(['validate', bp('a'), '--plugin-dir', dir], cwd);
    assert.equal(validate.code, 2);
    assert.match(
      validate.stderr,
      /^a\.yaml:2:38 imports\[1\]: plugin 'a' in .*plugins\/a cannot be used: missing dependency: a -> b -> c \(no plugin 'c' is installed\)\n1 problem found\n$/,
    );
    const json = weft(['validate', bp('a'), '--plugin-dir', dir, '--json'], cwd);
    assert.equal(json.code, 2);
    assert.equal(JSON.parse(json.stdout).valid, false);
    const install = weft(['install', bp('x'), '--plugin-dir', dir], cwd);
    assert.equal(install.code, 2);
    assert.match(
      install.stderr,
      /^x\.yaml:2:38 imports\[1\]: plugin 'x' in .*plugins\/x cannot be used: dependency cycle: x -> y -> x$/m,
    );
  });
});
