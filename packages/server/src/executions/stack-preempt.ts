/**
 * A HOT stack's update or delete (its uninstall) through the server takes the stack over while
 * its create or update runs, as `weft update` and `weft uninstall` do locally and as Heat's
 * convergence does (the engine's preemptStack): the execution running is asked to stop, and
 * waited for, before the new one starts. A deployment that is no HOT stack keeps refusing (409).
 */
import { type DeploymentRecord, type ExecutionRecord, preemptStack, type StackPreemptor } from '@weft/engine';
import type { FastifyBaseLogger } from 'fastify';
import type { ServerContext } from '../context.js';
import type { TenantState } from '../tenants.js';

/**
 * How long a wait for the stopped execution's end lasts without a notification before the store
 * is read again: its end is notified (by the run here, or relayed from the server process running
 * it), this only bounds a missed one (a cancel stored with no relay).
 */
const READ_AGAIN_MS = 1000;

/** A wait that is never aborted: a take-over waits for the end it asked for. */
const NEVER = new AbortController().signal;

/**
 * Stops the execution running the HOT stack's create or update (`update`), or any execution of it
 * (`delete`), and waits for its end. The execution stopped, or undefined when nothing needed to be.
 */
export async function preemptRunningStack(
  { runner, notifier }: Pick<ServerContext, 'runner' | 'notifier'>,
  tenant: TenantState,
  deployment: DeploymentRecord,
  by: StackPreemptor,
  log: FastifyBaseLogger,
): Promise<ExecutionRecord | undefined> {
  return preemptStack(
    tenant.store,
    deployment,
    by,
    {
      isRunning: (id) => runner.isRunningAnywhere(tenant.name, id),
      cancelStored: (id) => runner.cancelStored(tenant.name, id),
      changes: (id) => {
        const seen = notifier.seen(tenant.name, id);
        return async () => {
          await notifier.next(tenant.name, seen, READ_AGAIN_MS, NEVER, id);
        };
      },
    },
    (message) => log.info({ tenant: tenant.name, deployment: deployment.id }, message),
  );
}
