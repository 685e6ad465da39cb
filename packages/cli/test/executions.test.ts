/**
 * The `weft` commands that run and inspect executions, on SQLite and on PostgreSQL: install
 * (exit codes, --json, the failure report), executions, instances, outputs, events (and
 * --follow while an install runs in another process), deployments, the -d default, one
 * execution at a time, cancel --force and resume, and secrets (never printed, encrypted at rest).
 * Processes are synchronised on their output and on a gate file the test plugin watches; nothing
 * sleeps.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, describeRun as show, type WeftRun, weft } from '@weft/testing/cli';
import pg from 'pg';
import { fixtures, tempDir, weftInBackground } from './helpers.js';

const dir = join(fixtures, 'executions');
const BLUEPRINT = join(dir, 'blueprint.yaml');
const FAILING = join(dir, 'failing.yaml');
const SECRET_BLUEPRINT = join(dir, 'secret.yaml');
const PG_BASE = 'postgres://postgres@127.0.0.1:5432/test';
const LIMIT = { timeout: 60_000 };

/** The environment without anything that would point weft at other state. */
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // No state, database, key or gate from the environment running the tests.
  return { ...NO_WEFT_ENVIRONMENT, GATE_DIR: undefined, ...extra };
}

function cli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): WeftRun {
  return weft(args, { ...options, env: baseEnv(options.env) });
}

/** A `weft` process in the background, with the environment of these tests. */
const background = (args: string[], env: NodeJS.ProcessEnv = {}) => weftInBackground(args, baseEnv(env));

interface Backend {
  name: string;
  /** Arguments that select a fresh store for one test. */
  args(): string[];
}

const schemas: string[] = [];

const backends: Backend[] = [
  { name: 'SQLite', args: () => [] },
  {
    name: 'PostgreSQL',
    args: () => {
      const schema = `weft_cli_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
      schemas.push(schema);
      return ['--db', `${PG_BASE}?schema=${schema}`];
    },
  },
];

after(async () => {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: PG_BASE });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
});

/** One test's state: a fresh state directory (and schema), and `weft` run against it. */
function fresh(backend: Backend) {
  const stateDir = tempDir();
  const storeArgs = ['--state-dir', stateDir, ...backend.args()];
  const schema = storeArgs.includes('--db') ? schemas[schemas.length - 1] : undefined;
  return {
    stateDir,
    schema,
    storeArgs,
    run: (args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}) =>
      cli([...args, ...storeArgs], options),
    start: (args: string[], env: NodeJS.ProcessEnv = {}) => background([...args, ...storeArgs], env),
  };
}

/** The JSON document a command printed, without its schemaVersion (which every one carries). */
function json<T>(r: WeftRun): T {
  assert.equal(r.code, 0, show(r));
  let doc: { schemaVersion?: unknown };
  try {
    doc = JSON.parse(r.stdout) as { schemaVersion?: unknown };
  } catch {
    assert.fail(`not JSON:\n${show(r)}`);
  }
  const { schemaVersion, ...rest } = doc;
  assert.equal(schemaVersion, 1, show(r));
  return rest as T;
}

interface ExecutionJson {
  id: string;
  deploymentId: string;
  workflow: string;
  status: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  error: {
    message: string;
    task: { node: string; instance: string; operation: string } | null;
    causes: { type: string; message: string }[];
  } | null;
}

interface InstanceJson {
  id: string;
  node: string;
  state: string;
  runtimeProperties: Record<string, unknown>;
}

/** Rows of a PostgreSQL schema's table, for looking at what is stored. */
async function pgRows(schema: string, table: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: PG_BASE });
  await client.connect();
  try {
    return (await client.query(`SELECT * FROM ${schema}.${table}`)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** Everything a store holds on disk (SQLite) or in its tables (PostgreSQL), as bytes to search. */
async function storedBytes(state: ReturnType<typeof fresh>): Promise<Buffer> {
  if (state.schema) {
    const parts: Buffer[] = [];
    for (const table of ['secrets', 'events', 'tasks', 'executions', 'node_instances']) {
      for (const row of await pgRows(state.schema, table)) {
        for (const value of Object.values(row)) {
          parts.push(Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value) ?? '', 'utf8'));
        }
      }
    }
    return Buffer.concat(parts);
  }
  const files = ['weft.db', 'weft.db-wal', 'weft.db-journal']
    .map((f) => join(state.stateDir, f))
    .filter((f) => existsSync(f));
  assert.ok(files.length > 0, 'the SQLite file exists');
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

for (const backend of backends) {
  describe(`weft executions commands (${backend.name})`, () => {
    test('install: exit 0 with live events and outputs; --json prints one JSON document', LIMIT, () => {
      const s = fresh(backend);
      const r = s.run(['install', BLUEPRINT, '-d', 'web']);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^Deployment 'web' created \(2 instances\)$/m);
      assert.match(r.stdout, /Starting 'install' workflow execution/);
      assert.match(
        r.stdout,
        /\[server_[a-z0-9]{6} create\] cloudify\.interfaces\.lifecycle\.create succeeded/,
      );
      assert.match(
        r.stdout,
        /'install' workflow execution succeeded\ninstall succeeded: 5\/5 operations in \d+\.\ds\nOutputs:\n {2}endpoint: "http:\/\/10\.0\.0\.5:8080"\n$/,
      );
      assert.equal(r.stderr, '');

      const j = s.run(['install', BLUEPRINT, '-d', 'web2', '-i', 'port=9090', '--json']);
      const doc = json<{ execution: ExecutionJson; outputs: Record<string, unknown> }>(j);
      assert.deepEqual(Object.keys(doc).sort(), ['capabilities', 'execution', 'outputs']);
      assert.equal(doc.execution.status, 'terminated');
      assert.equal(doc.execution.workflow, 'install');
      assert.equal(doc.execution.deploymentId, 'web2');
      assert.match(doc.execution.id, /^[0-9a-f-]{36}$/);
      assert.equal(doc.execution.error, null);
      // The times as stored: created, then started, then ended.
      const [stored] = json<{ executions: ExecutionJson[] }>(
        s.run(['executions', '-d', 'web2', '--json']),
      ).executions;
      assert.ok(doc.execution.startedAt !== null && doc.execution.endedAt !== null, show(j));
      assert.equal(doc.execution.startedAt, stored?.startedAt);
      assert.ok(
        doc.execution.createdAt <= doc.execution.startedAt &&
          doc.execution.startedAt <= doc.execution.endedAt,
      );
      assert.deepEqual(doc.outputs, { endpoint: 'http://10.0.0.5:9090' });
      assert.equal(j.stderr, '');
    });

    test(
      'install of a failing blueprint: exit 1 and a report with the task, the error, its causes and the resume command, not the log lines shown above',
      LIMIT,
      () => {
        const s = fresh(backend);
        const r = s.run(['install', FAILING, '-d', 'broken', '--task-retries', '0']);
        assert.equal(r.code, 1, show(r));
        const [execution] = json<{ executions: ExecutionJson[] }>(
          s.run(['executions', '-d', 'broken', '--json']),
        ).executions;
        assert.ok(execution);
        assert.equal(execution.status, 'failed');
        const report = r.stderr;
        assert.match(report, new RegExp(`^Execution ${execution.id} \\(install\\) failed\\.$`, 'm'));
        assert.match(
          report,
          /^ {2}failed task: cloudify\.interfaces\.lifecycle\.create on bad_[a-z0-9]{6}$/m,
        );
        assert.match(report, /^ {2}error: the database refused the connection$/m);
        assert.match(report, /^ {2}caused by TypeError: ECONNREFUSED 10\.0\.0\.9:5432$/m);
        // The log lines were shown as they came: the report does not repeat them.
        assert.match(
          r.stdout,
          /\[bad_[a-z0-9]{6} create\] preparing the schema\n.*WARNING \[bad_[a-z0-9]{6} create\] connecting to 10\.0\.0\.9:5432$/m,
        );
        assert.doesNotMatch(report, /last log lines|preparing the schema/);
        // The resume command names the store it ran with, and works as printed.
        const printed = new RegExp(`^ {2}resume it with: weft (resume ${execution.id} .*)$`, 'm').exec(
          report,
        );
        assert.ok(printed, report);
        const args = printed[1]!.match(/'[^']*'|\S+/g)!.map((arg) => arg.replace(/^'(.*)'$/, '$1'));
        assert.deepEqual(args.slice(2), s.storeArgs);
        const again = cli(args);
        assert.equal(again.code, 1, show(again));
        assert.match(again.stderr, new RegExp(`Execution ${execution.id} \\(install\\) failed`));
        assert.doesNotMatch(report, /^\s+at /m, 'no stack trace');
        assert.doesNotMatch(r.stdout, /after_[a-z0-9]{6} create/, 'nothing after the failure ran');

        const j = s.run(['install', FAILING, '-d', 'broken2', '--task-retries', '0', '--json']);
        assert.equal(j.code, 1, show(j));
        const doc = JSON.parse(j.stdout) as { execution: ExecutionJson; outputs?: unknown };
        assert.deepEqual(Object.keys(doc), ['schemaVersion', 'execution']);
        assert.equal(doc.execution.status, 'failed');
        assert.equal(doc.execution.error?.message, 'the database refused the connection');
        assert.equal(doc.execution.error?.task?.node, 'bad');
        assert.equal(doc.execution.error?.task?.operation, 'cloudify.interfaces.lifecycle.create');
        assert.deepEqual(
          doc.execution.error?.causes.map((c) => [c.type, c.message]),
          [['TypeError', 'ECONNREFUSED 10.0.0.9:5432']],
        );
      },
    );

    test('executions, instances, outputs and events show what ran', LIMIT, () => {
      const s = fresh(backend);
      assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
      const op = s.run([
        'exec',
        'execute_operation',
        '-d',
        'web',
        '-p',
        'operation=cloudify.interfaces.lifecycle.start',
        '-p',
        'node_ids=[server]',
      ]);
      assert.equal(op.code, 0, show(op));

      const executions = json<{ executions: ExecutionJson[] }>(
        s.run(['executions', '-d', 'web', '--json']),
      ).executions;
      assert.deepEqual(
        executions.map((e) => [e.workflow, e.status, e.deploymentId]),
        [
          ['install', 'terminated', 'web'],
          ['execute_operation', 'terminated', 'web'],
        ],
      );
      const text = s.run(['executions', '-d', 'web']);
      assert.equal(text.code, 0, show(text));
      const rows = text.stdout.trim().split('\n');
      assert.equal(rows.length, 2, text.stdout);
      assert.match(rows[0]!, new RegExp(`^${executions[0]!.id} +install +terminated `));
      assert.match(rows[1]!, new RegExp(`^${executions[1]!.id} +execute_operation +terminated `));

      const instances = json<{ instances: InstanceJson[] }>(
        s.run(['instances', '-d', 'web', '--json']),
      ).instances;
      const byNode = Object.fromEntries(instances.map((i) => [i.node, i]));
      assert.deepEqual(Object.keys(byNode).sort(), ['app', 'server']);
      assert.match(byNode.server!.id, /^server_[a-z0-9]{6}$/);
      assert.equal(byNode.server!.state, 'started');
      assert.deepEqual(byNode.server!.runtimeProperties, { create: '10.0.0.5', start: true });
      assert.deepEqual(byNode.app!.runtimeProperties, { create: true, configure: 8080, start: true });
      const instText = s.run(['instances', '-d', 'web']);
      const appLine = new RegExp(`^${byNode.app!.id} +started +(\\{.*\\})$`, 'm').exec(instText.stdout);
      assert.ok(appLine, show(instText));
      // (Key order is the store's: PostgreSQL's jsonb sorts keys.)
      assert.deepEqual(JSON.parse(appLine[1]!), { create: true, configure: 8080, start: true });

      const outputs = s.run(['outputs', '-d', 'web']);
      assert.equal(outputs.stdout, 'Outputs:\n  endpoint: "http://10.0.0.5:8080"\n', show(outputs));
      assert.deepEqual(json(s.run(['outputs', '-d', 'web', '--json'])), {
        deployment: 'web',
        status: 'installed',
        outputs: { endpoint: 'http://10.0.0.5:8080' },
        capabilities: {},
      });

      const installId = executions[0]!.id;
      const events = s.run(['events', '-e', installId]);
      assert.equal(events.code, 0, show(events));
      const lines = events.stdout.trim().split('\n');
      assert.match(lines[0]!, /Starting 'install' workflow execution$/);
      assert.match(lines[lines.length - 1]!, /'install' workflow execution succeeded$/);
      assert.ok(
        lines.some((l) =>
          /\[app_[a-z0-9]{6} configure\] cloudify\.interfaces\.lifecycle\.configure succeeded$/.test(l),
        ),
      );
      assert.ok(!events.stdout.includes('execute_operation'), 'only the events of the execution asked for');
      const jsonLines = s.run(['events', '-e', installId, '--json']).stdout.trim().split('\n');
      const parsed = jsonLines.map(
        (l) => JSON.parse(l) as { schemaVersion: number; executionId: string; type: string; seq: number },
      );
      assert.equal(parsed.length, lines.length);
      assert.ok(parsed.every((e) => e.executionId === installId && e.schemaVersion === 1));
      assert.ok(
        parsed.every((e, i) => i === 0 || e.seq > parsed[i - 1]!.seq),
        'in order',
      );
      for (const type of ['workflow_started', 'task_started', 'task_succeeded', 'workflow_succeeded'])
        assert.ok(
          parsed.some((e) => e.type === type),
          type,
        );
      // Without -e: the latest execution of the deployment.
      const latest = s.run(['events', '-d', 'web']);
      assert.match(latest.stdout, /'execute_operation' workflow execution succeeded/);
      const unknown = s.run(['events', '-e', 'no-such-execution']);
      assert.equal(unknown.code, 2, show(unknown));
      assert.match(unknown.stderr, /no execution 'no-such-execution'/);
    });

    test(
      'deployments list and delete; -d may be left out with one deployment and is required with two',
      LIMIT,
      () => {
        const s = fresh(backend);
        const none = s.run(['outputs']);
        assert.equal(none.code, 2, show(none));
        assert.match(none.stderr, /there are no deployments here yet/);
        assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
        const one = s.run(['outputs']);
        assert.equal(one.code, 0, show(one));
        assert.match(one.stdout, /endpoint: "http:\/\/10\.0\.0\.5:8080"/);
        assert.equal(s.run(['executions']).code, 0);
        assert.equal(s.run(['install', BLUEPRINT, '-d', 'web2']).code, 0);

        for (const command of [['outputs'], ['instances'], ['uninstall']]) {
          const two = s.run(command);
          assert.equal(two.code, 2, `${command.join(' ')}: ${show(two)}`);
          assert.match(two.stderr, /there are 2 deployments \((web, web2|web2, web)\); choose one with -d/);
          assert.doesNotMatch(two.stderr, /^\s+at /m);
        }

        const list = s.run(['deployments', 'list']);
        assert.equal(list.code, 0, show(list));
        assert.match(list.stdout, /^web +installed /m);
        assert.match(list.stdout, /^web2 +installed /m);
        assert.equal(s.run(['deployments']).stdout, list.stdout, 'list is the default');
        const listed = json<{ deployments: Record<string, unknown>[] }>(
          s.run(['deployments', 'list', '--json']),
        ).deployments;
        assert.deepEqual(listed.map((d) => d.id).sort(), ['web', 'web2']);
        for (const d of listed) {
          assert.ok(!('model' in d), 'the model is not printed');
          assert.ok(typeof d.blueprintId === 'string' && typeof d.createdAt === 'string');
        }
        assert.deepEqual(listed.find((d) => d.id === 'web2')?.inputs, { port: 8080 });

        const deleted = s.run(['deployments', 'delete', 'web2', '--force']);
        assert.equal(deleted.code, 0, show(deleted));
        assert.match(deleted.stdout, /Deployment 'web2' deleted/);
        assert.deepEqual(
          json<{ deployments: { id: string }[] }>(s.run(['deployments', 'list', '--json'])).deployments.map(
            (d) => d.id,
          ),
          ['web'],
        );
        const gone = s.run(['executions', '-d', 'web2']);
        assert.equal(gone.code, 2, show(gone));
        assert.match(gone.stderr, /no deployment 'web2'/);
        const again = s.run(['deployments', 'delete', 'web2']);
        assert.equal(again.code, 2, show(again));
        assert.match(again.stderr, /no deployment 'web2'/);
        // Back to one deployment: -d may be left out again.
        assert.equal(s.run(['outputs']).code, 0);
      },
    );

    test(
      'while an install runs: events --follow streams it and ends with it; a second exec and a delete are refused',
      LIMIT,
      async () => {
        const s = fresh(backend);
        const gate = tempDir();
        const install = s.start(['install', BLUEPRINT, '-d', 'live'], { GATE_DIR: gate });
        await install.line(/waiting at the gate$/);

        const follow = s.start(['events', '--follow', '-d', 'live']);
        await follow.line(/waiting at the gate$/);

        const second = s.run([
          'exec',
          'execute_operation',
          '-d',
          'live',
          '-p',
          'operation=cloudify.interfaces.lifecycle.start',
        ]);
        assert.equal(second.code, 2, show(second));
        assert.match(second.stderr, /deployment 'live' already has a running execution \S+ \(install\)/);
        assert.doesNotMatch(second.stderr, /^\s+at /m);
        const uninstall = s.run(['uninstall', '-d', 'live']);
        assert.equal(uninstall.code, 2, show(uninstall));
        assert.match(uninstall.stderr, /already has a running execution/);
        const del = s.run(['deployments', 'delete', 'live']);
        assert.equal(del.code, 2, show(del));
        assert.match(
          del.stderr,
          /deployment 'live' has a running execution \S+ \(install\); cancel it first/,
        );
        const during = json<{ executions: ExecutionJson[] }>(
          s.run(['executions', '-d', 'live', '--json']),
        ).executions;
        assert.deepEqual(
          during.map((e) => [e.workflow, e.status]),
          [['install', 'started']],
          'the refused executions were not stored',
        );

        writeFileSync(join(gate, 'open'), '');
        assert.equal(await install.exit, 0, install.stderr());
        assert.equal(await follow.exit, 0, follow.stderr());
        assert.match(follow.lines[follow.lines.length - 1]!, /'install' workflow execution succeeded$/);
        // What --follow printed is the whole stored stream, in order, once.
        const stored = s.run(['events', '-e', during[0]!.id]);
        assert.deepEqual(follow.lines, stored.stdout.trim().split('\n'));
        assert.ok(follow.lines.some((l) => /through the gate$/.test(l)));
      },
    );

    test(
      'cancel --force stops the running operation and ends the install cancelled; resume finishes it',
      LIMIT,
      async () => {
        const s = fresh(backend);
        const gate = tempDir();
        const install = s.start(['install', BLUEPRINT, '-d', 'live'], { GATE_DIR: gate });
        await install.line(/waiting at the gate$/);
        const cancel = s.run(['cancel', '--force', '-d', 'live', '--json']);
        assert.equal(cancel.code, 0, show(cancel));
        assert.deepEqual(
          { ...JSON.parse(cancel.stdout), execution: 'ID' },
          { schemaVersion: 1, execution: 'ID', status: 'force_cancelling', running: true },
        );
        assert.equal(await install.exit, 1, install.lines.join('\n'));
        assert.match(install.stderr(), /^Execution (\S+) \(install\) cancelled\.$/m);
        assert.match(install.stderr(), /resume it with: weft resume \S+/);
        const [cancelled] = json<{ executions: ExecutionJson[] }>(
          s.run(['executions', '-d', 'live', '--json']),
        ).executions;
        assert.equal(cancelled?.status, 'cancelled');
        const states = json<{ instances: InstanceJson[] }>(
          s.run(['instances', '-d', 'live', '--json']),
        ).instances;
        assert.notEqual(states.find((i) => i.node === 'app')?.state, 'started');
        const nothing = s.run(['cancel', '-d', 'live']);
        assert.equal(nothing.code, 2, show(nothing));
        assert.match(nothing.stderr, /there is no running execution to cancel/);

        const resumed = s.run(['resume', '-d', 'live']);
        assert.equal(resumed.code, 0, show(resumed));
        assert.match(resumed.stdout, /Resuming 'install' workflow execution/);
        assert.match(resumed.stdout, /Outputs:\n {2}endpoint: "http:\/\/10\.0\.0\.5:8080"/);
        const executions = json<{ executions: ExecutionJson[] }>(
          s.run(['executions', '-d', 'live', '--json']),
        ).executions;
        assert.deepEqual(
          executions.map((e) => [e.id, e.status]),
          [[cancelled!.id, 'terminated']],
        );
        const instances = json<{ instances: InstanceJson[] }>(
          s.run(['instances', '-d', 'live', '--json']),
        ).instances;
        assert.ok(
          instances.every((i) => i.state === 'started'),
          JSON.stringify(instances),
        );
      },
    );

    test(
      'secrets set/get/list/delete: values from stdin, never listed, encrypted at rest',
      LIMIT,
      async () => {
        const s = fresh(backend);
        const VALUE = 'Sup3r-S3cret-Value!';
        const STDIN_VALUE = 'from-stdin: with spaces & symbols';
        const set = s.run(['secrets', 'set', 'api_password', VALUE]);
        assert.equal(set.code, 0, show(set));
        assert.match(set.stdout, /Secret 'api_password' stored/);
        assert.ok(!set.stdout.includes(VALUE));
        const piped = s.run(['secrets', 'set', 'piped', '-'], { input: `${STDIN_VALUE}\n` });
        assert.equal(piped.code, 0, show(piped));

        const get = s.run(['secrets', 'get', 'api_password']);
        assert.equal(get.stdout, `${VALUE}\n`, show(get));
        assert.equal(s.run(['secrets', 'get', 'piped']).stdout, `${STDIN_VALUE}\n`);
        assert.deepEqual(json(s.run(['secrets', 'get', 'piped', '--json'])), {
          key: 'piped',
          value: STDIN_VALUE,
        });

        const list = s.run(['secrets', 'list']);
        assert.equal(list.code, 0, show(list));
        assert.match(list.stdout, /^api_password {2}updated /m);
        assert.match(list.stdout, /^piped {2}updated /m);
        const listed = json<{ secrets: Record<string, unknown>[] }>(
          s.run(['secrets', 'list', '--json']),
        ).secrets;
        assert.deepEqual(listed.map((x) => x.key).sort(), ['api_password', 'piped']);
        for (const out of [list.stdout, JSON.stringify(listed)]) {
          assert.ok(!out.includes(VALUE) && !out.includes(STDIN_VALUE), `list printed a value: ${out}`);
        }
        for (const entry of listed)
          assert.deepEqual(Object.keys(entry).sort(), ['createdAt', 'key', 'updatedAt']);

        // At rest only ciphertext is stored.
        const bytes = await storedBytes(s);
        assert.ok(!bytes.includes(Buffer.from(VALUE)), 'the stored secret is encrypted');
        assert.ok(!bytes.includes(Buffer.from(STDIN_VALUE)), 'the stored secret is encrypted');
        const keyFile = join(s.stateDir, 'secret.key');
        assert.ok(existsSync(keyFile), 'secret.key is created in the state directory');
        assert.equal(statSync(keyFile).mode & 0o777, 0o600);

        const deleted = s.run(['secrets', 'delete', 'piped']);
        assert.equal(deleted.code, 0, show(deleted));
        assert.match(deleted.stdout, /Secret 'piped' deleted/);
        const missing = s.run(['secrets', 'get', 'piped']);
        assert.equal(missing.code, 2, show(missing));
        assert.match(missing.stderr, /no secret 'piped'/);
        const twice = s.run(['secrets', 'delete', 'piped']);
        assert.equal(twice.code, 2, show(twice));
        assert.deepEqual(
          json<{ secrets: { key: string }[] }>(s.run(['secrets', 'list', '--json'])).secrets.map(
            (x) => x.key,
          ),
          ['api_password'],
        );
      },
    );

    test(
      'a secret used by an install never shows in its output, events, errors or outputs, nor in the store',
      LIMIT,
      async () => {
        const s = fresh(backend);
        const VALUE = 'Hunter2-Very-Secret';
        assert.equal(s.run(['secrets', 'set', 'api_password', VALUE]).code, 0);
        const ok = s.run(['install', SECRET_BLUEPRINT, '-d', 'sec', '--task-retry-interval', '0']);
        assert.equal(ok.code, 0, show(ok));
        assert.match(ok.stdout, /logging in with \*{6}$/m, 'the operation logged it, masked');
        assert.match(ok.stdout, /first try refused \*{6} \[retry 1\/5 in 0 s\]/);
        assert.match(ok.stdout, /password: "\*{6}"/);
        assert.match(ok.stdout, /dsn: "https:\/\/svc:\*{6}@api\.example"/);
        const failed = s.run([
          'install',
          SECRET_BLUEPRINT,
          '-d',
          'sec2',
          '-i',
          'fail=true',
          '--task-retry-interval',
          '0',
        ]);
        assert.equal(failed.code, 1, show(failed));
        assert.match(failed.stderr, /error: login rejected: \*{6}/);
        assert.match(failed.stderr, /caused by Error: server said \*{6} is wrong/);

        const printed = [
          ok,
          failed,
          s.run(['outputs', '-d', 'sec']),
          s.run(['outputs', '-d', 'sec', '--json']),
          s.run(['events', '-d', 'sec', '--json']),
          s.run(['events', '-d', 'sec2', '--json']),
          s.run(['executions', '-d', 'sec2', '--json']),
          s.run(['instances', '-d', 'sec', '--json']),
        ];
        for (const r of printed) {
          assert.ok(
            !r.stdout.includes(VALUE) && !r.stderr.includes(VALUE),
            `the secret was printed:\n${show(r)}`,
          );
        }
        assert.deepEqual(json<{ outputs: unknown }>(s.run(['outputs', '-d', 'sec', '--json'])).outputs, {
          password: '******',
          dsn: 'https://svc:******@api.example',
        });
        const bytes = await storedBytes(s);
        assert.ok(!bytes.includes(Buffer.from(VALUE)), 'the secret value is stored nowhere in plain text');
      },
    );
  });
}

describe('the secret key', () => {
  const VALUE = 'Key-Test-Secret-Value';

  test(
    'WEFT_SECRET_KEY is used instead of a key file; another key cannot decrypt, with a clear error',
    LIMIT,
    () => {
      const stateDir = tempDir();
      const keyA = { WEFT_SECRET_KEY: 'a'.repeat(64) };
      const keyB = { WEFT_SECRET_KEY: 'b'.repeat(64) };
      const set = cli(['secrets', 'set', 'token', VALUE, '--state-dir', stateDir], { env: keyA });
      assert.equal(set.code, 0, show(set));
      assert.ok(!existsSync(join(stateDir, 'secret.key')), 'no key file when WEFT_SECRET_KEY is set');
      assert.equal(
        cli(['secrets', 'get', 'token', '--state-dir', stateDir], { env: keyA }).stdout,
        `${VALUE}\n`,
      );
      // A passphrase is accepted too, and works the same way.
      const phrase = { WEFT_SECRET_KEY: 'correct horse battery staple' };
      assert.equal(cli(['secrets', 'set', 'p', VALUE, '--state-dir', stateDir], { env: phrase }).code, 0);
      assert.equal(
        cli(['secrets', 'get', 'p', '--state-dir', stateDir], { env: phrase }).stdout,
        `${VALUE}\n`,
      );

      for (const env of [keyB, {}]) {
        const wrong = cli(['secrets', 'get', 'token', '--state-dir', stateDir], { env });
        assert.notEqual(wrong.code, 0, show(wrong));
        assert.match(
          wrong.stderr,
          /secret 'token' cannot be decrypted: the secret key differs from the one it was stored with/,
        );
        assert.ok(!wrong.stdout.includes(VALUE) && !wrong.stderr.includes(VALUE));
        assert.doesNotMatch(wrong.stderr, /^\s+at /m, 'no stack trace');
      }
      // Listing needs no key.
      const list = cli(['secrets', 'list', '--state-dir', stateDir], { env: keyB });
      assert.equal(list.code, 0, show(list));
      assert.match(list.stdout, /^token {2}/m);
    },
  );

  test('an install that reads a secret stored with another key fails with a clear error', LIMIT, () => {
    const stateDir = tempDir();
    const keyA = { WEFT_SECRET_KEY: 'a'.repeat(64) };
    assert.equal(
      cli(['secrets', 'set', 'api_password', VALUE, '--state-dir', stateDir], { env: keyA }).code,
      0,
    );
    const r = cli(['install', SECRET_BLUEPRINT, '-d', 'sec', '--state-dir', stateDir], {
      env: { WEFT_SECRET_KEY: 'b'.repeat(64) },
    });
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stdout + r.stderr, /secret 'api_password' cannot be decrypted/);
    assert.ok(!(r.stdout + r.stderr).includes(VALUE));
  });

  test('an install that cannot read the secrets leaves no execution claiming to run', {
    ...LIMIT,
  }, () => {
    const stateDir = tempDir();
    const keyA = { WEFT_SECRET_KEY: 'a'.repeat(64) };
    assert.equal(
      cli(['secrets', 'set', 'api_password', VALUE, '--state-dir', stateDir], { env: keyA }).code,
      0,
    );
    const wrong = cli(['install', SECRET_BLUEPRINT, '-d', 'sec', '--state-dir', stateDir], {
      env: { WEFT_SECRET_KEY: 'b'.repeat(64) },
    });
    assert.notEqual(wrong.code, 0, show(wrong));
    const executions = json<{ executions: ExecutionJson[] }>(
      cli(['executions', '-d', 'sec', '--json', '--state-dir', stateDir], { env: keyA }),
    ).executions;
    assert.deepEqual(
      executions.filter((e) => ['pending', 'started'].includes(e.status)).map((e) => [e.workflow, e.status]),
      [],
    );
    // With the right key, another workflow is not refused as if the failed install still ran.
    const op = cli(
      [
        'exec',
        'execute_operation',
        '-d',
        'sec',
        '-p',
        'operation=cloudify.interfaces.lifecycle.create',
        '--state-dir',
        stateDir,
      ],
      { env: keyA },
    );
    assert.doesNotMatch(op.stderr, /already has a running execution/);
    assert.equal(op.code, 0, show(op));
  });

  test('the key file is created once, mode 0600, and reused', LIMIT, () => {
    const stateDir = tempDir();
    assert.equal(cli(['secrets', 'set', 'k', VALUE, '--state-dir', stateDir]).code, 0);
    const keyFile = join(stateDir, 'secret.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const key = readFileSync(keyFile, 'utf8');
    assert.equal(Buffer.from(key.trim(), 'base64').length, 32);
    assert.equal(cli(['secrets', 'get', 'k', '--state-dir', stateDir]).stdout, `${VALUE}\n`);
    assert.equal(readFileSync(keyFile, 'utf8'), key, 'the same key is used again');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  });
});
