/**
 * A worker's hold on the job it runs. pg-boss 10 hands an active job to another worker once
 * `started_on + expire_in` has passed and has no heartbeat of its own, so a worker renews its
 * lease by moving that end forward while its operation runs: a short lease then finds a dead
 * worker quickly without taking a long operation from a live one.
 */
import { createRequire } from 'node:module';
import type PgBoss from 'pg-boss';

/** The schema pg-boss keeps its tables in (the same for the server and every worker). */
export const BOSS_SCHEMA = 'pgboss';

/**
 * Makes the job's lease end `seconds` from now. False when the job is no longer this holder's:
 * cancelled, completed, or expired and handed out again (its retry count has moved on).
 */
export async function renewLease(
  db: PgBoss.Db,
  job: { queue: string; id: string; retryCount: number },
  seconds: number,
): Promise<boolean> {
  const { rows } = await db.executeSql(
    `UPDATE ${BOSS_SCHEMA}.job SET expire_in = (now() - started_on) + make_interval(secs => $4)
      WHERE name = $1 AND id = $2 AND state = 'active' AND retry_count = $3
      RETURNING id`,
    [job.queue, job.id, job.retryCount, seconds],
  );
  return rows.length === 1;
}

/**
 * Cancels a job that no worker has taken yet, as pg-boss's `cancel` does, but only then: one a
 * worker took meanwhile is left to run to its end. True when it was withdrawn.
 */
export async function withdrawJob(db: PgBoss.Db, job: { queue: string; id: string }): Promise<boolean> {
  const { rows } = await db.executeSql(
    `UPDATE ${BOSS_SCHEMA}.job SET completed_on = now(), state = 'cancelled'
      WHERE name = $1 AND id = $2 AND state = 'created'
      RETURNING id`,
    [job.queue, job.id],
  );
  return rows.length === 1;
}

/**
 * The queues holding jobs handed back and ready to be taken again (a lease that ended, a worker
 * that stopped): pg-boss sends no notification for those, so their workers are woken by hand.
 */
export async function queuesWithJobsHandedBack(db: PgBoss.Db): Promise<string[]> {
  const { rows } = await db.executeSql(
    `SELECT DISTINCT name FROM ${BOSS_SCHEMA}.job WHERE state = 'retry' AND start_after <= now()`,
    [],
  );
  return rows.map((row: { name: string }) => row.name);
}

/** pg-boss's own statements (its `insert` answers nothing, so which jobs were new is not known). */
const plans = createRequire(import.meta.url)('pg-boss/src/plans.js') as {
  insertJobs(schema: string): string;
  fetchNextJob(schema: string): (options: { includeMetadata: boolean }) => string;
  failJobsByTimeout(schema: string): string;
  locked(schema: string, query: string): string;
};

/** pg-boss's look for leases that ended, under its lock, as its maintenance runs it. */
const EXPIRE_LEASES = plans.locked(BOSS_SCHEMA, plans.failJobsByTimeout(BOSS_SCHEMA));

/**
 * Hands out again the jobs whose lease ended (or fails those out of retries), as pg-boss's
 * maintenance does: that runs once a second at best, and often every other second (each process's
 * interval and the check that it is the first of the interval are both a second long).
 */
export async function expireLeases(db: PgBoss.Db): Promise<void> {
  await db.executeSql(EXPIRE_LEASES, []);
}

/** What PostgreSQL takes as a NOTIFY payload at most (bytes, less than its 8000). */
const MAX_NOTIFY_BYTES = 7900;

/**
 * pg-boss's insert of many jobs (as `boss.insert`), in one statement, answering the ids of the jobs
 * it inserted: one whose id exists already is left as it is and not among them. `queuedChannel`
 * is notified at commit with the queue of each job inserted (PostgreSQL sends each queue once).
 */
export async function insertJobs(
  db: PgBoss.Db,
  jobs: {
    id: string;
    name: string;
    data: object;
    expireInSeconds: number;
    retryLimit: number;
    retryDelay: number;
  }[],
  queuedChannel: string,
): Promise<Set<string>> {
  const { rows } = await db.executeSql(
    `WITH inserted AS (${plans.insertJobs(BOSS_SCHEMA)} RETURNING id, name)
     SELECT id, pg_notify($7, name) FROM inserted`,
    [JSON.stringify(jobs), null, null, null, null, null, queuedChannel],
  );
  return new Set(rows.map((row: { id: string }) => row.id));
}

/** pg-boss's fetch of the next jobs of a queue ($1) for `boss.fetch(.., {includeMetadata})`, up to $2. */
const FETCH_JOBS = plans.fetchNextJob(BOSS_SCHEMA)({ includeMetadata: true });

/** A job a worker finished: completed with `output` if still held at `retryCount`. */
export interface Completion {
  id: string;
  retryCount: number;
  output: object;
}

/**
 * In one statement, a worker's turn on a queue: completes the jobs it finished, each with its own
 * output, as pg-boss's `complete` does, and takes up to `count` more, as its `fetch` does (with
 * metadata). A worker that finishes a job wants the next one: two round trips were one per job.
 *
 * Completes only a job still held at the attempt given (`retryCount`): not one cancelled, nor one
 * whose lease ended and that is handed out again. For each job completed, `done` is notified at
 * commit with `payload(job)` (the output when it fits). Answers the ids completed and the jobs taken.
 * The two halves touch different rows (active ones, and ones not yet active): neither sees the other.
 */
export async function completeAndFetch<T>(
  db: PgBoss.Db,
  queue: string,
  finished: readonly Completion[],
  count: number,
  done: { channel: string; payload: (job: { id: string; output: object }) => string },
): Promise<{ completed: Set<string>; jobs: PgBoss.JobWithMetadata<T>[] }> {
  const payloads = finished.map((job) => {
    const full = done.payload(job);
    return Buffer.byteLength(full) < MAX_NOTIFY_BYTES ? full : done.payload({ id: job.id, output: {} });
  });
  const { rows } = await db.executeSql(
    `WITH completed AS (
       UPDATE ${BOSS_SCHEMA}.job j SET completed_on = now(), state = 'completed', output = d.output
         FROM unnest($3::uuid[], $4::int[], $5::jsonb[], $6::text[]) AS d(id, retry_count, output, payload)
        WHERE j.name = $1 AND j.id = d.id AND j.state = 'active' AND j.retry_count = d.retry_count
       RETURNING j.id, d.payload
     ), notified AS (
       SELECT id, pg_notify($7, payload) FROM completed
     ), fetched AS (${FETCH_JOBS})
     SELECT n.weft_completed, f.*
       FROM (SELECT coalesce(array_agg(id::text), '{}') AS weft_completed FROM notified) n
       LEFT JOIN fetched f ON true`,
    [
      queue,
      count,
      finished.map((job) => job.id),
      finished.map((job) => job.retryCount),
      finished.map((job) => JSON.stringify(job.output)),
      payloads,
      done.channel,
    ],
  );
  const completed = new Set<string>(rows[0]?.weft_completed ?? []);
  const jobs = rows
    .filter((row: { id: string | null }) => row.id !== null)
    .map(({ weft_completed: _, ...job }: { weft_completed: unknown }) => job as PgBoss.JobWithMetadata<T>);
  return { completed, jobs };
}
