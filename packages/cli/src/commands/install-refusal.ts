import { type DeploymentChanges, describeChanges } from '@weft/engine';
import { UsageError } from '../output.js';

/**
 * `weft install` on a deployment created from another blueprint or other inputs, locally and with
 * a server alike: refused, with the files, nodes and input names that differ, and how to change it.
 */
export function installRefusal(
  deploymentId: string,
  changes: DeploymentChanges,
  howToChange: string,
): UsageError {
  return new UsageError(
    [
      `deployment '${deploymentId}' was created from another blueprint or other inputs; weft install does not change it:`,
      ...describeChanges(changes).map((line) => `  ${line}`),
      `To change the deployment: ${howToChange}. To install this blueprint next to it, give it another id with -d.`,
    ].join('\n'),
  );
}
