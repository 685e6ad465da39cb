/**
 * Host queues were once named by the host's instance id alone; they are named by tenant and host
 * now (hostQueue). The jobs an earlier version left in a queue of the old name (waiting for the
 * host's agent, handed back by a worker that stopped, held by one that is gone, or ended and not
 * yet read by the server that resumes their execution) would be stranded there: no worker takes
 * that queue any more, and a server looks for a job of an attempt under its new name only. So a
 * server or worker starting moves them, as they are (ids, states, outputs), to the queue of their
 * tenant's host, and drops the old queue once it is empty.
 */
import type PgBoss from 'pg-boss';
import { BOSS_SCHEMA } from '../store/job-leases.js';
import { CHANNELS, hostQueue, type Queues, SHARED_QUEUE, withQueueLock } from './jobs.js';

/** pg-boss's own queues (its scheduler's) are named with this prefix. */
const BOSS_QUEUE_PREFIX = '__pgboss';

/**
 * Moves the jobs of every queue of the old naming to their new queue; answers the new queues
 * that received jobs (their workers are notified at once). A job is moved only when it says
 * whose it is (its `tenant`): a queue holding anything else is left alone.
 */
export async function moveOldHostQueues(boss: PgBoss, queues: Queues, database: string): Promise<string[]> {
  const db = boss.getDb();
  const { rows: old } = await db.executeSql(
    `SELECT name FROM ${BOSS_SCHEMA}.queue
      WHERE strpos(name, '/') = 0 AND name <> $1 AND strpos(name, $2) <> 1`,
    [SHARED_QUEUE, BOSS_QUEUE_PREFIX],
  );
  const moved = new Set<string>();
  for (const { name } of old as { name: string }[]) {
    const { rows: tenants } = await db.executeSql(
      `SELECT data->>'tenant' AS tenant FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND data ? 'tenant'
        UNION SELECT data->>'tenant' FROM ${BOSS_SCHEMA}.archive WHERE name = $1 AND data ? 'tenant'`,
      [name],
    );
    // The new queues first (each made under the queue lock, which ensure takes itself).
    for (const { tenant } of tenants as { tenant: string }[]) await queues.ensure(hostQueue(tenant, name));
    await withQueueLock(database, async (session) => {
      await session.query('BEGIN');
      try {
        // PostgreSQL moves each row to its new queue's partition; the notifications go at commit.
        const { rows } = await session.query<{ queue: string }>(
          `WITH moved AS (
             UPDATE ${BOSS_SCHEMA}.job SET name = (data->>'tenant') || '/' || name
              WHERE name = $1 AND data ? 'tenant' RETURNING name
           )
           SELECT name AS queue, pg_notify($2, name) FROM (SELECT DISTINCT name FROM moved) queues`,
          [name, CHANNELS.queued],
        );
        await session.query(
          `UPDATE ${BOSS_SCHEMA}.archive SET name = (data->>'tenant') || '/' || name
            WHERE name = $1 AND data ? 'tenant'`,
          [name],
        );
        const { rows: left } = await session.query(
          `SELECT 1 FROM ${BOSS_SCHEMA}.job WHERE name = $1
            UNION ALL SELECT 1 FROM ${BOSS_SCHEMA}.archive WHERE name = $1 LIMIT 1`,
          [name],
        );
        if (left.length === 0) await session.query(`SELECT ${BOSS_SCHEMA}.delete_queue($1)`, [name]);
        await session.query('COMMIT');
        for (const { queue } of rows) moved.add(queue);
      } catch (error) {
        await session.query('ROLLBACK');
        throw error;
      }
    });
  }
  return [...moved];
}
