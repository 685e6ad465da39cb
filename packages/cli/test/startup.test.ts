import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { COMMAND_MODULES, createProgram } from '../src/program.js';
import { repoRoot, weftBin } from './helpers.js';

/**
 * A module hook that reports every module the process loads, one `loaded URL` line on stderr,
 * written at once (the hooks run on a thread of their own, whose asynchronous writes to stderr a
 * process that exits right after its last import may not wait for).
 */
const reportLoads = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(
  'import { writeSync } from "node:fs"; export async function load(url, context, next) { writeSync(2, "loaded " + url + "\\\\n"); return next(url, context); }'
));`)}`;

/** The modules `weft ARGS` loads (paths relative to the repository, packages' own files). */
function loadedModules(args: string[]): string[] {
  const child = spawnSync(process.execPath, ['--import', reportLoads, weftBin, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  return child.stderr
    .split('\n')
    .filter((line) => line.startsWith('loaded file://'))
    .map((line) => line.slice('loaded file://'.length).replace(`${repoRoot}/`, ''));
}

const threeTier = join('examples', 'three-tier', 'blueprint.yaml');

describe('start-up', () => {
  test('weft --version loads nothing but the command itself; with other arguments, no command and nothing of the engine but its diagnostics', () => {
    assert.deepEqual(loadedModules(['--version']), ['packages/cli/bin/weft.js']);
    const version = spawnSync(process.execPath, [weftBin, '-v'], { encoding: 'utf8' });
    assert.equal(
      version.stdout,
      `${JSON.parse(readFileSync(join(repoRoot, 'packages', 'cli', 'package.json'), 'utf8')).version}\n`,
    );
    const loaded = loadedModules(['--quiet', '--version']);
    assert.deepEqual(
      loaded.filter((path) => path.includes('/engine/') && !path.endsWith('/dsl/diagnostics.js')),
      [],
    );
    assert.deepEqual(
      loaded.filter((path) => path.includes('/commands/') && !path.endsWith('/commands/options.js')),
      [],
    );
    assert.ok(!loaded.some((path) => path.includes('js-yaml')), 'the YAML parser is not loaded');
  });

  test('weft validate loads the blueprint language only: no store, executor, plugin host or database driver', () => {
    const loaded = loadedModules(['validate', threeTier]);
    assert.ok(loaded.some((path) => path.endsWith('/commands/validate.js')));
    for (const part of ['/store/', '/executor/', 'worker-dispatcher', 'better-sqlite3', '/pg/', 'nunjucks'])
      assert.deepEqual(
        loaded.filter((path) => path.includes(part)),
        [],
        `${part} is loaded`,
      );
    for (const other of ['run.js', 'inspect.js', 'plugins.js', 'secrets.js', 'plan.js'])
      assert.ok(!loaded.some((path) => path.endsWith(`/commands/${other}`)), `${other} is loaded`);
    // Of the SDK, only what the language uses (its errors, key helpers, the Loom property the
    // generated types declare, for HOT's functions Python's text of values, and the adopt key that
    // a stack's state looks for), not the plugin API.
    assert.deepEqual(loaded.filter((path) => path.includes('/sdk/')).sort(), [
      'packages/sdk/dist/src/errors.js',
      'packages/sdk/dist/src/keys.js',
      'packages/sdk/dist/src/loom-keys.js',
      'packages/sdk/dist/src/python-text.js',
      'packages/sdk/dist/src/resource-keys.js',
    ]);
    // The RE2 engine (a CommonJS module, which NODE_DEBUG=module reports) only for a blueprint
    // with a `pattern` constraint: three-tier has one, hello-files none.
    const re2 = (blueprint: string) =>
      spawnSync(process.execPath, [weftBin, 'validate', join('examples', blueprint, 'blueprint.yaml')], {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, NODE_DEBUG: 'module' },
      }).stderr.includes('/re2js/');
    assert.equal(re2('three-tier'), true);
    assert.equal(re2('hello-files'), false);
  });

  test('each command module defines exactly the commands it is listed for', async () => {
    for (const module of COMMAND_MODULES) {
      const program = new Command();
      (await module.load())(program);
      assert.deepEqual(
        program.commands.map((c) => c.name()),
        module.names,
      );
    }
  });

  test('the program given no arguments has every command, with the same options as when one is selected', async () => {
    const full = await createProgram();
    const names = COMMAND_MODULES.flatMap((m) => m.names);
    assert.deepEqual(
      full.commands.map((c) => c.name()),
      names,
    );
    for (const name of names) {
      const only = await createProgram([name, '--help']);
      assert.deepEqual(
        only.commands.map((c) => c.name()),
        COMMAND_MODULES.find((m) => m.names.includes(name))!.names,
      );
      const options = (program: Command) =>
        program.commands.find((c) => c.name() === name)!.options.map((o) => o.flags);
      assert.deepEqual(options(only), options(full), name);
    }
  });

  test('global options before the command still select it; help for a command is the same both ways', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, [weftBin, ...args], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(run(['--debug', 'validate', threeTier]).stdout, 'valid\n');
    const viaHelp = run(['help', 'install']);
    assert.equal(viaHelp.status, 0);
    assert.match(viaHelp.stdout, /--concurrency <N>/);
    assert.equal(viaHelp.stdout, run(['install', '--help']).stdout);
  });

  test('a mistyped command is still answered with a suggestion', () => {
    const r = spawnSync(process.execPath, [weftBin, 'valdate', threeTier], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'valdate'[\s\S]*Did you mean validate\?/);
  });
});
