/**
 * The CLI's remote mode against a real `weft serve` in another process on PostgreSQL, for what
 * acted only on local state before: `weft check`, `weft deployments history`, `weft update
 * --refresh`, saved plans (`weft plan --out`, `weft update --plan`), `-p`, and `weft exec rollback`
 * running a blueprint's own `rollback` workflow. Each is compared with the local command on the
 * same blueprint where their output can be the same.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Json } from '@weft/engine';
import { serveForCli, tempDir, weft } from './helpers.js';

const CHECKED = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
inputs:
  files: {type: string}
  greeting: {type: string, default: hello}
node_types:
  t.File:
    derived_from: cloudify.nodes.Root
    properties: {dir: {type: string}}
    interfaces:
      cloudify.interfaces.lifecycle: {create: scripts/make.sh, check_drift: scripts/drift.sh}
      cloudify.interfaces.validation: {check_status: scripts/status.sh}
node_templates:
  a: {type: t.File, properties: {dir: {get_input: files}}}
  b: {type: t.File, properties: {dir: {get_input: files}}}
  plain: {type: cloudify.nodes.Root}
outputs:
  greeting: {value: {get_input: greeting}}
`;

const SCRIPTS: Record<string, string> = {
  'make.sh':
    'echo ok > $f; rm -f $f.sick; n=$(ctx instance runtime-properties made 2>/dev/null) || n=0; ctx instance runtime-properties made $((n + 1))',
  // Any truthy value returned is drift, as in Cloudify; nothing returned is none.
  'drift.sh': '[ "$(cat $f 2>/dev/null)" = ok ] || ctx returns "the file is missing"',
  'status.sh': '[ ! -e $f.sick ] || { echo "the file is sick" >&2; exit 1; }',
};

/** A blueprint directory with the scripts, which keep their files under the `files` input's directory. */
function blueprintDir(root: string, name: string, text: string, extra: Record<string, string> = {}): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  for (const [script, body] of Object.entries(SCRIPTS))
    writeFileSync(
      join(dir, 'scripts', script),
      `#!/bin/bash\nf=$(ctx node properties dir)/$(ctx node name)\n${body}\n`,
      { mode: 0o755 },
    );
  for (const [path, body] of Object.entries(extra)) writeFileSync(join(dir, path), body, { mode: 0o755 });
  writeFileSync(join(dir, 'blueprint.yaml'), text);
  return dir;
}

/** A failed check_status is what the test looks for: not retried. */
const NO_RETRIES = ['--task-retries', '0'];

/** Instance ids end in a random suffix: the same report on two stores differs only there. */
const sameIds = (text: string) => text.replace(/\b(a|b|c|plain)_[0-9a-z]{6}\b/g, '$1_*');

test('check, history, update --refresh, saved plans and a blueprint-defined rollback with a server on PostgreSQL', async (t) => {
  const { run } = await serveForCli(t, { postgres: true });
  const root = tempDir();
  const v1 = blueprintDir(root, 'app', CHECKED);
  const remoteFiles = join(root, 'remote-files');
  const localFiles = join(root, 'local-files');
  mkdirSync(remoteFiles);
  mkdirSync(localFiles);
  const localState = ['--state-dir', join(root, 'local-state')];
  const local = (args: string[]) => weft([...args, ...localState], { env: { CI: 'true' } });

  const installed = await run(['install', v1, '-d', 'app', '-i', `files=${remoteFiles}`]);
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal(
    local(['install', join(v1, 'blueprint.yaml'), '-d', 'app', '-i', `files=${localFiles}`]).code,
    0,
  );
  const remoteInstances = async () =>
    new Map(
      (
        JSON.parse((await run(['instances', '-d', 'app', '--json'])).stdout).instances as {
          id: string;
          node: string;
          runtimeProperties: { made?: string };
        }[]
      ).map((i) => [i.node, i]),
    );

  await t.test("check acts on the server, with the local command's output, text and JSON", async () => {
    // The same drift on both: a's file gone, b sick.
    for (const files of [remoteFiles, localFiles]) {
      rmSync(join(files, 'a'));
      writeFileSync(join(files, 'b.sick'), '');
    }
    const remote = await run(['check', '-d', 'app', '--json', ...NO_RETRIES]);
    assert.equal(remote.code, 0, remote.stderr);
    const own = local(['check', '-d', 'app', '--json', ...NO_RETRIES]);
    assert.equal(own.code, 0, own.stderr);
    const report = JSON.parse(remote.stdout);
    const ids = await remoteInstances();
    assert.deepEqual([report.drifted, report.unhealthy], [[ids.get('a')!.id], [ids.get('b')!.id]]);
    assert.deepEqual(report.instances.find((i: { node: string }) => i.node === 'a').drift, {
      checked: true,
      result: 'the file is missing',
      drifted: true,
    });
    assert.equal(report.executions.length, 2);
    const withoutExecutions = (text: string) => {
      const { executions: _, ...rest } = JSON.parse(sameIds(text));
      return rest;
    };
    assert.deepEqual(withoutExecutions(remote.stdout), withoutExecutions(own.stdout));
    const text = await run(['check', '-d', 'app', ...NO_RETRIES]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /1 of 3 started instances drifted, 1 unhealthy/);
    // After the executions' progress lines (timed): the report, the same.
    const reportPart = (out: string) => sameIds(out.slice(out.indexOf("Deployment 'app':")));
    assert.equal(reportPart(text.stdout), reportPart(local(['check', '-d', 'app', ...NO_RETRIES]).stdout));
    // The executions ran on the server.
    const executions = JSON.parse((await run(['executions', '-d', 'app', '--json'])).stdout).executions;
    assert.deepEqual(
      executions.map((e: { workflow: string }) => e.workflow),
      ['install', 'check_status', 'check_drift', 'check_status', 'check_drift'],
    );
  });

  await t.test('update --refresh checks first, then updates what drifted or is unhealthy', async () => {
    const r = await run(['update', '-d', 'app', '--refresh', ...NO_RETRIES]);
    assert.equal(r.code, 0, r.stderr);
    const ids = await remoteInstances();
    assert.match(
      r.stdout,
      new RegExp(`Drifted or unhealthy, to update or reinstall: ${ids.get('a')!.id}, ${ids.get('b')!.id}`),
    );
    assert.deepEqual(
      [ids.get('a')!.runtimeProperties.made, ids.get('b')!.runtimeProperties.made],
      ['2', '2'],
      'both reinstalled',
    );
    const after = JSON.parse((await run(['check', '-d', 'app', '--json', ...NO_RETRIES])).stdout);
    assert.deepEqual([after.drifted, after.unhealthy], [[], []]);
    // Locally the same command gives the same result.
    const own = local(['update', '-d', 'app', '--refresh', ...NO_RETRIES]);
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, /Drifted or unhealthy, to update or reinstall: a_\w+, b_\w+/);
  });

  await t.test('deployments history acts on the server, as the local command shows it', async () => {
    const remote = await run(['deployments', 'history', '-d', 'app', '--json']);
    assert.equal(remote.code, 0, remote.stderr);
    const own = JSON.parse(local(['deployments', 'history', '-d', 'app', '--json']).stdout);
    const versions = JSON.parse(remote.stdout).versions;
    const shape = (v: Record<string, Json>) => [
      v.version,
      v.current,
      (v.execution as { workflow: string } | null)?.workflow ?? null,
      (v.execution as { status: string } | null)?.status ?? null,
      Object.keys(v.inputs as object).sort(),
    ];
    assert.deepEqual(versions.map(shape), own.versions.map(shape));
    assert.deepEqual(versions.map(shape), [
      [1, false, null, null, ['files', 'greeting']],
      [2, true, 'update', 'terminated', ['files', 'greeting']],
    ]);
    // The blueprint by the name it is stored under on the server (its path there is the server's).
    assert.deepEqual(
      versions.map((v: { blueprint: string }) => v.blueprint),
      ['app', 'app'],
    );
    const text = await run(['deployments', 'history', '-d', 'app']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^\* 2 +\S+ +update terminated \(\S+\) +app$/m);
    const missing = await run(['deployments', 'history', '-d', 'no-such']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /deployment 'no-such' not found/);
  });

  const v2 = blueprintDir(
    root,
    'app-v2',
    CHECKED.replace(
      '  plain: {type: cloudify.nodes.Root}\n',
      '  plain: {type: cloudify.nodes.Root}\n  c: {type: t.File, properties: {dir: {get_input: files}}}\n',
    ),
  );
  assert.equal((await run(['blueprints', 'upload', v2, '--id', 'app-v2'])).code, 0);

  await t.test('-p gives inputs as -i does', async () => {
    const r = await run(['plan', '-d', 'app', '-b', 'app-v2', '-p', 'greeting=hi', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).inputs, [
      { name: 'greeting', change: 'modified', before: 'hello', after: 'hi' },
    ]);
  });

  await t.test(
    'a saved plan: written by plan --out, applied by update --plan, refused once the deployment changed',
    async () => {
      const file = join(root, 'saved.json');
      const planned = await run(['plan', '-d', 'app', '-b', 'app-v2', '-i', 'greeting=hi', '--out', file]);
      assert.equal(planned.code, 0, planned.stderr);
      assert.match(planned.stdout, /^Deployment 'app' would change:/m);
      assert.ok(planned.stdout.split('\n').includes('  + c'), planned.stdout);
      assert.match(
        planned.stdout,
        new RegExp(`Plan saved to ${file}; apply it with: weft update -d app --plan ${file}`),
      );
      assert.equal(statSync(file).mode & 0o777, 0o600, 'it holds the inputs');
      for (const [args, message] of [
        [['-b', 'app-v2'], /name the new blueprint or a saved plan \(--plan FILE\), not both/],
        [['-i', 'greeting=x'], /a saved plan holds its inputs: -i cannot change them/],
      ] as const) {
        const r = await run(['update', '-d', 'app', '--plan', file, ...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
      }
      // A plan whose files were changed is refused.
      const tampered = join(root, 'tampered.json');
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      saved.next.blueprint.files['blueprint.yaml'] = Buffer.from(`${CHECKED}# changed\n`).toString('base64');
      writeFileSync(tampered, JSON.stringify(saved));
      const refusedTampered = await run(['update', '-d', 'app', '--plan', tampered]);
      assert.equal(refusedTampered.code, 2, refusedTampered.stderr);
      assert.match(refusedTampered.stderr, /blueprint files do not match its id/);
      // The deployment changes (a check is an execution of its): the plan is refused.
      assert.equal((await run(['check', '-d', 'app'])).code, 0);
      const stale = await run(['update', '-d', 'app', '--plan', file]);
      assert.equal(stale.code, 2, stale.stderr);
      assert.match(
        stale.stderr,
        /deployment 'app' has changed since the plan was saved .*: plan the update again/,
      );
      assert.ok(!(await remoteInstances()).has('c'), 'nothing was updated');
      // Planned again, it is applied as planned.
      assert.equal(
        (await run(['plan', '-d', 'app', '-b', 'app-v2', '-i', 'greeting=hi', '--out', file])).code,
        0,
      );
      const applied = await run(['update', '-d', 'app', '--plan', file]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(
        applied.stdout,
        new RegExp(`Updating deployment 'app' on \\S+ to the plan saved in ${file}`),
      );
      assert.match(applied.stdout, /Outputs:\n {2}greeting: "hi"/);
      assert.ok((await remoteInstances()).has('c'));
      const list = JSON.parse((await run(['deployments', '--json'])).stdout).deployments;
      assert.equal(list.find((d: { id: string }) => d.id === 'app').blueprintId, 'app-v2');
    },
  );

  await t.test(
    "exec rollback runs the blueprint's own rollback workflow when it has one, as locally",
    async () => {
      const own = blueprintDir(root, 'own', `${CHECKED}workflows:\n  rollback: scripts/rollback.py\n`, {
        'scripts/rollback.py':
          "from cloudify.workflows import ctx\nctx.logger.info('own rollback of %s' % ctx.deployment.id)\n",
      });
      assert.equal((await run(['install', own, '-d', 'own', '-i', `files=${remoteFiles}/own`])).code, 0);
      const remote = await run(['exec', 'rollback', '-d', 'own']);
      assert.equal(remote.code, 0, remote.stderr);
      assert.match(remote.stdout, /own rollback of own/);
      assert.match(remote.stdout, /^rollback succeeded: /m);
      // The deployment update's rollback would have been refused: own was never updated.
      assert.doesNotMatch(remote.stderr, /nothing to roll back/);
      assert.equal(
        local(['install', join(own, 'blueprint.yaml'), '-d', 'own', '-i', `files=${localFiles}/own`]).code,
        0,
      );
      const locally = local(['exec', 'rollback', '-d', 'own']);
      assert.equal(locally.code, 0, locally.stderr);
      assert.match(locally.stdout, /own rollback of own/);
      // Where the blueprint has none, the deployment update's rollback: back to app's first blueprint.
      const back = await run(['exec', 'rollback', '-d', 'app']);
      assert.equal(back.code, 0, back.stderr);
      assert.ok(!(await remoteInstances()).has('c'));
    },
  );
});
