// `weft plan -d`, `weft update`, `weft exec rollback` and `weft deployments history`, through the
// CLI as a user runs them: script operations that record what ran in runtime properties.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeRun, NO_WEFT_ENVIRONMENT, ok, tempDir, weft, weftInBackground } from '@weft/testing/cli';

const LIMIT = { timeout: 120_000 };

// Each operation counts its runs on its instance; `gate` waits for a file to exist (a crash point),
// `fragile` fails while a file exists.
const SCRIPT = `#!/bin/bash
set -e
name=$(ctx operation name)
name=\${name##*.}
if [ "$(ctx type)" = relationship-instance ]; then who="source instance"; else who=instance; fi
n=$(ctx $who runtime-properties "$name" 2>/dev/null || true)
ctx $who runtime-properties "$name" $(( \${n:-0} + 1 ))
echo "ran $name on $(ctx node name 2>/dev/null || ctx source node name)"
`;

const head = (extra = '') => `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
inputs:
  port: {type: integer, default: 80}
node_types:
  t.App:
    derived_from: cloudify.nodes.Root
    properties: {port: {default: 80}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/count.sh
        start: scripts/count.sh
        stop: scripts/count.sh
        delete: scripts/count.sh${extra}
relationships:
  t.rel:
    derived_from: cloudify.relationships.depends_on
    source_interfaces:
      cloudify.interfaces.relationship_lifecycle: {establish: scripts/count.sh, unlink: scripts/count.sh}
`;

const V1 = `${head()}
node_templates:
  db: {type: t.App, properties: {port: {get_input: port}}}
  old: {type: t.App}
  web:
    type: t.App
    relationships: [{type: t.rel, target: db}, {type: t.rel, target: old}]
outputs:
  db_port: {value: {get_property: [db, port]}}
`;

const V2 = `${head()}
node_templates:
  db: {type: t.App, properties: {port: {get_input: port}}}
  cache: {type: t.App}
  web:
    type: t.App
    relationships: [{type: t.rel, target: db}, {type: t.rel, target: cache}]
outputs:
  db_port: {value: {get_property: [db, port]}}
  cache: {value: {get_attribute: [cache, create]}}
`;

interface Instance {
  id: string;
  node: string;
  state: string;
  runtimeProperties: Record<string, unknown>;
  relationships: { target: string; targetId: string }[];
}

function project() {
  const dir = tempDir('weft-update-');
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'count.sh'), SCRIPT, { mode: 0o755 });
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const state = ['--state-dir', join(dir, '.weft')];
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    weft([...args, ...state], { cwd: dir, env: { ...NO_WEFT_ENVIRONMENT, CI: 'true', ...env } });
  const instances = () =>
    (JSON.parse(ok(run(['instances', '-d', 'app', '--json'])).stdout) as { instances: Instance[] }).instances;
  const byNode = () => {
    const map = new Map<string, Instance[]>();
    for (const i of instances()) map.set(i.node, [...(map.get(i.node) ?? []), i]);
    return map;
  };
  return { dir, file, state, run, instances, byNode };
}

describe('deployment update through the CLI', { concurrency: true }, () => {
  test('plan -d prints the change, as lines and as JSON; no changes when there are none', LIMIT, () => {
    const p = project();
    ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
    const text = ok(p.run(['plan', p.file('v2.yaml', V2), '-d', 'app', '-i', 'port=5432']));
    const lines = text.stdout.split('\n');
    for (const expected of [
      "Deployment 'app' would change:",
      '  ~ port: 80 -> 5432',
      '-/+ db (reinstalled)',
      '        ~ properties.port: 80 -> 5432',
      '  + cache',
      '  - old',
      '  ~ web',
      '        + relationship t.rel -> cache',
      '        - relationship t.rel -> old',
      '  + cache: {"get_attribute":["cache","create"]}',
    ])
      assert.ok(lines.includes(expected), `${expected}\n${text.stdout}`);
    assert.ok(!text.stdout.includes('\u001b['), 'no colour when not on a terminal');
    const plan = JSON.parse(
      ok(p.run(['plan', p.file('v2.yaml', V2), '-d', 'app', '-i', 'port=5432', '--json'])).stdout,
    );
    assert.equal(plan.schemaVersion, 1);
    assert.equal(plan.changes, true);
    assert.deepEqual(
      plan.nodes.map((n: { node: string; change: string; action: string }) => [n.node, n.change, n.action]),
      [
        ['cache', 'added', 'add'],
        ['db', 'modified', 'reinstall'],
        ['web', 'modified', 'relink'],
        ['old', 'removed', 'remove'],
      ],
    );
    assert.deepEqual(plan.inputs, [{ name: 'port', change: 'modified', before: 80, after: 5432 }]);
    const ops = plan.operations.map(
      (o: { instance: string; operation: string }) =>
        `${o.instance.split('_')[0]} ${o.operation.split('.').pop()}`,
    );
    assert.deepEqual(ops, [
      'web unlink',
      'old stop',
      'old delete',
      'web unlink',
      'db stop',
      'db delete',
      'db create',
      'db start',
      'web establish',
      'cache create',
      'cache start',
      'web establish',
    ]);
    // Planning stored nothing.
    assert.equal(JSON.parse(ok(p.run(['executions', '-d', 'app', '--json'])).stdout).executions.length, 1);
    const same = ok(p.run(['plan', p.file('v1.yaml', V1), '-d', 'app']));
    assert.equal(same.stdout, "Deployment 'app': no changes.\n");
    // -d naming no deployment plans a new one, as before.
    assert.match(
      ok(p.run(['plan', p.file('v2.yaml', V2), '-d', 'other'])).stdout,
      /^Plan for .*deployment 'other'/,
    );
  });

  test(
    'update applies it: instances, relationships, outputs, untouched runtime properties, history',
    LIMIT,
    () => {
      const p = project();
      ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
      const before = p.byNode();
      const updated = ok(p.run(['update', p.file('v2.yaml', V2), '-d', 'app', '-i', 'port=5432']));
      assert.match(
        updated.stdout,
        /Updating deployment 'app': node instances 1 to add, 1 to remove, 1 to reinstall, 1 to relink/,
      );
      assert.match(updated.stdout, /update succeeded: 12\/12 operations/);
      const after = p.byNode();
      assert.equal(after.get('old'), undefined);
      const [web] = after.get('web')!;
      assert.equal(web!.id, before.get('web')![0]!.id);
      assert.deepEqual(
        web!.relationships.map((r) => r.target),
        ['db', 'cache'],
      );
      // The ctx command stores what it is given as text, as Cloudify's does.
      assert.deepEqual(web!.runtimeProperties, { create: '1', start: '1', establish: '4', unlink: '2' });
      assert.deepEqual(after.get('db')![0]!.runtimeProperties, {
        create: '2',
        start: '2',
        stop: '1',
        delete: '1',
      });
      const outputs = JSON.parse(ok(p.run(['outputs', '-d', 'app', '--json'])).stdout).outputs;
      assert.deepEqual(outputs, { db_port: 5432, cache: '1' });
      const history = JSON.parse(ok(p.run(['deployments', 'history', '-d', 'app', '--json'])).stdout);
      assert.deepEqual(
        history.versions.map(
          (v: {
            version: number;
            current: boolean;
            inputs: unknown;
            execution: { workflow: string } | null;
          }) => [v.version, v.current, v.inputs, v.execution?.workflow ?? null],
        ),
        [
          [1, false, { port: 80 }, null],
          [2, true, { port: 5432 }, 'update'],
        ],
      );
      // The same blueprint and inputs again: nothing to do.
      assert.match(
        ok(p.run(['update', p.file('v2.yaml', V2), '-d', 'app'])).stdout,
        /no node instance changes/,
      );
    },
  );

  test('bad input to an update is refused (exit 2) before anything is stored', LIMIT, () => {
    const p = project();
    ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
    const typo = p.run([
      'update',
      p.file('v2.yaml', V2.replace('type: t.App}\n  web', 'type: t.Ap}\n  web')),
      '-d',
      'app',
    ]);
    assert.equal(typo.code, 2, describeRun(typo));
    assert.match(typo.stderr, /v2\.yaml:\d+:\d+ .*t\.Ap/);
    const input = p.run(['update', p.file('v2.yaml', V2), '-d', 'app', '-i', 'port=eighty']);
    assert.equal(input.code, 2, describeRun(input));
    assert.match(input.stderr, /port/);
    const moved = p.run([
      'update',
      p.file('v3.yaml', V1.replace('old: {type: t.App}', 'old: {type: cloudify.nodes.Root}')),
      '-d',
      'app',
    ]);
    assert.equal(moved.code, 2, describeRun(moved));
    assert.match(moved.stderr, /node 'old' would change its type from t\.App to cloudify\.nodes\.Root/);
    const nobody = p.run(['update', p.file('v2.yaml', V2), '-d', 'nobody']);
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /no deployment 'nobody'/);
    assert.equal(JSON.parse(ok(p.run(['executions', '-d', 'app', '--json'])).stdout).executions.length, 1);
    assert.equal(
      JSON.parse(ok(p.run(['deployments', 'history', '-d', 'app', '--json'])).stdout).versions.length,
      0,
    );
  });

  test('a failed update says how to go on; resume finishes it, exec rollback goes back', LIMIT, () => {
    const p = project();
    ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
    const flag = join(p.dir, 'broken');
    writeFileSync(flag, '');
    const fragile = V2.replace(
      '  cache: {type: t.App}',
      `  cache:
    type: t.App
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/fragile.sh, max_retries: 0}`,
    );
    writeFileSync(
      join(p.dir, 'scripts', 'fragile.sh'),
      `#!/bin/bash\n[ ! -e ${flag} ] || { echo broken >&2; exit 1; }\n`,
      { mode: 0o755 },
    );
    const failed = p.run(['update', p.file('v2.yaml', fragile), '-d', 'app']);
    assert.equal(failed.code, 1, describeRun(failed));
    const id = /Continue with weft resume (\S+), go back with weft exec rollback -d app/.exec(
      failed.stderr,
    )?.[1];
    assert.ok(id, failed.stderr);
    const history = JSON.parse(ok(p.run(['deployments', 'history', '-d', 'app', '--json'])).stdout);
    assert.deepEqual(
      history.versions.map((v: { current: boolean }) => v.current),
      [true, false],
    );
    // old is uninstalled already (the update got that far), its record kept until the update ends.
    assert.equal(p.byNode().get('old')![0]!.state, 'deleted');

    // Rolling back brings old back (same instance id) and takes cache away.
    const oldId = p.byNode().get('old')![0]!.id;
    const back = ok(p.run(['exec', 'rollback', '-d', 'app']));
    assert.match(back.stdout, /Rolling back deployment 'app'/);
    const rolled = p.byNode();
    assert.equal(rolled.get('cache'), undefined);
    assert.equal(rolled.get('old')![0]!.id, oldId);
    assert.equal(rolled.get('old')![0]!.state, 'started');
    assert.deepEqual(
      rolled.get('web')![0]!.relationships.map((r) => r.target),
      ['db', 'old'],
    );

    // The update again, this time resumed after its failure.
    const again = p.run(['update', p.file('v2.yaml', fragile), '-d', 'app']);
    assert.equal(again.code, 1, describeRun(again));
    const second = /weft resume (\S+)/.exec(again.stderr)![1]!;
    writeFileSync(join(p.dir, 'scripts', 'fragile.sh'), '#!/bin/bash\n', { mode: 0o755 });
    ok(p.run(['resume', second]));
    const done = p.byNode();
    assert.equal(done.get('old'), undefined);
    assert.equal(done.get('cache')![0]!.state, 'started');
    const versions = JSON.parse(ok(p.run(['deployments', 'history', '-d', 'app', '--json'])).stdout).versions;
    assert.deepEqual(
      versions.map(
        (v: {
          version: number;
          current: boolean;
          execution: { workflow: string; status: string } | null;
        }) => [v.version, v.current, v.execution && `${v.execution.workflow} ${v.execution.status}`],
      ),
      [
        [1, false, null],
        [2, false, 'update failed'],
        [3, false, 'rollback terminated'],
        [4, true, 'update terminated'],
      ],
    );
  });

  test('update --rollback-on-failure goes back by itself, and still exits 1', LIMIT, () => {
    const p = project();
    ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
    const broken = V2.replace(
      '  cache: {type: t.App}',
      `  cache:
    type: t.App
    interfaces: {cloudify.interfaces.lifecycle: {create: {implementation: scripts/fail.sh, max_retries: 0}}}`,
    );
    writeFileSync(join(p.dir, 'scripts', 'fail.sh'), '#!/bin/bash\nexit 3\n', { mode: 0o755 });
    const run = p.run(['update', p.file('v2.yaml', broken), '-d', 'app', '--rollback-on-failure']);
    assert.equal(run.code, 1, describeRun(run));
    assert.match(run.stdout, /The update failed: rolling deployment 'app' back to its previous version/);
    assert.match(run.stdout, /rollback succeeded/);
    const now = p.byNode();
    assert.deepEqual([...now.keys()].sort(), ['db', 'old', 'web']);
    for (const list of now.values()) for (const i of list) assert.equal(i.state, 'started', i.id);
  });

  test('an update killed with SIGKILL is on its new model and resumes to the end', LIMIT, async () => {
    const p = project();
    ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
    const gate = join(p.dir, 'gate');
    const gated = V2.replace(
      '  cache: {type: t.App}',
      `  cache:
    type: t.App
    interfaces: {cloudify.interfaces.lifecycle: {create: scripts/gate.sh}}`,
    );
    writeFileSync(
      join(p.dir, 'scripts', 'gate.sh'),
      `#!/bin/bash\necho at the gate\nwhile [ ! -e ${gate} ]; do sleep 0.05; done\n`,
      { mode: 0o755 },
    );
    const update = weftInBackground(['update', p.file('v2.yaml', gated), '-d', 'app', ...p.state], {
      ...NO_WEFT_ENVIRONMENT,
      CI: 'true',
    });
    await update.line(/at the gate/);
    update.child.kill('SIGKILL');
    await update.exit;
    // The new blueprint, its added instance and the removed one's record are all there.
    const between = p.byNode();
    assert.ok(between.get('cache'));
    assert.equal(between.get('old')![0]!.state, 'deleted');
    const execution = JSON.parse(ok(p.run(['executions', '-d', 'app', '--json'])).stdout).executions.at(-1);
    assert.equal(execution.workflow, 'update');
    writeFileSync(gate, '');
    ok(p.run(['resume', execution.id, '--retry-in-flight']));
    const after = p.byNode();
    assert.equal(after.get('old'), undefined);
    assert.equal(after.get('cache')![0]!.state, 'started');
    assert.deepEqual(
      after.get('web')![0]!.relationships.map((r) => r.target),
      ['db', 'cache'],
    );
    assert.ok(!existsSync(join(p.dir, 'never')));
  });

  test(
    'a saved plan applies as it was planned, and is refused once the deployment has changed',
    LIMIT,
    () => {
      const p = project();
      ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
      const saved = join(p.dir, 'plan.json');
      const planned = ok(
        p.run(['plan', p.file('v2.yaml', V2), '-d', 'app', '-i', 'port=5432', '--out', saved]),
      );
      assert.match(
        planned.stdout,
        /Plan saved to .*plan\.json; apply it with: weft update -d app --plan .*plan\.json/,
      );
      assert.equal(statSync(saved).mode & 0o777, 0o600, 'it holds the inputs: for its owner only');
      // The deployment changes (an operation runs): the plan no longer applies.
      ok(
        p.run([
          'exec',
          'execute_operation',
          '-d',
          'app',
          '-p',
          'operation=cloudify.interfaces.lifecycle.start',
          '-p',
          'node_ids=[db]',
        ]),
      );
      const stale = p.run(['update', '-d', 'app', '--plan', saved]);
      assert.equal(stale.code, 2, describeRun(stale));
      assert.match(
        stale.stderr,
        /deployment 'app' has changed since the plan was saved .*: plan the update again/,
      );
      ok(p.run(['plan', p.file('v2.yaml', V2), '-d', 'app', '-i', 'port=5432', '--out', saved]));
      // The blueprint may change or go after planning: the plan holds what it planned.
      writeFileSync(join(p.dir, 'v2.yaml'), 'not a blueprint any more');
      const tampered = JSON.parse(readFileSync(saved, 'utf8'));
      tampered.next.blueprint.files['v2.yaml'] = Buffer.from('changed').toString('base64');
      writeFileSync(join(p.dir, 'tampered.json'), JSON.stringify(tampered));
      const refused = p.run(['update', '-d', 'app', '--plan', join(p.dir, 'tampered.json')]);
      assert.equal(refused.code, 2, describeRun(refused));
      assert.match(refused.stderr, /blueprint files do not match its id/);
      const both = p.run(['update', '-d', 'app', '--plan', saved, '-i', 'port=1']);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /a saved plan holds its inputs/);
      ok(p.run(['update', '-d', 'app', '--plan', saved]));
      assert.deepEqual(
        JSON.parse(ok(p.run(['outputs', '-d', 'app', '--json'])).stdout).outputs.db_port,
        5432,
      );
      assert.ok(p.byNode().get('cache'));
    },
  );

  test('check reports drifted and unhealthy instances; update --refresh brings them back', LIMIT, () => {
    const p = project();
    const files = join(p.dir, 'files');
    mkdirSync(files);
    const script = (name: string, body: string) =>
      writeFileSync(join(p.dir, 'scripts', name), `#!/bin/bash\nf=${files}/$(ctx node name)\n${body}\n`, {
        mode: 0o755,
      });
    script(
      'make.sh',
      'echo ok > $f; rm -f $f.sick; n=$(ctx instance runtime-properties made 2>/dev/null) || n=0; ctx instance runtime-properties made $((n + 1))',
    );
    // Any truthy value returned is drift, as in Cloudify; nothing returned is none.
    script('drift.sh', '[ "$(cat $f 2>/dev/null)" = ok ] || ctx returns "$f is missing"');
    script('status.sh', '[ ! -e $f.sick ] || { echo "$f is sick" >&2; exit 1; }');
    const blueprint = p.file(
      'checked.yaml',
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_types:
  t.File:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: scripts/make.sh, check_drift: scripts/drift.sh}
      cloudify.interfaces.validation: {check_status: scripts/status.sh}
node_templates:
  a: {type: t.File}
  b: {type: t.File}
  plain: {type: cloudify.nodes.Root}
`,
    );
    ok(p.run(['install', blueprint, '-d', 'app']));
    const check = () => JSON.parse(ok(p.run(['check', '-d', 'app', '--json'])).stdout);
    const clean = check();
    assert.deepEqual([clean.drifted, clean.unhealthy], [[], []]);
    assert.equal(clean.instances.length, 3);
    assert.equal(clean.executions.length, 2);
    rmSync(join(files, 'a'));
    writeFileSync(join(files, 'b.sick'), '');
    const found = check();
    const ids = new Map(p.instances().map((i) => [i.node, i.id]));
    assert.deepEqual([found.drifted, found.unhealthy], [[ids.get('a')], [ids.get('b')]]);
    const a = found.instances.find((i: { node: string }) => i.node === 'a');
    assert.deepEqual(a.drift, { checked: true, result: `${join(files, 'a')} is missing`, drifted: true });
    const text = ok(p.run(['check', '-d', 'app']));
    assert.match(text.stdout, /1 of 3 started instances drifted, 1 unhealthy/);
    assert.match(text.stdout, /unhealthy: .*exited with code 1/);
    assert.match(text.stdout, /weft update -d app --refresh/);
    const refreshed = ok(p.run(['update', '-d', 'app', '--refresh']));
    assert.match(refreshed.stdout, /Drifted or unhealthy, to update or reinstall: /);
    const made = new Map(p.instances().map((i) => [i.node, i.runtimeProperties.made]));
    assert.deepEqual([made.get('a'), made.get('b')], ['2', '2'], 'both reinstalled');
    assert.deepEqual([check().drifted, check().unhealthy], [[], []]);
  });

  test('plan -d masks secret values in inputs and properties', LIMIT, () => {
    const p = project();
    ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
    ok(p.run(['secrets', 'set', 'db_port', '6543']));
    const plan = ok(p.run(['plan', p.file('v1.yaml', V1), '-d', 'app', '-i', 'port=6543']));
    assert.ok(!plan.stdout.includes('6543'), plan.stdout);
    assert.match(plan.stdout, /~ port: 80 -> "\*\*\*\*\*\*"/);
  });

  test('an update given some inputs keeps the others, required ones included', LIMIT, () => {
    const p = project();
    const blueprint = p.file(
      'two.yaml',
      `tosca_definitions_version: cloudify_dsl_1_5
imports: [cloudify/types/types.yaml]
inputs:
  a: {type: string}
  b: {type: string}
node_templates:
  n: {type: cloudify.nodes.Root, properties: {}}
outputs:
  both: {value: {concat: [{get_input: a}, {get_input: b}]}}
`,
    );
    ok(p.run(['install', blueprint, '-d', 'app', '-i', 'a=1', '-i', 'b=2']));
    const plan = ok(p.run(['plan', blueprint, '-d', 'app', '-i', 'a=3']));
    assert.match(plan.stdout, /a: "?1"? -> "?3"?/);
    ok(p.run(['update', blueprint, '-d', 'app', '-i', 'a=3']));
    ok(p.run(['exec', 'update', '-d', 'app', '-p', 'inputs={b: "4"}']));
    assert.deepEqual(JSON.parse(ok(p.run(['outputs', '-d', 'app', '--json'])).stdout).outputs, {
      both: '34',
    });
    // An input the deployment never had is still required.
    const missing = p.run([
      'update',
      p.file(
        'three.yaml',
        readFileSync(blueprint, 'utf8').replace('inputs:', 'inputs:\n  c: {type: string}'),
      ),
      '-d',
      'app',
      '-i',
      'a=5',
    ]);
    assert.equal(missing.code, 2, describeRun(missing));
    assert.match(missing.stderr, /three\.yaml:\d+:\d+ inputs\.c: required input 'c' has no value/);
  });

  test(
    'exec update takes the parameters as a workflow; without a blueprint it updates the inputs',
    LIMIT,
    () => {
      const p = project();
      ok(p.run(['install', p.file('v1.yaml', V1), '-d', 'app']));
      ok(p.run(['exec', 'update', '-d', 'app', '-p', 'inputs={port: 8080}', '-p', 'skip_reinstall=true']));
      const db = p.byNode().get('db')![0]!;
      assert.deepEqual(
        db.runtimeProperties,
        { create: '1', start: '1' },
        'skip_reinstall: db not reinstalled',
      );
      assert.deepEqual(JSON.parse(ok(p.run(['outputs', '-d', 'app', '--json'])).stdout).outputs, {
        db_port: 8080,
      });
      ok(p.run(['exec', 'update', '-d', 'app', '-p', `blueprint=${p.file('v2.yaml', V2)}`]));
      assert.ok(p.byNode().get('cache'));
      const wrong = p.run(['exec', 'update', '-d', 'app', '-p', 'skip_everything=true']);
      assert.equal(wrong.code, 2, describeRun(wrong));
      assert.match(wrong.stderr, /workflow 'update' has no parameter 'skip_everything'/);
    },
  );
});
