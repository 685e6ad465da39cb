/**
 * `weft plugins install|list|remove` against a real `weft serve` in another process: the plugin
 * directory is packed and uploaded, checked by the server, used by remote installs, removed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { serveForCli, tempDir } from './helpers.js';

/** A plugin directory whose create operation records a greeting. */
function greeter(root: string, name: string, create = 'greet.create'): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'plugin.yaml'),
    `plugins:\n  greet:\n    executor: central_deployment_agent\n    package_version: '1.0'\nnode_types:\n  greet.Thing:\n    derived_from: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle:\n        create: ${create}\n`,
  );
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'weft-plugin-greet', version: '1.0.0', type: 'module', main: 'index.js' }),
  );
  writeFileSync(
    join(dir, 'index.js'),
    "export async function create(ctx) { ctx.instance.runtimeProperties.said = 'hello ' + ctx.node.name; }\n",
  );
  return dir;
}

test('weft plugins install, list and remove act on the server when a profile is in use', async (t) => {
  const { url, run } = await serveForCli(t);
  const cwd = tempDir();
  greeter(cwd, 'greet');

  const installed = await run(['plugins', 'install', './greet'], cwd);
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal(installed.stdout, `Installed plugin 'greet' 1.0 on ${url} (from ${join(cwd, 'greet')})\n`);
  const listed = await run(['plugins', 'list']);
  assert.match(listed.stdout, /^greet {2}1\.0 {2}uploaded by admin$/m);
  const json = JSON.parse((await run(['plugins', 'list', '--json'])).stdout);
  assert.equal(json.plugins.find((p: { name: string }) => p.name === 'greet').source, 'uploaded');

  const again = await run(['plugins', 'install', './greet'], cwd);
  assert.equal(again.code, 2);
  assert.equal(
    again.stderr,
    `error: plugin 'greet' is already installed on ${url}; remove it first (weft plugins remove greet) or use --force\n`,
  );
  assert.equal((await run(['plugins', 'install', './greet', '--force'], cwd)).code, 0);

  // The server checks the code: a function the types name and the module lacks refuses it.
  greeter(cwd, 'typo', 'greet.crate');
  const typo = await run(['plugins', 'install', './typo', '--force'], cwd);
  assert.equal(typo.code, 2);
  assert.match(
    typo.stderr,
    /^error: cannot install \.\/typo: .*plugin\.yaml:10:17 plugin 'greet' has no function 'crate'; did you mean 'create'\?\n$/,
  );

  // A blueprint installed through the server runs the uploaded plugin.
  writeFileSync(
    join(cwd, 'blueprint.yaml'),
    'tosca_definitions_version: cloudify_dsl_1_4\nimports: [http://cloudify.co/spec/cloudify/6.4.0/types.yaml, plugin:greet]\nnode_templates:\n  world: {type: greet.Thing}\n',
  );
  const install = await run(['install', join(cwd, 'blueprint.yaml'), '-d', 'hi'], cwd);
  assert.equal(install.code, 0, install.stderr);
  const instances = JSON.parse((await run(['instances', '-d', 'hi', '--json'])).stdout);
  assert.equal(instances.instances[0].runtimeProperties.said, 'hello world');

  const inUse = await run(['plugins', 'remove', 'greet']);
  assert.equal(inUse.code, 2);
  assert.match(inUse.stderr, /still used by deployment 'hi' of tenant 'default_tenant'.*--force/);
  const removed = await run(['plugins', 'remove', 'greet', '--force']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout, `Removed plugin 'greet' from ${url}\n`);
  assert.doesNotMatch((await run(['plugins', 'list'])).stdout, /^greet /m);
  const gone = await run(['plugins', 'remove', 'greet']);
  assert.equal(gone.code, 2);
  assert.equal(gone.stderr, `error: no plugin 'greet' is installed on ${url}\n`);
});
