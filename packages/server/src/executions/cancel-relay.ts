/**
 * Cancels across server processes sharing one PostgreSQL database: a cancel is stored by the
 * process that was asked (any of them, behind a load balancer), while the execution runs in the
 * one holding its claim. The first tells the others with a NOTIFY and the one running it reads
 * the cancel at once, instead of at its next poll of the execution's status.
 */
import { JobSignals } from '../store/job-signals.js';
import type { ExecutionRunner } from './runner.js';

const CHANNEL = 'weft_execution_cancel';

export async function relayCancels(database: string, runner: ExecutionRunner): Promise<JobSignals> {
  const signals = await JobSignals.open(
    database,
    [CHANNEL],
    (_channel, payload) => {
      // Only says "look now": the run reads the status from the store (anyone able to connect can
      // NOTIFY, which at most makes a run read its status once more).
      const { tenant, execution } = JSON.parse(payload) as { tenant?: unknown; execution?: unknown };
      if (typeof tenant === 'string' && typeof execution === 'string')
        void runner.cancelHeard(tenant, execution);
    },
    // Cancels stored while the connection was down were not heard: every run looks.
    () => void runner.cancelsMissed(),
  );
  runner.relayCancels(async (tenant, execution) => {
    await signals.notify(CHANNEL, JSON.stringify({ tenant, execution }));
  });
  return signals;
}
