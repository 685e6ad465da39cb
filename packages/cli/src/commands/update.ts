/**
 * `weft update`: change a deployment to a new blueprint or new inputs, as Cloudify's deployment
 * update does; and the state-aware `weft plan -d DEP`, which shows what an update would change.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import {
  type DeploymentRecord,
  Diagnostics,
  type DriftReport,
  type ExecutionRecord,
  fileSystemReader,
  finalModel,
  hiddenValues,
  isSpareMember,
  isStackResourceType,
  type Json,
  Masker,
  modelOf,
  type NextVersion,
  type NodeModel,
  nextVersion,
  openDeployment,
  type PreparedDeployment,
  planDeploymentUpdate,
  prepareUpdateVersion,
  refuseSuspendedUpdate,
  rollbackTarget,
  type SavedUpdatePlan,
  type StackRestore,
  savedUpdateVersion,
  saveUpdatePlan,
  startDeploymentUpdate,
  updateInputChanges,
  updateWorkflowParameters,
} from '@weft/engine';
import type { Command } from 'commander';
import { EXIT, inform, printJson, printProblems, UsageError } from '../output.js';
import { remoteOr } from '../remote/commands.js';
import type { State } from '../state.js';
import { stateOptions } from '../state.js';
import {
  blueprintFile,
  checkOperationFunctions,
  environmentFiles,
  givenInputs,
  instanceCeiling,
  loadFromArgs,
} from './common.js';
import { pluginDispatcher } from './dispatchers.js';
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
import { withExistingTemplate } from './existing-template.js';
import { collect, heatOptions } from './options.js';
import { deploymentOutputs } from './outputs.js';
import { pluginReaderOptions } from './plugin-search.js';
import { ROLLBACK_HISTORY, rollbackUninstalls } from './rollback-choice.js';
import { preemptRunningStack } from './stack-preempt.js';
import { heatPreview, heatPreviewText, updatePlanJson, updatePlanText } from './update-view.js';

export interface NextVersionFlags extends RunFlags {
  input?: string[];
  parameter?: string[];
  environment?: string[];
}

/**
 * The deployment as the blueprint and inputs would make it, planned against its id, with the
 * inputs the engine's nextInputs chooses (the server's update chooses them the same way).
 * Undefined, with the problems printed (exit 2), when the blueprint or the inputs are bad.
 */
export async function prepareNextVersion(
  state: State,
  existing: DeploymentRecord,
  blueprint: string,
  flags: NextVersionFlags,
  mergeInputs: boolean,
): Promise<(PreparedDeployment & { hidden?: string[] }) | undefined> {
  const problems = new Diagnostics();
  const given = givenInputs(flags, problems);
  if (!problems.ok) return refused(problems, flags);
  // Checked without the inputs given: those not given keep the deployment's values, so a
  // required input the deployment has is not missing (the merged inputs are checked below).
  const { input: _input, parameter: _parameter, ...blueprintFlags } = flags;
  const checked = loadFromArgs(blueprint, { ...blueprintFlags, deploymentId: existing.id }, true);
  await checkOperationFunctions(checked, flags);
  if (!checked.problems.ok || !checked.blueprint) return refused(checked.problems, flags);
  const { problems: planProblems, prepared } = prepareUpdateVersion({
    reader: fileSystemReader(pluginReaderOptions(flags, state.dir)),
    blueprintPath: blueprintFile(blueprint),
    existing,
    checked,
    given,
    mergeInputs,
    ...environmentFiles(flags),
    ...instanceCeiling(),
  });
  if (!prepared) return refused(planProblems, flags);
  return prepared;
}

/** -b names a blueprint stored on a server; locally the blueprint is a file. */
export function blueprintIdLocally(): UsageError {
  return new UsageError(
    '-b/--blueprint-id names a blueprint stored on a server (weft profiles use NAME); locally, give the blueprint file instead',
  );
}

function refused(problems: Diagnostics, flags: { json?: boolean }): undefined {
  printProblems(problems, flags.json === true);
  process.exitCode = EXIT.badInput;
  return undefined;
}

export type UpdateFlags = NextVersionFlags & {
  /** With a server: the stored blueprint to update to. */
  blueprintId?: string;
  skipInstall?: boolean;
  skipUninstall?: boolean;
  skipReinstall?: boolean;
  reinstallList?: string[];
  ignoreFailure?: boolean;
  installFirst?: boolean;
  preview?: boolean;
  dryRun?: boolean;
  rollbackOnFailure?: boolean;
  /** plan -d: where to save the plan. */
  out?: string;
  /** update: the saved plan to apply. */
  plan?: string;
  refresh?: boolean;
  /** Heat's PATCH update: the stack's own template and environment (withExistingTemplate). */
  existing?: boolean;
};

/** The update workflow's parameters from the command's flags, as Cloudify names them. */
export function updateParameters(flags: UpdateFlags): Record<string, Json> {
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
  // Its inputs are kept or compared as they were given: opened.
  return openDeployment(deployment, state.secrets.sealer());
}

/** Secret values and the deployment's hidden inputs' values, so that a diff never shows one. */
async function secretMasker(state: State, deployment: DeploymentRecord): Promise<Masker> {
  const masker = new Masker();
  const secrets = await state.secrets.all().catch(() => new Map());
  for (const value of secrets.values()) masker.add(value);
  for (const value of hiddenValues(deployment)) masker.add(value);
  return masker;
}

/** Writes a saved plan (`weft plan -d DEP --out FILE`) and says how to apply it. */
export function writeSavedPlan(file: string, saved: SavedUpdatePlan, json: boolean | undefined): void {
  // It holds the inputs (the secret ones sealed): for its owner only.
  writeFileSync(file, `${JSON.stringify(saved)}\n`, { mode: 0o600 });
  inform(`Plan saved to ${file}; apply it with: weft update -d ${saved.deploymentId} --plan ${file}`, json);
}

/** What `--refresh` updates: the instances the check found drifted or unhealthy (said to the user). */
export function refreshTargets(report: DriftReport, json: boolean | undefined): string[] {
  const refresh = [...new Set([...report.drifted, ...report.unhealthy])];
  inform(
    refresh.length > 0
      ? `Drifted or unhealthy, to update or reinstall: ${refresh.join(', ')}`
      : 'No instance drifted or is unhealthy',
    json,
  );
  return refresh;
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
  const parameters = updateParameters(flags);
  // The plugins are loaded (nothing of theirs runs) to tell which resources would be replaced.
  const dispatcher = pluginDispatcher(modelOf(next.deployment.model), flags, state.dir);
  const plan = await planDeploymentUpdate({
    store: state.store,
    sealer: state.secrets.sealer(),
    deploymentId: deployment.id,
    next: nextVersion(next),
    parameters,
    operationFunction: (operation) => dispatcher.operationFunction(operation),
    ...instanceCeiling(),
  });
  // A HOT template's hidden parameters are masked as secrets are, before and after; what the plan
  // masks, a saved plan holds sealed.
  const { inputs, masker } = updateInputChanges(deployment, next, await secretMasker(state, deployment));
  if (flags.out)
    writeSavedPlan(
      flags.out,
      await saveUpdatePlan(
        state.store,
        deployment.id,
        { ...nextVersion(next), blueprint: next.blueprint },
        parameters,
        { sealer: state.secrets.sealer(), secrets: masker },
      ),
      flags.json,
    );
  const instances = await state.store.listInstances(deployment.id);
  const document = updatePlanJson(deployment.id, plan, instances, inputs, masker);
  if (flags.dryRun) {
    const before = modelOf(deployment.model).nodes;
    const after = modelOf(next.deployment.model).nodes;
    // A group's spare members are no resources of Heat's (but while a rolling update needs them).
    const resource = (node: NodeModel | undefined) => node !== undefined && !isSpareMember(node);
    const names = new Set(
      [...Object.keys(before), ...Object.keys(after)].filter(
        (name) => resource(before[name]) || resource(after[name]),
      ),
    );
    const stackResources = new Set(
      [...names].filter(
        (name) => isStackResourceType(before[name]?.type ?? '') && before[name]?.type === after[name]?.type,
      ),
    );
    const preview = heatPreview(document, [...names], stackResources);
    if (flags.json)
      printJson({ schemaVersion: document.schemaVersion, deploymentId: deployment.id, ...preview });
    else process.stdout.write(heatPreviewText(deployment.id, preview));
    return;
  }
  if (flags.json) printJson(document);
  else process.stdout.write(updatePlanText(document, process.stdout));
}

async function update(state: State, blueprint: string | undefined, flags: UpdateFlags): Promise<void> {
  let deployment = await existingDeployment(state, flags.deploymentId);
  // An update that was running may have changed the deployment before it stopped.
  if (!flags.dryRun && !flags.preview && (await preemptRunningStack(state, deployment, 'update', flags.json)))
    deployment = await existingDeployment(state, flags.deploymentId);
  if (flags.existing) {
    if (blueprint !== undefined || flags.plan !== undefined)
      throw new UsageError('--existing updates the stack with its own template: give no template or plan');
    return withExistingTemplate(state, deployment, flags.environment ?? [], (template, environment) =>
      updateTo(state, deployment, template, { ...flags, environment }),
    );
  }
  return updateTo(state, deployment, blueprint, flags);
}

async function updateTo(
  state: State,
  deployment: DeploymentRecord,
  blueprint: string | undefined,
  flags: UpdateFlags,
): Promise<void> {
  if (!flags.dryRun && !flags.preview) await refuseSuspendedUpdate(state.store, deployment);
  const saved = givenSavedPlan(flags, blueprint);
  if (blueprint === undefined && saved === undefined && !flags.refresh)
    throw new UsageError(
      'name the new blueprint, or a saved plan with --plan FILE (or --refresh alone to bring back what drifted)',
    );
  let version: { next: NextVersion; parameters: Record<string, Json> };
  if (saved !== undefined) {
    version = await savedUpdateVersion(state.store, deployment.id, saved, state.secrets.sealer());
  } else if (blueprint === undefined) {
    // --refresh alone: the deployment's own version, with what drifted brought back.
    refuseRefreshInputs(flags, blueprint, saved);
    const model = finalModel(modelOf(deployment.model)) as unknown as Json;
    version = {
      next: { blueprintId: deployment.blueprintId, inputs: deployment.inputs, model },
      parameters: updateParameters(flags),
    };
  } else {
    if (flags.preview || flags.dryRun) return printUpdatePlan(state, deployment, blueprint, flags);
    const next = await prepareNextVersion(state, deployment, blueprint, flags, true);
    if (!next) return;
    version = { next: nextVersion(next), parameters: updateParameters(flags) };
  }
  let refresh: string[] = [];
  if (flags.refresh) {
    const { checkDeployment } = await import('./check.js');
    const { report } = await checkDeployment(state, deployment.id, flags);
    refresh = refreshTargets(report, flags.json);
  }
  const result = await runUpdate(
    state,
    deployment.id,
    version.next,
    version.parameters,
    flags,
    'update',
    refresh,
  );
  // As Heat's stack cancel (cancel_update): a HOT stack whose update is cancelled rolls back to
  // its previous template, unless the cancel asked not to (cancel_without_rollback).
  const cancelledStack =
    result.status === 'cancelled' &&
    modelOf(deployment.model).blueprint.heatTemplateVersion !== undefined &&
    (await state.store.getExecution(result.id))?.cancelRequest?.rollback !== false;
  if (result.status !== 'terminated' && (flags.rollbackOnFailure || cancelledStack)) {
    inform(
      `The update ${result.status === 'cancelled' ? 'was cancelled' : 'failed'}: rolling deployment '${deployment.id}' back to its previous version`,
      flags.json,
    );
    await rollback(state, deployment.id, executionParameters(flags), flags);
    // The update failed, whatever the rollback did.
    if (process.exitCode === EXIT.ok) process.exitCode = EXIT.failed;
    return;
  }
  await reportUpdate(state, deployment.id, result, flags);
}

/** Starts an update (or a rollback) to the given version and runs it to its end. */
export async function runUpdate(
  state: State,
  deploymentId: string,
  next: NextVersion,
  parameters: Record<string, Json>,
  flags: RunFlags,
  workflow: 'update' | 'rollback',
  refresh: string[] = [],
  restore?: StackRestore,
): Promise<ExecutionRecord> {
  await state.secrets.all();
  const dispatcher = pluginDispatcher(modelOf(next.model), flags, state.dir);
  requirePlugins(dispatcher, deploymentId);
  await dispatcher.load();
  const { execution, plan } = await startDeploymentUpdate({
    store: state.store,
    sealer: state.secrets.sealer(),
    deploymentId,
    next,
    parameters,
    workflow,
    refresh,
    ...(restore ? { restore } : {}),
    operationFunction: (operation) => dispatcher.operationFunction(operation),
    ...instanceCeiling(),
  });
  const count = (action: string) =>
    Object.entries(plan.actions).filter(([id, a]) => (plan.replacements[id] ? 'replace' : a) === action)
      .length;
  const parts = (['add', 'remove', 'update', 'replace', 'reinstall', 'relink', 'install'] as const)
    .filter((action) => count(action) > 0)
    .map((action) => `${count(action)} to ${action}`);
  inform(
    `${restore ? `Restoring stack '${deploymentId}' from snapshot ${restore.snapshot}` : `${workflow === 'update' ? 'Updating' : 'Rolling back'} deployment '${deploymentId}'`}: ${parts.length > 0 ? `node instances ${parts.join(', ')}` : 'no node instance changes'}`,
    flags.json,
  );
  return runExecution(state, execution, flags);
}

export async function reportUpdate(
  state: State,
  deploymentId: string,
  result: ExecutionRecord,
  flags: RunFlags,
  again = 'run weft update again',
) {
  if (result.status === 'terminated') await printOutputs(state, deploymentId, flags.json);
  else if (!flags.json)
    process.stderr.write(
      `Deployment '${deploymentId}' is between two versions: the new blueprint is in place, not every change is. Continue with weft resume ${result.id}, go back with weft exec rollback -d ${deploymentId}, or ${again}.\n`,
    );
  finish(
    result,
    flags.json,
    flags.json && result.status === 'terminated' ? { ...(await deploymentOutputs(state, deploymentId)) } : {},
  );
}

/**
 * `--refresh` without a blueprint (or a saved plan) updates to the deployment's own version:
 * inputs given with it are refused, locally and with a server alike.
 */
export function refuseRefreshInputs(flags: UpdateFlags, blueprint: string | undefined, saved: unknown): void {
  if (flags.refresh && blueprint === undefined && saved === undefined && flags.input?.length)
    throw new UsageError(
      "name the blueprint to update the inputs with (the deployment's own, to change only them)",
    );
}

/**
 * The saved plan --plan names, read; refused with a blueprint (a file, or -b with a server) or
 * with inputs, which the plan holds.
 */
export function givenSavedPlan(flags: UpdateFlags, blueprint: string | undefined): unknown {
  if (flags.plan === undefined) return undefined;
  if (blueprint !== undefined)
    throw new UsageError('name the new blueprint or a saved plan (--plan FILE), not both');
  const given = flags.input?.length ? '-i' : flags.parameter?.length ? '-p' : undefined;
  if (given) throw new UsageError(`a saved plan holds its inputs: ${given} cannot change them`);
  return readSavedPlan(flags.plan);
}

function readSavedPlan(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read the saved plan ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(
      `${file} is not a saved update plan (not JSON); weft plan BLUEPRINT -d DEPLOYMENT --out FILE makes one`,
    );
  }
}

/**
 * `weft exec rollback`: after an update (failed or not), the update back to the version before
 * it; after a failed install, its uninstall.
 */
export async function rollback(
  state: State,
  deploymentId: string,
  params: Record<string, Json>,
  flags: RunFlags,
): Promise<void> {
  const last = (await state.store.listExecutions(deploymentId))
    .filter((e) => ROLLBACK_HISTORY.includes(e.workflow))
    .at(-1);
  if (rollbackUninstalls(last, deploymentId, flags.json)) {
    const { execute } = await import('./execution.js');
    await execute(state, deploymentId, 'uninstall', params, flags);
    return;
  }
  const { target } = await rollbackTarget(state.store, deploymentId);
  const result = await runUpdate(
    state,
    deploymentId,
    { blueprintId: target.blueprintId, inputs: target.inputs, model: target.model },
    params,
    flags,
    'rollback',
  );
  await reportUpdate(state, deploymentId, result, flags);
}

/**
 * `weft exec update -p blueprint=PATH [-p inputs={...}] [-p skip_install=true ...]`: the update
 * as a workflow with Cloudify's parameters; without `blueprint`, the deployment's own (an
 * inputs-only update).
 */
export async function execUpdate(
  state: State,
  deploymentId: string,
  params: Record<string, Json>,
  flags: RunFlags,
): Promise<void> {
  const deployment = await existingDeployment(state, deploymentId);
  await refuseSuspendedUpdate(state.store, deployment);
  const { blueprint, inputs, parameters: rest } = updateWorkflowParameters(params);
  const model = modelOf(deployment.model);
  const path = blueprint ?? model.blueprint.mainFile;
  const given = inputs ? Object.entries(inputs).map(([k, v]) => `${k}=${JSON.stringify(v)}`) : [];
  const next = await prepareNextVersion(
    state,
    deployment,
    path,
    { ...flags, input: given, parameter: [] },
    true,
  );
  if (!next) return;
  const result = await runUpdate(state, deployment.id, nextVersion(next), rest, flags, 'update');
  await reportUpdate(state, deployment.id, result, flags);
}

export function updateCommand(program: Command): void {
  heatOptions(
    runOptions(
      stateOptions(
        program
          .command('update')
          .description("change a deployment to a new blueprint or new inputs (Cloudify's deployment update)")
          .argument('[blueprint]', 'the main blueprint file, or a directory holding blueprint.yaml')
          .option('-d, --deployment-id <ID>', 'the deployment to update')
          .option(
            '-b, --blueprint-id <ID>',
            "with a server: the stored blueprint to update to (weft blueprints upload; default: the deployment's own)",
          )
          .option(
            '--plan <FILE>',
            'apply a plan saved by weft plan -d DEP --out FILE (refused if the deployment changed since)',
          )
          .option(
            '-i, --input <KEY=VALUE|FILE>',
            'an input value or a YAML/JSON inputs file (repeatable); inputs not given keep their values',
            collect,
          )
          .option('--skip-install', 'do not install the node instances the update adds')
          .option('--skip-uninstall', 'do not uninstall the node instances the update removes')
          .option(
            '--skip-reinstall',
            'do not reinstall changed node instances that have no update operations',
          )
          .option(
            '--reinstall-list <IDS>',
            'node instances to reinstall, comma-separated (repeatable)',
            collect,
          )
          .option('--ignore-failure', 'go on when uninstalling removed instances fails')
          .option('--install-first', 'install what is added before uninstalling what is removed')
          .option('--preview', 'print what the update would change (as weft plan -d) and run nothing')
          .option(
            '--dry-run',
            "print what the update would do to each resource, as Heat's stack update --dry-run (added, deleted, updated, replaced, unchanged), and run nothing",
          )
          .option(
            '--refresh',
            "first run check_status and check_drift, and update in place or reinstall what drifted or is unhealthy (alone: with the deployment's own blueprint)",
          )
          .option(
            '--rollback-on-failure',
            'when the update fails, roll the deployment back to its previous version',
          )
          .option(
            '--existing',
            "a HOT stack with its own template and files (Heat's stack update --existing): the parameters given (-p) over its own, the environments given (-e) over its own",
          ),
      ),
    ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft plan blueprint-v2.yaml -d app          # what the update would change
  weft update blueprint-v2.yaml -d app -i replicas=3
  weft update blueprint-v2.yaml -d app --reinstall-list web_1a2b3c --install-first
  weft update -b app-v2 -d app                # with a server: to a blueprint uploaded there`,
    )
    .action((blueprint: string | undefined, flags: UpdateFlags) =>
      remoteOr(
        flags,
        async (client) => {
          const { refuseBlueprintPath, refuseExistingWith, refuseLocalOnly, remoteUpdate } = await import(
            '../remote/update.js'
          );
          refuseLocalOnly(flags, 'update');
          refuseExistingWith(blueprint, flags);
          refuseBlueprintPath(blueprint, 'update');
          await remoteUpdate(client, flags);
        },
        () => {
          if (flags.blueprintId !== undefined) throw blueprintIdLocally();
          return withState(flags, (state) => update(state, blueprint, flags));
        },
      ),
    );
}
