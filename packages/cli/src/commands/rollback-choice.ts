/**
 * What `weft exec rollback` undoes, locally and with a server: after an update (failed or not),
 * the update back to the version before it; after an install that did not succeed, its uninstall.
 */
import { inform, UsageError } from '../output.js';

/** The workflows whose last run decides what a rollback undoes. */
export const ROLLBACK_HISTORY = ['install', 'update', 'rollback'];

/**
 * Whether the rollback is the uninstall of an unfinished install (said to the user), given the
 * deployment's last execution of {@link ROLLBACK_HISTORY}; refused after a successful install that
 * was never updated.
 */
export function rollbackUninstalls(
  last: { workflow: string; status: string } | undefined,
  deploymentId: string,
  json: boolean | undefined,
): boolean {
  if (last?.workflow !== 'install') return false;
  if (last.status === 'terminated')
    throw new UsageError(
      `the install of deployment '${deploymentId}' succeeded and it was never updated: there is nothing to roll back (weft uninstall -d ${deploymentId} tears it down)`,
    );
  inform(
    `Rolling back the unfinished install of deployment '${deploymentId}': uninstalling what it created`,
    json,
  );
  return true;
}
