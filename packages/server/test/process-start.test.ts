/**
 * Server and worker processes as they start: workers on one new database all create the shared
 * queue at once, and pg-boss's create_queue can deadlock between them, so each must end up with
 * its queues, none with "deadlock detected"; a process that cannot start (a tenant unknown, a port
 * in use) ends with the reason instead of staying up with its connections open.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, tempDir, weft, weftInBackground } from '@weft/testing/cli';
import type PgBoss from 'pg-boss';
import { openBoss, Queues } from '../src/workers/jobs.js';
import { freshDatabase } from './harness.js';

const drops: (() => Promise<void>)[] = [];
after(async () => {
  for (const drop of drops) await drop();
});

test('processes creating the same queues at once all get them, without the deadlock pg-boss alone runs into', async () => {
  const database = await freshDatabase();
  drops.push(database.drop);
  // As many processes as a server and its workers starting together, each with its own pool.
  const bosses: PgBoss[] = [];
  try {
    for (let i = 0; i < 6; i++) bosses.push(await openBoss(database.url, 60));
    const names = Array.from({ length: 4 }, (_, i) => `queue_${i}`);
    const outcomes = await Promise.allSettled(
      bosses.flatMap((boss) => {
        const queues = new Queues(boss, database.url);
        return names.map((name) => queues.ensure(name));
      }),
    );
    const failed = outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason));
    assert.deepEqual(failed, [], 'every ensure succeeded');
    const made = (await bosses[0]!.getQueues()).map((q: { name: string }) => q.name).sort();
    assert.deepEqual(made, names);
  } finally {
    for (const boss of bosses) await boss.stop({ graceful: false, wait: true });
  }
});

test('a weft worker that cannot start exits with the reason instead of staying up with its connections', async () => {
  const database = await freshDatabase();
  drops.push(database.drop);
  // The tenant of its host is looked for once the worker's connections are open.
  const worker = weftInBackground(
    ['worker', '--db', database.url, '--state-dir', tempDir(), '--queue', 'vm_x7k2p', '--tenant', 'nosuch'],
    { ...NO_WEFT_ENVIRONMENT, WEFT_SECRET_KEY: 'queues-test-key' },
  );
  const code = await worker.exit;
  assert.notEqual(code, 0);
  assert.match(worker.stderr(), /^error: there is no tenant 'nosuch' on this database \(--tenant\)$/m);
  assert.deepEqual(worker.lines, [], 'it never said it was taking operations');
});

test('weft worker --tenant: a name that is not a tenant name, or no host queue to go with it, is a usage error', () => {
  const db = ['--db', 'postgres://127.0.0.1:1/nothing'];
  for (const [args, message] of [
    [
      ['--queue', 'vm_x7k2p', '--tenant', 'Acme!'],
      '--tenant Acme!: not a tenant name (a lowercase letter, then up to 39 of a-z, 0-9, _)',
    ],
    [['--tenant', 'acme'], '--tenant names the tenant of the hosts given with --queue: give a host too'],
    [
      ['--queue', 'central_deployment_agent', '--tenant', 'acme'],
      '--tenant names the tenant of the hosts given with --queue: give a host too',
    ],
  ] as const) {
    const run = weft(['worker', ...db, ...args], { env: NO_WEFT_ENVIRONMENT });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stderr, `error: ${message}\n`);
  }
});

test('weft serve --workers on a port in use exits with the reason instead of staying up with its connections', async () => {
  const database = await freshDatabase();
  drops.push(database.drop);
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = taken.address() as AddressInfo;
    const server = weftInBackground(
      [
        'serve',
        ...['--state-dir', tempDir(), '--listen', `127.0.0.1:${port}`, '--db', database.url, '--workers'],
      ],
      { ...NO_WEFT_ENVIRONMENT, WEFT_SECRET_KEY: 'queues-test-key' },
    );
    assert.equal(await server.exit, 1);
    assert.match(server.stderr(), /^error: listen EADDRINUSE: address already in use/m);
  } finally {
    taken.close();
  }
});
