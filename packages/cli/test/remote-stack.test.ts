/**
 * `weft stack snapshot|snapshots|snapshot-show|snapshot-delete|restore` against a real `weft
 * serve` in another process (SQLite): the server's snapshot routes, with the local commands'
 * output and exit codes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@weft/testing/cli';
import { serveForCli } from './helpers.js';

const PASSWORD = `heat_template_version: 2018-08-31
parameters:
  length: {type: number, default: 12}
resources:
  password:
    type: OS::Heat::RandomString
    properties: {length: {get_param: length}}
outputs:
  password: {value: {get_attr: [password, value]}}
`;

test('HOT stack snapshots against a server: taken, listed, shown, restored after an update, deleted', async (t) => {
  const { run } = await serveForCli(t);
  const root = tempDir();
  writeFileSync(join(root, 'template.yaml'), PASSWORD);
  writeFileSync(join(root, 'template16.yaml'), PASSWORD.replace('default: 12', 'default: 16'));
  const ok = async (args: string[]) => {
    const done = await run(args, root);
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stderr}`);
    return done;
  };
  await ok(['install', 'template.yaml', '-d', 'stack']);
  const outputs = async () =>
    (
      JSON.parse((await ok(['outputs', '-d', 'stack', '--json'])).stdout) as {
        outputs: Record<string, unknown>;
      }
    ).outputs;
  const before = await outputs();

  assert.match((await ok(['stack', 'snapshots', '-d', 'stack'])).stdout, /^Stack 'stack' has no snapshots/);
  const taken = JSON.parse((await ok(['stack', 'snapshot', '-d', 'stack', 'first', '--json'])).stdout) as {
    snapshot: { id: string; name: string; status: string };
    execution: { workflow: string; status: string };
  };
  assert.equal(taken.snapshot.name, 'first');
  assert.equal(taken.snapshot.status, 'COMPLETE');
  assert.deepEqual([taken.execution.workflow, taken.execution.status], ['snapshot', 'terminated']);
  const listed = JSON.parse((await ok(['stack', 'snapshots', '-d', 'stack', '--json'])).stdout) as {
    deployment: string;
    snapshots: { id: string; name: string; status: string }[];
  };
  assert.equal(listed.deployment, 'stack');
  assert.deepEqual(
    listed.snapshots.map((s) => [s.id, s.name, s.status]),
    [[taken.snapshot.id, 'first', 'COMPLETE']],
  );
  const shown = JSON.parse((await ok(['stack', 'snapshot-show', '-d', 'stack', 'first'])).stdout) as {
    id: string;
    data: { action: string; status: string };
  };
  assert.equal(shown.id, taken.snapshot.id);
  assert.equal(`${shown.data.action}_${shown.data.status}`, 'SNAPSHOT_COMPLETE');

  await ok(['blueprints', 'upload', join(root, 'template16.yaml'), '--id', 'stack16']);
  await ok(['update', '-d', 'stack', '-b', 'stack16']);
  assert.equal(((await outputs()).password as string).length, 16);
  await ok(['stack', 'restore', '-d', 'stack', 'first']);
  assert.deepEqual(await outputs(), before, "the snapshot's values are back");

  assert.match((await ok(['stack', 'snapshot-delete', '-d', 'stack', 'first'])).stderr, /\(first\) deleted/);
  assert.match((await ok(['stack', 'snapshots', '-d', 'stack'])).stdout, /has no snapshots/);
  const gone = await run(['stack', 'snapshot-show', '-d', 'stack', 'first'], root);
  assert.equal(gone.code, 2, gone.stderr);
  assert.match(gone.stderr, /^error: snapshot 'first' not found/);
  // The local-only options are refused by name.
  const dir = await run(['stack', 'snapshot', '-d', 'stack', '--plugin-dir', root], root);
  assert.equal(dir.code, 2, dir.stderr);
  assert.match(dir.stderr, /--plugin-dir is not available for weft stack snapshot with a server/);
});
