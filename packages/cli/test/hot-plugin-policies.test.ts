// A plugin's Heat type takes the resource policies a built-in type takes: the template's
// deletion_policy and the environment's restricted_actions (Heat applies both to every resource,
// whatever its plug-in). Real processes on a real SQLite state directory, with the
// examples/heat-resource plug-in's note, a file whose content and existence show what was done.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, ok } from '@weft/testing/cli';
import { repoRoot, tempDir, weft } from './helpers.js';

const template = (content: string) => `heat_template_version: 2018-08-31
parameters:
  directory: {type: string}
resources:
  note:
    type: Example::Notes::File
    deletion_policy: Retain
    properties:
      directory: {get_param: directory}
      name: note.txt
      content: ${content}
`;

test("a plugin type's resource keeps its deletion_policy and the environment's restricted_actions", {
  timeout: 120_000,
}, () => {
  const dir = tempDir('weft-hot-plugin-policies-');
  const path = join(dir, 'note.txt');
  const parameter = `directory=${dir}`;
  const run = (args: string[]) =>
    weft([...args, '--state-dir', join(dir, '.weft')], {
      cwd: dir,
      env: {
        ...NO_WEFT_ENVIRONMENT,
        CI: 'true',
        WEFT_PLUGIN_DIRS: join(repoRoot, 'examples', 'heat-resource'),
      },
    });
  writeFileSync(join(dir, 'template.yaml'), template('first'));
  writeFileSync(
    join(dir, 'env.yaml'),
    'resource_registry:\n  resources:\n    note: {restricted_actions: update}\n',
  );
  // Checked without the parameter (as validate and an update's check do), the note's directory is
  // not known: the plug-in's own check of it (at least one character) has nothing to judge.
  ok(run(['validate', 'template.yaml', '-e', 'env.yaml']));
  ok(run(['install', 'template.yaml', '-d', 'stack', '-e', 'env.yaml', '-p', parameter]));
  assert.equal(readFileSync(path, 'utf8'), 'first');

  // A new content is an update in place, which the environment refuses.
  writeFileSync(join(dir, 'template.yaml'), template('second'));
  const refused = run(['update', 'template.yaml', '-d', 'stack', '-e', 'env.yaml', '-p', parameter]);
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(`${refused.stdout}${refused.stderr}`, /update is restricted for resource\./);
  assert.equal(readFileSync(path, 'utf8'), 'first', 'the refused update changed the file');

  // Retain: the stack's delete leaves the file where it is.
  ok(run(['uninstall', '-d', 'stack', '--yes']));
  assert.ok(existsSync(path), 'deletion_policy Retain was not kept: the file was deleted');
});
