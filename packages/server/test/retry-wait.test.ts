/**
 * A `ctx.operation.retry` wait with workers, across the death of the server that scheduled it:
 * the wait holds no worker (the job of the next attempt is queued only when it ends), it is
 * stored as the task's notBefore, and the server that takes the execution over runs the next
 * attempt when the wait ends, not a whole wait after taking it over.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { cluster } from './cluster.js';
import { readStream } from './harness.js';

describe('ctx.operation.retry waits with workers', () => {
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const drop of drops) await drop();
  });

  test('the server that scheduled a retry wait is killed during it: another takes the execution over and runs the retry when the wait ends', {
    timeout: 240_000,
  }, async () => {
    const wait = 8;
    const c = await cluster(drops, { count: 1 });
    await c.startWorker('a');
    const other = await c.startServer('--take-over-every', '0.2');
    const started = await fetch(`${c.url}/api/v1/executions`, {
      method: 'POST',
      headers: c.headers,
      body: JSON.stringify({
        deploymentId: 'spread',
        workflowId: 'execute_operation',
        parameters: { operation: 'test.retry.once', node_ids: ['work'], operation_kwargs: { after: wait } },
      }),
    });
    assert.equal(started.status, 201, await started.clone().text());
    const { id } = (await started.json()) as { id: string };
    const stream = `/api/v1/events/stream?executionId=${id}`;
    const rescheduled = await readStream(
      `${c.url}${stream}`,
      c.headers,
      (m) => m.event === 'task_rescheduled',
    );
    assert.match(rescheduled.messages.at(-1)!.data, new RegExp(`retry 1\\S* in ${wait} s`));
    const timeOf = (what: string) =>
      c
        .runs()
        .filter(([w]) => w === what)
        .map(([, , by, at]) => ({ by, at: Number(at) }));
    const [asked] = timeOf('retry-asked');
    assert.equal(asked?.by, 'a');

    // While it waits, no job of the operation is queued or held: the wait holds no worker.
    const db = new pg.Client({ connectionString: c.database });
    await db.connect();
    const jobs = await db.query("SELECT state FROM pgboss.job WHERE state IN ('created', 'retry', 'active')");
    await db.end();
    assert.deepEqual(jobs.rows, []);

    // Killed a few seconds into the wait: were the wait counted again from the take-over, the
    // retry would run at least 3 + 8 s after it was asked for.
    await sleep(3_000);
    c.server.child.kill('SIGKILL');
    await c.server.exit;
    const end = await readStream(`${other.url}${stream}`, c.headers, (m) => m.event === 'end');
    assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'terminated' });
    assert.ok(
      end.messages.some((m) => m.event === 'workflow_resumed'),
      'the other server took the execution over',
    );
    const retried = timeOf('retried');
    assert.equal(retried.length, 1, 'retried once');
    assert.equal(retried[0]!.by, 'a');
    const after = retried[0]!.at - asked!.at;
    assert.ok(
      after >= wait * 1000,
      `the retry ran ${after} ms after it was asked for: not before its wait ended`,
    );
    assert.ok(
      after < wait * 1000 + 2_500,
      `the retry ran ${after} ms after it was asked for: about when its wait ended`,
    );
    process.stdout.write(
      `# retry ran ${after} ms after it was asked for (wait ${wait} s, server killed at 3 s)\n`,
    );
    other.server.child.kill('SIGTERM');
    await other.server.exit;
  });
});
