/**
 * `weft update`: change a deployment to a new blueprint or new inputs, as Cloudify's deployment
 * update does; and the state-aware `weft plan -d DEP`, which shows what an update would change.
 */
import {
  type DeploymentRecord,
  Diagnostics,
  diffInputs,
  type ExecutionRecord,
  fileSystemReader,
  type Json,
  Masker,
  type PreparedDeployment,
  planDeploymentUpdate,
  prepareDeployment,
  startDeploymentUpdate,
  type ValueMap,
} from '@weft/engine';
import type { Command } from 'commander';
import { readInputs } from '../inputs.js';
import { EXIT, inform, printJson, printProblems, UsageError } from '../output.js';
import type { State } from '../state.js';
import { stateOptions } from '../state.js';
import { blueprintFile, checkOperationFunctions, instanceCeiling, loadFromArgs } from './common.js';
import {
  executionParameters,
  finish,
  printOutputs,
  type RunFlags,
  requirePlugins,
  runExecution,
  runOptions,
  withState,
} from './execution.js';
import { collect } from './options.js';
import { deploymentOutputs } from './outputs.js';
import { pluginResolver } from './plugin-search.js';
import { pluginDispatcher } from './plugins.js';
import { updatePlanJson, updatePlanText } from './update-view.js';

export interface NextVersionFlags extends RunFlags {
  input?: string[];
}

/**
 * The deployment as the blueprint and inputs would make it, planned against its id. Inputs not
 * given keep the deployment's values where the blueprint still declares them (new ones are
 * merged over them, as Cloudify's update does). Undefined, with the problems printed (exit 2),
 * when the blueprint or the inputs are bad.
 */
export async function prepareNextVersion(
  state: State,
  existing: DeploymentRecord,
  blueprint: string,
  flags: NextVersionFlags,
  mergeInputs: boolean,
): Promise<PreparedDeployment | undefined> {
  const problems = new Diagnostics();
  const given = flags.input?.length ? readInputs(flags.input, problems) : undefined;
  if (!problems.ok) return refused(problems, flags);
  const checked = loadFromArgs(blueprint, { ...flags, deploymentId: existing.id }, true);
  await checkOperationFunctions(checked, flags);
  if (!checked.problems.ok || !checked.blueprint) return refused(checked.problems, flags);
  const declared = checked.blueprint.inputs;
  const kept = Object.fromEntries(
    Object.entries(existing.inputs).filter(([name]) => declared.has(name)),
  ) as ValueMap;
  const inputs = given === undefined ? kept : mergeInputs ? { ...kept, ...given } : given;
  const { problems: planProblems, prepared } = prepareDeployment({
    reader: fileSystemReader({ resolvePlugin: pluginResolver(flags, state.dir) }),
    blueprintPath: blueprintFile(blueprint),
    deploymentId: existing.id,
    inputs,
    ...instanceCeiling(),
  });
  if (!prepared) return refused(planProblems, flags);
  return prepared;
}

function refused(problems: Diagnostics, flags: { json?: boolean }): undefined {
  printProblems(problems, flags.json === true);
  process.exitCode = EXIT.badInput;
  return undefined;
}

type UpdateFlags = NextVersionFlags & {
  skipInstall?: boolean;
  skipUninstall?: boolean;
  skipReinstall?: boolean;
  reinstallList?: string[];
  ignoreFailure?: boolean;
  installFirst?: boolean;
  preview?: boolean;
};

/** The update workflow's parameters from the command's flags, as Cloudify names them. */
function updateParameters(flags: UpdateFlags): Record<string, Json> {
  return {
    ...executionParameters(flags),
    skip_install: flags.skipInstall === true,
    skip_uninstall: flags.skipUninstall === true,
    skip_reinstall: flags.skipReinstall === true,
    reinstall_list: (flags.reinstallList ?? []).flatMap((ids) => ids.split(',')).filter((id) => id !== ''),
    ignore_failure: flags.ignoreFailure === true,
    install_first: flags.installFirst === true,
  };
}

async function existingDeployment(state: State, id: string | undefined): Promise<DeploymentRecord> {
  if (!id) throw new UsageError('name the deployment to update with -d DEPLOYMENT');
  const deployment = await state.store.getDeployment(id);
  if (!deployment) {
    const ids = (await state.store.listDeployments()).map((d) => d.id);
    throw new UsageError(
      `no deployment '${id}' in ${state.location}${ids.length > 0 ? ` (there are: ${ids.join(', ')})` : ''}; weft install creates one`,
    );
  }
  return deployment;
}

/** Secret values, so that a diff never shows one. */
async function secretMasker(state: State): Promise<Masker> {
  const masker = new Masker();
  const secrets = await state.secrets.all().catch(() => ({}));
  for (const value of Object.values(secrets)) masker.add(value);
  return masker;
}

/** Prints what an update of the deployment to this blueprint and these inputs would change. */
export async function printUpdatePlan(
  state: State,
  deployment: DeploymentRecord,
  blueprint: string,
  flags: UpdateFlags,
): Promise<void> {
  const next = await prepareNextVersion(state, deployment, blueprint, flags, true);
  if (!next) return;
  const plan = await planDeploymentUpdate({
    store: state.store,
    deploymentId: deployment.id,
    next,
    parameters: updateParameters(flags),
    ...instanceCeiling(),
  });
  const instances = await state.store.listInstances(deployment.id);
  const document = updatePlanJson(
    deployment.id,
    plan,
    instances,
    diffInputs(deployment.inputs, next.deployment.inputs),
    await secretMasker(state),
  );
  if (flags.json) printJson(document);
  else process.stdout.write(updatePlanText(document, process.stdout));
}

async function update(state: State, blueprint: string, flags: UpdateFlags): Promise<void> {
  const deployment = await existingDeployment(state, flags.deploymentId);
  if (flags.preview) return printUpdatePlan(state, deployment, blueprint, flags);
  const next = await prepareNextVersion(state, deployment, blueprint, flags, true);
  if (!next) return;
  await state.secrets.all();
  const dispatcher = pluginDispatcher(next.deployment.model as never, flags, state.dir);
  requirePlugins(dispatcher, deployment.id);
  await dispatcher.load();
  const { execution, plan } = await startDeploymentUpdate({
    store: state.store,
    deploymentId: deployment.id,
    next,
    parameters: updateParameters(flags),
    ...instanceCeiling(),
  });
  const count = (action: string) => Object.values(plan.actions).filter((a) => a === action).length;
  inform(
    `Updating deployment '${deployment.id}': ${count('add')} instances to add, ${count('remove')} to remove, ${count('update')} to update, ${count('reinstall')} to reinstall, ${count('relink')} to relink`,
    flags.json,
  );
  const result: ExecutionRecord = await runExecution(state, execution, flags);
  if (result.status === 'terminated') await printOutputs(state, deployment.id, flags.json);
  else if (!flags.json)
    process.stderr.write(
      `The deployment is between its versions: its new blueprint is in place, not every change is. Continue the update with weft resume ${result.id}, or run weft update again.\n`,
    );
  finish(
    result,
    flags.json,
    flags.json && result.status === 'terminated'
      ? { ...(await deploymentOutputs(state, deployment.id)) }
      : {},
  );
}

export function updateCommand(program: Command): void {
  runOptions(
    stateOptions(
      program
        .command('update')
        .description("change a deployment to a new blueprint or new inputs (Cloudify's deployment update)")
        .argument('<blueprint>', 'the main blueprint file, or a directory holding blueprint.yaml')
        .option('-d, --deployment-id <ID>', 'the deployment to update')
        .option(
          '-i, --input <KEY=VALUE|FILE>',
          'an input value or a YAML/JSON inputs file (repeatable); inputs not given keep their values',
          collect,
        )
        .option('--skip-install', 'do not install the node instances the update adds')
        .option('--skip-uninstall', 'do not uninstall the node instances the update removes')
        .option('--skip-reinstall', 'do not reinstall changed node instances that have no update operations')
        .option(
          '--reinstall-list <IDS>',
          'node instances to reinstall, comma-separated (repeatable)',
          collect,
        )
        .option('--ignore-failure', 'go on when uninstalling removed instances fails')
        .option('--install-first', 'install what is added before uninstalling what is removed')
        .option('--preview', 'print what the update would change (as weft plan -d) and run nothing'),
    ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft plan blueprint-v2.yaml -d app          # what the update would change
  weft update blueprint-v2.yaml -d app -i replicas=3
  weft update blueprint-v2.yaml -d app --reinstall-list web_1a2b3c --install-first`,
    )
    .action((blueprint: string, flags: UpdateFlags) =>
      withState(flags, (state) => update(state, blueprint, flags)),
    );
}
