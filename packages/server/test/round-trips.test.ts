/**
 * What a worker costs the database per operation: the statements it sends to the job queue,
 * counted on the client (every query of its pg-boss connections) while a real `weft serve
 * --workers` process runs an install whose shared-queue operations it takes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { startWorker } from '../src/workers/worker.js';
import { cluster, ENV } from './cluster.js';

/** A query's text and what it answered, for the queries of pg-boss's connections (`weft-jobs`). */
interface Sent {
  text: string;
  rows: Record<string, unknown>[];
}

/** Counts every query of the `weft-jobs` connections of this process (pg's Client.query, wrapped). */
function countJobQueries(): { sent: Sent[]; restore: () => void } {
  const sent: Sent[] = [];
  const query = pg.Client.prototype.query;
  const wrapped = function (this: pg.Client, ...args: unknown[]) {
    const params = (this as unknown as { connectionParameters: { application_name?: string } })
      .connectionParameters;
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text;
    const last = args.at(-1);
    if (params.application_name === 'weft-jobs' && text !== undefined && typeof last === 'function') {
      // A pool's query (pg-boss's) passes a callback.
      args[args.length - 1] = (error: unknown, answer?: { rows?: Record<string, unknown>[] }) => {
        sent.push({ text, rows: answer?.rows ?? [] });
        return last(error, answer);
      };
    }
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  };
  pg.Client.prototype.query = wrapped as typeof query;
  return { sent, restore: () => (pg.Client.prototype.query = query) };
}

/** Resolves once `queue` has `count` jobs waiting (woken by the server's notification of each insert). */
async function queued(database: string, queue: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    let woken = () => {};
    client.on('notification', () => woken());
    await client.query('LISTEN weft_job_queued');
    for (;;) {
      const notified = new Promise<void>((resolve) => (woken = resolve));
      const { rows } = await client.query(
        "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'created'",
        [queue],
      );
      if (rows[0].n >= count) return;
      await notified;
    }
  } finally {
    await client.end();
  }
}

describe('round trips of a worker to the job queue', () => {
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const drop of drops) await drop();
  });

  test('a worker completes the job it finished in the statement that takes its next one', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster(drops, { count: 8 });
    await c.startWorker('host', '--queue', c.vm);
    Object.assign(process.env, ENV, { WEFT_TEST_WORKER: 'here' });
    const id = await c.install();
    // The 9 creates are queued before the worker starts: it finds a next job each time it ends one.
    await queued(c.database, 'central_deployment_agent', 9);
    const counted = countJobQueries();
    // One slot: each job is fetched alone and completed alone.
    const worker = await startWorker({
      database: c.database,
      concurrency: 1,
      stateDir: join(c.dir, 'worker-here'),
      pluginDirs: [],
    });
    try {
      const { status } = await c.follow(id);
      assert.equal(status, 'terminated', (await c.execution(id)).error?.message);
    } finally {
      await worker.close();
      counted.restore();
    }
    // 9 Work instances (8 + gated): create, configure, start, each a job of the shared queue.
    const jobs = c.runs().filter(([what, , by]) => what === 'create' && by === 'here').length * 3;
    assert.equal(jobs, 27);
    const took = ({ rows }: Sent) => rows.some((row) => row.id != null);
    const completed = ({ rows }: Sent) => (rows[0]?.weft_completed as string[] | undefined) ?? [];
    const completing = counted.sent.filter((sent) => completed(sent).length > 0);
    const ids = completing.flatMap(completed);
    assert.equal(ids.length, jobs, 'each job completed once, by these');
    assert.equal(new Set(ids).size, jobs);
    // Each completion went in a statement that also asked for the next jobs: one round trip, not two.
    assert.ok(completing.every(({ text }) => /SKIP LOCKED/.test(text)));
    // With the creates waiting, each of the first 8 is completed by the statement that takes another.
    const both = completing.filter(took).length;
    assert.ok(both >= 8, `${both} statements completed a job and took the next`);
    const working = counted.sent.filter((sent) => took(sent) || completed(sent).length > 0).length;
    assert.ok(working < 2 * jobs, `${working} statements took or completed the ${jobs} jobs`);
  });
});
