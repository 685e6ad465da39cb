/**
 * Two `weft serve` processes on one PostgreSQL database: an execution is run by one of them only,
 * and when that one is killed with SIGKILL the other takes the execution over (its resumable
 * operation in flight runs again; nothing that had finished runs twice).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openPostgresStore } from '@weft/engine';
import { NO_WEFT_ENVIRONMENT, tempDir, weftInBackground } from '@weft/testing/cli';
import pg from 'pg';
import { relayCancels } from '../src/executions/cancel-relay.js';
import { relayEvents } from '../src/executions/event-relay.js';
import { EventNotifier } from '../src/executions/notifier.js';
import { ExecutionRunner } from '../src/executions/runner.js';
import { PostgresExecutionClaims } from '../src/store/execution-claims.js';
import type { TenantState } from '../src/tenants.js';
import { deploy, fixtures, freshDatabase, readStream } from './harness.js';

const blueprint = join(fixtures, 'gate', 'blueprint.yaml');

async function serve(dir: string, database: string, first: boolean, extra: string[] = []) {
  const args = ['serve', '--state-dir', dir, '--listen', '127.0.0.1:0', '--db', database, ...extra];
  args.push('--take-over-every', '0.2');
  if (first) args.push('--init-admin');
  const server = weftInBackground(args, {
    ...NO_WEFT_ENVIRONMENT,
    WEFT_ADMIN_PASSWORD: 'take-over-password',
  });
  const token = first ? /(weft_\S+)/.exec(await server.line(/API token/))![1]! : undefined;
  const url = /listening on (\S+)\/api\/v1/.exec(await server.line(/listening on/))![1]!;
  return { server, url, token };
}

describe('servers sharing a PostgreSQL database', () => {
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const drop of drops) await drop();
  });

  test('a new execution is claimed before it is stored, so no other server can take it in between', async () => {
    const database = await freshDatabase();
    drops.push(database.drop);
    const mine = new PostgresExecutionClaims(database.url, () => {});
    const other = new PostgresExecutionClaims(database.url, () => {});
    try {
      // Only the claims matter here: creating the execution fails before anything would run it.
      const unused = undefined as never;
      const runner = new ExecutionRunner(unused, unused, unused, unused, mine);
      let created = '';
      await assert.rejects(
        runner.start({ name: 'claims' } as TenantState, async (id) => {
          created = id;
          assert.equal(await other.heldElsewhere('claims', id), true);
          assert.equal(await other.claim('claims', id), false);
          throw new Error('not stored');
        }),
        /not stored/,
      );
      // An execution that could not be stored leaves no claim behind.
      assert.equal(await other.claim('claims', created), true);
    } finally {
      await mine.close();
      await other.close();
    }
  });

  test('a cancel stored through one server reaches the run in another at once, not at its next poll', {
    timeout: 20_000,
  }, async () => {
    const database = await freshDatabase();
    drops.push(database.drop);
    const unused = undefined as never;
    const [a, b] = [0, 1].map(() => new ExecutionRunner(unused, unused, unused, unused, unused));
    const relays = [await relayCancels(database.url, a!), await relayCancels(database.url, b!)];
    try {
      // A run of execution e1 in a: its executor reads the stored status when told to.
      let heard!: () => void;
      const read = new Promise<void>((resolve) => {
        heard = resolve;
      });
      const runs = Reflect.get(a!, 'runs') as Map<string, unknown>;
      runs.set('t\u0000e1', { executor: { checkCancel: async () => heard() } });
      await b!.cancelStored('t', 'e1');
      await read;
      // Notifications missed while a's connection was down: each of its runs reads its status.
      let reads = 0;
      runs.set('t\u0000e2', { executor: { checkCancel: async () => void reads++ } });
      await a!.cancelsMissed();
      assert.equal(reads, 1);
    } finally {
      for (const relay of relays) await relay.close();
    }
  });

  test("a server's streams are woken by the events another server stores, each notification once", async () => {
    const database = await freshDatabase();
    drops.push(database.drop);
    const [a, b] = [new EventNotifier(), new EventNotifier()];
    const relays = [await relayEvents(database.url, a), await relayEvents(database.url, b)];
    const never = new AbortController().signal;
    try {
      const fromA = b.next('t', b.seen('t'), 60_000, never);
      a.notify('t');
      assert.equal(await fromA, 'notified', "b's stream was woken by a's event, not by its keep-alive");
      // PostgreSQL hands a its own notification before b's later one: a counts its own event
      // once (not again when it comes back) and b's once.
      const seen = a.seen('t');
      const fromB = a.next('t', seen, 60_000, never);
      b.notify('t');
      assert.equal(await fromB, 'notified');
      assert.equal(a.seen('t'), seen + 1);
      // Another tenant's streams are not woken.
      assert.equal(b.seen('other'), 0);
    } finally {
      for (const relay of relays) await relay.close();
    }
  });

  test('run each execution in one process; when it is killed another takes the execution over', async () => {
    const dir = tempDir();
    const database = await freshDatabase();
    drops.push(database.drop);
    const first = await serve(dir, database.url, true);
    const second = await serve(dir, database.url, false);
    try {
      const headers = { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' };
      const record = join(dir, 'record');
      const gate = join(dir, 'gate');
      const store = await openPostgresStore(database.url, { schema: 'weft_tenant_default_tenant' });
      await store.migrate();
      await deploy({ store }, blueprint, 'shared', { record, gate, count: 1 });
      await store.close();

      const started = await fetch(`${first.url}/api/v1/executions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ deploymentId: 'shared', workflowId: 'install' }),
      });
      assert.equal(started.status, 201);
      const { id } = (await started.json()) as { id: string };
      const stream = `/api/v1/events/stream?executionId=${id}`;
      await readStream(
        `${first.url}${stream}`,
        headers,
        (m) => m.event === 'log' && /waiting at/.test(m.data),
      );

      // The other server knows it runs elsewhere: it neither resumes it nor ends it.
      const resume = await fetch(`${second.url}/api/v1/executions/${id}/resume`, {
        method: 'POST',
        headers,
        body: '{}',
      });
      assert.equal(resume.status, 409, await resume.text());

      first.server.child.kill('SIGKILL');
      await first.server.exit;
      // The survivor runs `start` again: it waits at the gate once more.
      await readStream(
        `${second.url}${stream}`,
        headers,
        (m, all) => m.event === 'log' && all.filter((x) => /waiting at/.test(x.data)).length === 2,
      );
      writeFileSync(gate, '');
      const end = await readStream(`${second.url}${stream}`, headers, (m) => m.event === 'end');
      assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'terminated' });
      const runs = readFileSync(record, 'utf8').split('\n').filter(Boolean);
      const count = (prefix: string) => runs.filter((line) => line.startsWith(prefix)).length;
      assert.equal(count('create '), 3, 'each create ran once');
      assert.equal(count('start-begin gated'), 2, 'the start in flight ran again, once, on the survivor');
      assert.equal(count('start-end '), 3, 'each start finished once');
    } finally {
      first.server.child.kill('SIGKILL');
      second.server.child.kill('SIGTERM');
      await Promise.all([first.server.exit, second.server.exit]);
    }
  });

  test("a HOT stack's snapshot whose execution another server ends is stored COMPLETE by that one", async () => {
    const dir = tempDir();
    const database = await freshDatabase();
    drops.push(database.drop);
    const plugins = ['--plugin-dir', join(fixtures, 'heat-plugins')];
    const first = await serve(dir, database.url, true, plugins);
    const second = await serve(dir, database.url, false, plugins);
    try {
      const headers = { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' };
      const api = async (url: string, method: string, path: string, body?: unknown, type?: string) => {
        const response = await fetch(`${url}/api/v1${path}`, {
          method,
          headers: { ...headers, ...(type ? { 'content-type': type } : {}) },
          ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const ended = async (url: string, id: string) => {
        const end = await readStream(
          `${url}/api/v1/events/stream?executionId=${id}`,
          headers,
          (m) => m.event === 'end',
        );
        return JSON.parse(end.messages.at(-1)!.data).status as string;
      };
      const gate = join(dir, 'snapshot-gate');
      const template = `heat_template_version: 2018-08-31
resources:
  gated:
    type: Weft::Test::SnapshotGate
    properties: {gate: ${JSON.stringify(gate)}}
`;
      const made = await api(first.url, 'PUT', '/blueprints/stack', template, 'application/yaml');
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal((await api(first.url, 'PUT', '/deployments/stack', { blueprintId: 'stack' })).status, 201);
      const install = await api(first.url, 'POST', '/executions', {
        deploymentId: 'stack',
        workflowId: 'install',
      });
      assert.equal(await ended(first.url, install.body.id as string), 'terminated');

      const taken = await api(first.url, 'POST', '/deployments/stack/snapshots', { name: 'first' });
      assert.equal(taken.status, 201, JSON.stringify(taken.body));
      const id = (taken.body.execution as { id: string }).id;
      await readStream(
        `${first.url}/api/v1/events/stream?executionId=${id}`,
        headers,
        (m) => m.event === 'log' && /snapshot waiting at/.test(m.data),
      );
      const listed = await api(first.url, 'GET', '/deployments/stack/snapshots');
      assert.deepEqual(
        (listed.body as unknown as { name: string; status: string }[]).map((s) => [s.name, s.status]),
        [['first', 'IN_PROGRESS']],
      );
      first.server.child.kill('SIGKILL');
      await first.server.exit;
      writeFileSync(gate, '');
      assert.equal(await ended(second.url, id), 'terminated');
      const shown = await api(second.url, 'GET', '/deployments/stack/snapshots/first');
      assert.equal(shown.body.status, 'COMPLETE', JSON.stringify(shown.body));
      const data = shown.body.data as {
        resources: Record<string, { resource_data: Record<string, unknown> }>;
      };
      assert.equal(data.resources.gated!.resource_data.snapshotted, true, 'what the handler kept is stored');
    } finally {
      first.server.child.kill('SIGKILL');
      second.server.child.kill('SIGTERM');
      await Promise.all([first.server.exit, second.server.exit]);
    }
  });

  test('a server that loses the connection holding its claims interrupts its runs, then claims and resumes them', async () => {
    const dir = tempDir();
    const database = await freshDatabase();
    drops.push(database.drop);
    const only = await serve(dir, database.url, true);
    try {
      const headers = { authorization: `Bearer ${only.token}`, 'content-type': 'application/json' };
      const record = join(dir, 'record');
      const gate = join(dir, 'gate');
      const store = await openPostgresStore(database.url, { schema: 'weft_tenant_default_tenant' });
      await store.migrate();
      await deploy({ store }, blueprint, 'lost', { record, gate, count: 1 });
      await store.close();
      const started = await fetch(`${only.url}/api/v1/executions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ deploymentId: 'lost', workflowId: 'install' }),
      });
      const { id } = (await started.json()) as { id: string };
      const stream = `${only.url}/api/v1/events/stream?executionId=${id}`;
      await readStream(stream, headers, (m) => m.event === 'log' && /waiting at/.test(m.data));

      // As a database restart or a network cut would: the claims' connection ends.
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        const { rowCount } = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE application_name = 'weft-claims' AND datname = current_database()`,
        );
        assert.equal(rowCount, 1);
      } finally {
        await admin.end();
      }
      // Interrupted at once (the gate is still closed), then claimed again and resumed. The
      // execution's own stream ends with the interruption: the deployment's goes on.
      await readStream(
        `${only.url}/api/v1/events/stream?deploymentId=lost`,
        headers,
        (m, all) => m.event === 'log' && all.filter((x) => /waiting at/.test(x.data)).length === 2,
      );
      const interrupted = await fetch(`${only.url}/api/v1/events?executionId=${id}&limit=1000`, { headers });
      assert.match(await interrupted.text(), /interrupted/);
      writeFileSync(gate, '');
      const end = await readStream(stream, headers, (m) => m.event === 'end');
      assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'terminated' });
      const runs = readFileSync(record, 'utf8').split('\n').filter(Boolean);
      assert.equal(runs.filter((line) => line.startsWith('create ')).length, 3, 'each create ran once');
      assert.equal(runs.filter((line) => line.startsWith('start-begin gated')).length, 2);
    } finally {
      only.server.child.kill('SIGTERM');
      await only.server.exit;
    }
  });
});
