/**
 * A worker's hold on the job it runs. pg-boss 10 hands an active job to another worker once
 * `started_on + expire_in` has passed and has no heartbeat of its own, so a worker renews its
 * lease by moving that end forward while its operation runs: a short lease then finds a dead
 * worker quickly without taking a long operation from a live one.
 */
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
