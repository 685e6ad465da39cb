/**
 * A HOT stack's update or delete takes the stack over while its create or update runs, as Heat's
 * convergence does (see the engine's preemptStack): the execution running is asked to stop, and
 * waited for.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { type DeploymentRecord, preemptStack } from '@weft/engine';
import { inform } from '../output.js';
import { runnerOf, type State } from '../state.js';

/**
 * How often the store is read for the end of the execution that was asked to stop. Polled: the
 * execution runs in another process (its `weft install` or `weft update`), and the store tells no
 * one of a change (a SQLite file has no notifications, and the Store has no subscription; the
 * server waits on its own runs and its event notifier instead), as `weft events --follow` polls.
 */
const POLL_MS = 100;

/**
 * Stops the execution running a HOT stack's create or update before an update of it (`update`:
 * what is under way finishes, as a cancel without rollback) or before its delete (`delete`: any
 * execution, its running operations stopped, as `weft cancel --force`). Nothing for another
 * deployment, or when nothing runs. Whether it stopped one.
 */
export async function preemptRunningStack(
  state: State,
  deployment: DeploymentRecord,
  by: 'update' | 'delete',
  json: boolean | undefined,
): Promise<boolean> {
  const stopped = await preemptStack(
    state.store,
    deployment,
    by,
    {
      isRunning: async (id) => runnerOf(state.dir, id) !== undefined,
      changes: () => () => delay(POLL_MS),
    },
    (message) => inform(message, json),
  );
  return stopped !== undefined;
}
