/**
 * `weft check`: runs the check_status and check_drift workflows on a deployment and reports the
 * instances whose real state differs from what was recorded, and how to bring them back.
 */

import { type DriftReport, driftReport, type ExecutionRecord, modelOf, startExecution } from '@weft/engine';
import type { Command } from 'commander';
import { EXIT, printJson } from '../output.js';
import { remoteOr } from '../remote/commands.js';
import { remoteDeploymentFor } from '../remote/run.js';
import { deploymentFor, type State, stateOptions } from '../state.js';
import { instanceCeiling } from './common.js';
import { pluginDispatcher } from './dispatchers.js';
import {
  executionParameters,
  type RunFlags,
  requirePlugins,
  runExecution,
  runOptions,
  withState,
} from './execution.js';

/** The workflows a check runs, in order: what each found makes the drift report. */
export const CHECK_WORKFLOWS = ['check_status', 'check_drift'];

/** Runs check_status then check_drift on the deployment's started instances; what they found. */
export async function checkDeployment(
  state: State,
  deploymentId: string,
  flags: RunFlags,
): Promise<{ report: DriftReport; executions: ExecutionRecord[] }> {
  await state.secrets.all();
  const deployment = await state.store.getDeployment(deploymentId);
  const dispatcher = pluginDispatcher(modelOf(deployment!.model), flags, state.dir);
  requirePlugins(dispatcher, deploymentId);
  await dispatcher.load();
  const executions: ExecutionRecord[] = [];
  for (const workflow of CHECK_WORKFLOWS) {
    const execution = await startExecution({
      store: state.store,
      dispatcher,
      deploymentId,
      workflow,
      parameters: executionParameters(flags),
      ...instanceCeiling(),
    });
    executions.push(await runExecution(state, execution, flags));
  }
  const [status, drift] = await Promise.all(executions.map((e) => state.store.listTasks(e.id)));
  return {
    report: driftReport(await state.store.listInstances(deploymentId), status!, drift!),
    executions,
  };
}

function reportText(deploymentId: string, report: DriftReport): string {
  const lines: string[] = [];
  const checked = report.instances.filter(
    (i) => i.status.checked || i.drift.checked || i.relationships.length > 0,
  );
  if (checked.length === 0)
    return `Deployment '${deploymentId}': none of its started instances implements check_status or check_drift; nothing was checked.\n`;
  lines.push(
    `Deployment '${deploymentId}': ${report.drifted.length} of ${report.instances.length} started instances drifted, ${report.unhealthy.length} unhealthy.`,
  );
  const shown = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
  for (const i of checked) {
    const status = !i.status.checked
      ? 'status not checked'
      : i.status.healthy
        ? 'healthy'
        : `unhealthy: ${i.status.error}`;
    const drift = !i.drift.checked
      ? 'drift not checked'
      : i.drift.error !== undefined
        ? `drift check failed: ${i.drift.error}`
        : i.drift.drifted
          ? `drifted: ${shown(i.drift.result)}`
          : 'no drift';
    const flagged = report.drifted.includes(i.instance) || report.unhealthy.includes(i.instance);
    lines.push(`  ${flagged ? '!' : ' '} ${i.instance}  ${status}; ${drift}`);
    for (const r of i.relationships.filter((r) => r.drifted))
      lines.push(
        `      relationship to ${r.target} (${r.side} side): ${r.error !== undefined ? `check failed: ${r.error}` : `drifted: ${shown(r.result)}`}`,
      );
  }
  if (report.drifted.length + report.unhealthy.length > 0)
    lines.push(
      `Bring them back with: weft update -d ${deploymentId} --refresh (updates in place, or reinstalls, what drifted or is unhealthy), or weft exec heal -d ${deploymentId} -p node_instance_id=ID`,
    );
  return `${lines.join('\n')}\n`;
}

export function checkCommand(program: Command): void {
  runOptions(
    stateOptions(
      program
        .command('check')
        .description('run check_status and check_drift: which instances differ from what was recorded')
        .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)'),
    ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft check -d app
  weft check -d app --json | jq '.drifted'`,
    )
    .action((flags: RunFlags & { deploymentId?: string }) =>
      remoteOr(
        flags,
        async (client) => {
          const { remoteCheckDeployment } = await import('../remote/check.js');
          const deploymentId = await remoteDeploymentFor(client, flags.deploymentId);
          printCheck(deploymentId, await remoteCheckDeployment(client, deploymentId, flags), flags.json);
        },
        () =>
          withState(flags, async (state) => {
            const deploymentId = await deploymentFor(state.store, flags.deploymentId);
            printCheck(deploymentId, await checkDeployment(state, deploymentId, flags), flags.json);
          }),
      ),
    );
}

/** What the checks found, as text or JSON; exit 1 when one of them did not succeed. */
function printCheck(
  deploymentId: string,
  { report, executions }: { report: DriftReport; executions: ExecutionRecord[] },
  json: boolean | undefined,
): void {
  if (json) printJson({ deploymentId, ...report, executions: executions.map((e) => e.id) });
  else process.stdout.write(reportText(deploymentId, report));
  process.exitCode = executions.every((e) => e.status === 'terminated') ? EXIT.ok : EXIT.failed;
}
