/**
 * A deployment and its blueprint through the CLI: what `weft install` does with a file given for
 * a deployment that exists, directories as blueprints, the deployments list, outputs and
 * capabilities, deleting and uninstalling (with their confirmation), read-only commands that
 * leave no state behind, and how `weft exec` reads its parameters and names its workflows.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, describeRun as show } from '@weft/testing/cli';
import { confirm } from '../src/confirm.js';
import { fixtures, tempDir, weft } from './helpers.js';

const BLUEPRINT = join(fixtures, 'executions', 'blueprint.yaml');
const FAILING = join(fixtures, 'executions', 'failing.yaml');
const LIMIT = { timeout: 60_000 };

/** `weft` against a fresh state directory, with nothing in the environment pointing elsewhere. */
function fresh() {
  const stateDir = tempDir();
  const env = { ...NO_WEFT_ENVIRONMENT, GATE_DIR: undefined };
  return {
    stateDir,
    run: (args: string[], cwd?: string) =>
      weft([...args, '--state-dir', stateDir], { env, ...(cwd ? { cwd } : {}) }),
  };
}

describe('weft exec', () => {
  test('-p values are read as YAML: quotes are YAML quotes, not part of the value', LIMIT, () => {
    const s = fresh();
    assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
    const r = s.run([
      'exec',
      'execute_operation',
      '-p',
      'operation="cloudify.interfaces.lifecycle.start"',
      '-p',
      "node_ids=['server']",
    ]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /\[server_\w+ start\] cloudify\.interfaces\.lifecycle\.start succeeded/);
  });

  test(
    'an unknown workflow, or one only Cloudify manager runs, names only the workflows that can run',
    LIMIT,
    () => {
      const s = fresh();
      assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
      const runnable =
        'check_drift, check_status, execute_operation, heal, install, reinstall, restart, resume, rollback, scale, start, stop, suspend, uninstall, update';
      const unknown = s.run(['exec', 'deploy']);
      assert.equal(unknown.code, 2, show(unknown));
      assert.equal(unknown.stderr, `error: unknown workflow 'deploy'; this deployment can run ${runnable}\n`);
      const rollback = s.run(['exec', 'rollback']);
      assert.equal(rollback.code, 2, show(rollback));
      assert.match(rollback.stderr, /succeeded and it was never updated: there is nothing to roll back/);
      for (const workflow of ['pull']) {
        const r = s.run(['exec', workflow]);
        assert.equal(r.code, 2, show(r));
        assert.equal(
          r.stderr,
          `error: workflow '${workflow}' is declared by the blueprint's types, but Weft does not run it; this deployment can run ${runnable}\n`,
        );
      }
    },
  );
});

/** A copy of the executions fixture (blueprint and plugin) in a directory of its own, to edit. */
function blueprintCopy(name = 'shop'): { dir: string; file: string } {
  const dir = join(tempDir(), name);
  cpSync(join(fixtures, 'executions'), dir, { recursive: true });
  return { dir, file: join(dir, 'blueprint.yaml') };
}

const CACHE_NODE = `  cache:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: ex.op}}
`;

describe('weft install FILE on a deployment that exists', () => {
  test(
    'a missing file, or a directory without blueprint.yaml, is an error (exit 2) and runs nothing',
    LIMIT,
    () => {
      const s = fresh();
      const { dir, file } = blueprintCopy();
      assert.equal(s.run(['install', file, '-d', 'web']).code, 0);
      const missing = s.run(['install', join(dir, 'does-not-exist.yaml'), '-d', 'web']);
      assert.equal(missing.code, 2, show(missing));
      assert.match(missing.stderr, /does-not-exist\.yaml/);
      assert.doesNotMatch(missing.stderr, /\s+at \S+ \(/);
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      writeFileSync(join(empty, 'other.yaml'), '');
      const noBlueprint = s.run(['install', empty, '-d', 'web']);
      assert.equal(noBlueprint.code, 2, show(noBlueprint));
      assert.equal(
        noBlueprint.stderr,
        `error: ${empty} is a directory without a blueprint.yaml; name the blueprint file (it has other.yaml)\n`,
      );
      const { executions } = JSON.parse(s.run(['executions', '--json']).stdout) as { executions: unknown[] };
      assert.equal(executions.length, 1, 'nothing ran');
    },
  );

  test(
    'a changed blueprint or other inputs are refused, showing what differs and the deployment update',
    LIMIT,
    () => {
      const s = fresh();
      const { dir, file } = blueprintCopy();
      assert.equal(s.run(['install', file, '-d', 'web']).code, 0);
      const original = readFileSync(file, 'utf8');
      writeFileSync(
        file,
        original.replace('outputs:', `${CACHE_NODE}outputs:`).replace('create: ex.gated', 'create: ex.op'),
      );
      const changed = s.run(['install', file, '-d', 'web']);
      assert.equal(changed.code, 2, show(changed));
      assert.equal(
        changed.stderr,
        [
          "error: deployment 'web' was created from another blueprint or other inputs; weft install does not change it:",
          '  files: changed blueprint.yaml',
          '  nodes: added cache; changed app',
          `To change the deployment: weft update ${file} -d web (weft plan ${file} -d web shows what it would do). To install this blueprint next to it, give it another id with -d.`,
          '',
        ].join('\n'),
      );
      writeFileSync(file, original);
      const inputs = s.run(['install', file, '-d', 'web', '-i', 'port=9090']);
      assert.equal(inputs.code, 2, show(inputs));
      // app's configure takes the port: the node changes with the input.
      assert.match(inputs.stderr, /^ {2}nodes: changed app\n {2}inputs changed: port$/m);
      assert.doesNotMatch(inputs.stderr, /files:|9090/, 'names only: an input may be secret');
      // A comment is a change of the file, and nothing else.
      writeFileSync(file, `${original}# tuned\n`);
      const comment = s.run(['install', file, '-d', 'web']);
      assert.match(
        comment.stderr,
        /^ {2}files: changed blueprint\.yaml\nTo change the deployment/m,
        show(comment),
      );
      writeFileSync(join(dir, 'blueprint.yaml'), original);
      assert.equal(JSON.parse(s.run(['executions', '--json']).stdout).executions.length, 1, 'nothing ran');
      // The same blueprint and inputs, given again or not at all, install it again.
      const same = s.run(['install', file, '-d', 'web', '-i', 'port=8080']);
      assert.equal(same.code, 0, show(same));
      assert.doesNotMatch(same.stdout, /created/);
    },
  );

  test(
    'an installed deployment is not installed again: install says so, shows its outputs and how to run install anyway',
    LIMIT,
    () => {
      const s = fresh();
      const { file } = blueprintCopy();
      assert.equal(s.run(['install', file, '-d', 'web']).code, 0);
      const again = s.run(['install', file, '-d', 'web']);
      assert.equal(again.code, 0, show(again));
      assert.match(
        again.stdout,
        /^Deployment 'web' is already installed \(install \S+ finished \S+\); nothing to run\. To run its install workflow again: weft exec install -d web$/m,
      );
      assert.match(again.stdout, /endpoint/, 'the outputs, as after an install');
      const json = JSON.parse(s.run(['install', file, '-d', 'web', '--json']).stdout) as {
        alreadyInstalled: boolean;
        execution: { workflow: string; status: string };
        outputs: Record<string, unknown>;
      };
      assert.deepEqual(
        [json.alreadyInstalled, json.execution.workflow, json.execution.status],
        [true, 'install', 'terminated'],
      );
      assert.ok('endpoint' in json.outputs);
      assert.equal(JSON.parse(s.run(['executions', '--json']).stdout).executions.length, 1, 'nothing ran');
      // Once uninstalled, its instances are no longer started: install runs again.
      assert.equal(s.run(['uninstall', '-d', 'web']).code, 0);
      const reinstall = s.run(['install', file, '-d', 'web']);
      assert.equal(reinstall.code, 0, show(reinstall));
      assert.doesNotMatch(reinstall.stdout, /already installed/);
      assert.equal(JSON.parse(s.run(['executions', '--json']).stdout).executions.length, 3);
    },
  );

  test(
    'a directory means its blueprint.yaml, for install (named after the directory) and validate',
    LIMIT,
    () => {
      const s = fresh();
      const { dir } = blueprintCopy('storefront');
      assert.equal(weft(['validate', dir]).stdout, 'valid\n');
      const r = s.run(['install', dir]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^Deployment 'storefront' created/m);
    },
  );
});

describe('weft deployments', () => {
  test('each with its status, blueprint and last execution; an empty list says so', LIMIT, () => {
    const s = fresh();
    const empty = s.run(['deployments']);
    assert.equal(empty.code, 0, show(empty));
    assert.equal(empty.stdout, 'No deployments here yet (weft install BLUEPRINT creates one)\n');
    assert.deepEqual(JSON.parse(s.run(['deployments', '--json']).stdout), {
      schemaVersion: 1,
      deployments: [],
    });
    assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
    assert.equal(s.run(['install', FAILING, '-d', 'broken', '--task-retries', '0']).code, 1);
    assert.equal(s.run(['install', BLUEPRINT, '-d', 'gone']).code, 0);
    assert.equal(s.run(['uninstall', '-d', 'gone']).code, 0);
    const list = s.run(['deployments']);
    assert.equal(list.code, 0, show(list));
    const rows = list.stdout.trim().split('\n');
    assert.match(rows[0]!, /^DEPLOYMENT +STATUS +BLUEPRINT +LAST EXECUTION$/);
    assert.match(
      rows[1]!,
      /^web +installed +packages\/cli\/test\/fixtures\/executions\/blueprint\.yaml +install terminated \d{4}-/,
    );
    assert.match(
      rows[2]!,
      /^broken +failed +packages\/cli\/test\/fixtures\/executions\/failing\.yaml +install failed /,
    );
    assert.match(rows[3]!, /^gone +uninstalled +\S+ +uninstall terminated /);
    const listed = (
      JSON.parse(s.run(['deployments', '--json']).stdout) as {
        deployments: {
          id: string;
          status: string;
          blueprintPath: string;
          instanceStates: Record<string, number>;
          lastExecution: { workflow: string; status: string };
        }[];
      }
    ).deployments;
    assert.deepEqual(
      listed.map((d) => [
        d.id,
        d.status,
        basename(d.blueprintPath),
        d.lastExecution.workflow,
        d.lastExecution.status,
      ]),
      [
        ['web', 'installed', 'blueprint.yaml', 'install', 'terminated'],
        ['broken', 'failed', 'failing.yaml', 'install', 'failed'],
        ['gone', 'uninstalled', 'blueprint.yaml', 'uninstall', 'terminated'],
      ],
    );
    assert.deepEqual(listed[0]!.instanceStates, { started: 2 });
    assert.equal(listed[0]!.blueprintPath, BLUEPRINT);
  });

  test(
    'delete: refused with live instances unless --force; a terminal is not needed without one',
    LIMIT,
    () => {
      const s = fresh();
      assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
      const refused = s.run(['deployments', 'delete', 'web']);
      assert.equal(refused.code, 2, show(refused));
      assert.match(
        refused.stderr,
        /^error: deployment 'web' has 2 live instances: app_\w+ \(started\), server_\w+ \(started\); uninstall it first \(weft uninstall -d web\), or delete it anyway with --force/,
      );
      assert.equal(JSON.parse(s.run(['deployments', '--json']).stdout).deployments.length, 1);
      const forced = s.run(['deployments', 'delete', 'web', '--force']);
      assert.equal(forced.code, 0, show(forced));
      assert.equal(forced.stdout, "Deployment 'web' deleted\n");
      assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
      // Without a terminal, uninstall does not ask; then nothing is live and delete needs no --force.
      const uninstall = s.run(['uninstall']);
      assert.equal(uninstall.code, 0, show(uninstall));
      assert.doesNotMatch(uninstall.stderr, /\[y\/N\]/);
      const deleted = s.run(['deployments', 'delete', 'web']);
      assert.equal(deleted.code, 0, show(deleted));
    },
  );

  test('confirmation: asked on a terminal only; y or yes goes on, anything else or the end of input does not', async () => {
    const terminal = () => {
      const input = Object.assign(new PassThrough(), { isTTY: true });
      const output = Object.assign(new PassThrough(), { isTTY: true });
      let written = '';
      output.on('data', (chunk) => {
        written += String(chunk);
      });
      return { input, output, written: () => written };
    };
    for (const [typed, expected] of [
      ['y\n', true],
      ['YES\n', true],
      ['n\n', false],
      ['\n', false],
      ['sure\n', false],
    ] as const) {
      const t = terminal();
      const answer = confirm("Delete deployment 'web'?", t);
      t.input.write(typed);
      assert.equal(await answer, expected, typed);
      assert.equal(t.written(), "Delete deployment 'web'? [y/N] ");
    }
    const closed = terminal();
    const answer = confirm('Uninstall?', closed);
    closed.input.end();
    assert.equal(await answer, false, 'the end of input is no');
    const piped = { input: new PassThrough(), output: Object.assign(new PassThrough(), { isTTY: true }) };
    assert.equal(await confirm('Uninstall?', piped), true, 'no terminal: not asked');
    assert.equal(piped.output.read(), null, 'nothing written');
  });
});

describe('outputs and capabilities', () => {
  test(
    'shown marked as such, one by one (--raw without quotes), in --json; an uninstalled deployment says so',
    LIMIT,
    () => {
      const s = fresh();
      const { file } = blueprintCopy();
      const original = readFileSync(file, 'utf8');
      writeFileSync(
        file,
        `${original}capabilities:\n  host: {value: {get_attribute: [server, create]}}\n  ports: {value: [80, 443]}\n`,
      );
      assert.equal(s.run(['install', file, '-d', 'web']).code, 0);
      const all = s.run(['outputs']);
      assert.equal(
        all.stdout,
        'Outputs:\n  endpoint: "http://10.0.0.5:8080"\nCapabilities:\n  host: "10.0.0.5"\n  ports: [80,443]\n',
        show(all),
      );
      assert.deepEqual(JSON.parse(s.run(['outputs', '--json']).stdout), {
        schemaVersion: 1,
        deployment: 'web',
        status: 'installed',
        outputs: { endpoint: 'http://10.0.0.5:8080' },
        capabilities: { host: '10.0.0.5', ports: [80, 443] },
      });
      assert.equal(s.run(['outputs', 'endpoint']).stdout, '"http://10.0.0.5:8080"\n');
      assert.equal(s.run(['outputs', 'endpoint', '--raw']).stdout, 'http://10.0.0.5:8080\n');
      assert.equal(s.run(['outputs', 'host', '--raw']).stdout, '10.0.0.5\n');
      assert.equal(s.run(['outputs', 'ports', '--raw']).stdout, '[80,443]\n');
      const unknown = s.run(['outputs', 'url']);
      assert.equal(unknown.code, 2, show(unknown));
      assert.equal(
        unknown.stderr,
        "error: deployment 'web' has no output or capability 'url' (it has endpoint, host, ports)\n",
      );

      assert.equal(s.run(['uninstall', '--yes']).code, 0);
      const after = s.run(['outputs']);
      assert.equal(after.code, 0, show(after));
      assert.equal(
        after.stdout,
        "Deployment 'web' is uninstalled: its outputs have no values (weft install gives them)\n",
      );
      const one = s.run(['outputs', 'endpoint']);
      assert.equal(one.code, 2, show(one));
      assert.match(one.stderr, /deployment 'web' is uninstalled/);
      assert.deepEqual(JSON.parse(s.run(['outputs', '--json']).stdout), {
        schemaVersion: 1,
        deployment: 'web',
        status: 'uninstalled',
        outputs: {},
        capabilities: {},
      });
    },
  );
});

describe('executions and events', () => {
  test(
    'listed across deployments without -d; events filtered by --level and --node, and the last N with --tail',
    LIMIT,
    () => {
      const s = fresh();
      assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
      assert.equal(s.run(['install', FAILING, '-d', 'broken', '--task-retries', '0']).code, 1);
      const list = s.run(['executions']);
      assert.equal(list.code, 0, show(list));
      const rows = list.stdout.trim().split('\n');
      assert.equal(rows.length, 2, list.stdout);
      assert.match(rows[0]!, /^\S+ {2}web +install +terminated /);
      assert.match(rows[1]!, /^\S+ {2}broken +install +failed /);
      assert.equal(s.run(['executions', '-d', 'web']).stdout.trim().split('\n').length, 1);

      // Without -e or -d: the latest execution of all, here the failed install.
      const all = s.run(['events']);
      assert.equal(all.code, 0, show(all));
      assert.match(all.stdout, /'install' workflow execution failed/);
      const warnings = s.run(['events', '--level', 'warning']).stdout.trim().split('\n');
      assert.ok(warnings.length >= 2, warnings.join('\n'));
      assert.ok(
        warnings.every((l) => / (WARNING|ERROR) /.test(l)),
        warnings.join('\n'),
      );
      const bad = s.run(['events', '--node', 'bad']).stdout.trim().split('\n');
      assert.ok(bad.length >= 3 && bad.every((l) => /\[bad_\w+ /.test(l)), bad.join('\n'));
      const instance = /\[(bad_\w+) /.exec(bad[0]!)![1]!;
      assert.deepEqual(s.run(['events', '--node', instance]).stdout.trim().split('\n'), bad);
      const full = s.run(['events', '-d', 'web']).stdout.trim().split('\n');
      const tail = s.run(['events', '-d', 'web', '--tail', '3']).stdout.trim().split('\n');
      assert.deepEqual(tail, full.slice(-3));
      const tailJson = s.run(['events', '-d', 'web', '--tail', '2', '--json']).stdout.trim().split('\n');
      assert.equal(tailJson.length, 2);
      assert.match(JSON.parse(tailJson[1]!).message, /workflow execution succeeded/);
      for (const [args, message] of [
        [['--level', 'loud'], "--level must be one of debug, info, warning, error, got 'loud'"],
        [['--tail', '-1'], "--tail must be a whole number >= 0, got '-1'"],
      ] as const) {
        const r = s.run(['events', ...args]);
        assert.equal(r.code, 2, show(r));
        assert.equal(r.stderr, `error: ${message}\n`);
      }
    },
  );
});

describe('commands that only read', () => {
  test(
    'in a directory with no state, they answer and leave no .weft, database or key file behind',
    LIMIT,
    () => {
      const cwd = tempDir();
      const run = (args: string[]) => weft(args, { cwd, env: NO_WEFT_ENVIRONMENT });
      assert.equal(
        run(['deployments']).stdout,
        'No deployments here yet (weft install BLUEPRINT creates one)\n',
      );
      assert.equal(run(['executions']).stdout, 'No executions yet\n');
      assert.equal(
        run(['secrets', 'list']).stdout,
        'No secrets stored (weft secrets set NAME VALUE stores one)\n',
      );
      for (const command of [
        ['outputs'],
        ['instances'],
        ['events'],
        ['uninstall'],
        ['exec', 'install'],
        ['resume'],
        ['cancel'],
      ]) {
        const r = run(command);
        assert.equal(r.code, 2, `${command.join(' ')}: ${show(r)}`);
        assert.equal(
          r.stderr,
          'error: there are no deployments here yet; run weft install BLUEPRINT first\n',
          command.join(' '),
        );
      }
      assert.equal(run(['secrets', 'get', 'db']).code, 2);
      assert.equal(run(['deployments', 'delete', 'web']).code, 2);
      assert.deepEqual(readdirSync(cwd), [], 'nothing created');
      const elsewhere = join(cwd, 'state');
      assert.equal(run(['deployments', '--state-dir', elsewhere]).code, 0);
      assert.ok(!existsSync(elsewhere));
    },
  );
});
