// A deployment update as an execution: planned against the stored deployment, started with the
// new model in the same transaction as its execution (so after a crash the deployment is either
// on its old model, or on the new one with the update resumable), and finished once it succeeded.
// A rollback is an update back to the version before the last one.
import { createHash, randomUUID } from 'node:crypto';
import type { Json } from '@weft/sdk';
import { WeftError } from '@weft/sdk/errors';
import { RESTORE_KEY } from '@weft/sdk/resource-keys';
import type { Masker } from '../executor/masker.js';
import { heatStackState } from '../hot/states.js';
import { modelOf } from '../model/deployment-model.js';
import { SecretKeyError } from '../secrets/crypto.js';
import { openSealed, type Sealer } from '../secrets/sealed.js';
import type {
  BlueprintRecord,
  DeploymentRecord,
  DeploymentVersionRecord,
  ExecutionRecord,
  Store,
} from '../store/types.js';
import { EXECUTION_PARAMETERS, WorkflowError } from '../workflows/builtin.js';
import { finalModel, planUpdate, type UpdatePlan, updateParameters } from '../workflows/update.js';
import { blueprintId, type PreparedDeployment, taskRecords } from './deployments.js';
import { type OperationFunctionOf, resourceReplacements } from './replacements.js';
import { openDeployment, sealDeployment } from './sealed-deployment.js';

const now = () => new Date().toISOString();

/** What a deployment update goes to: a blueprint (stored first when given whole), inputs and model. */
export interface NextVersion {
  blueprintId: string;
  inputs: Record<string, Json>;
  model: Json;
  blueprint?: BlueprintRecord;
}

/** The next version of a deployment from a blueprint prepared anew (prepareDeployment). */
export function nextVersion(prepared: PreparedDeployment): NextVersion {
  return {
    blueprintId: prepared.blueprint.id,
    inputs: prepared.deployment.inputs,
    model: prepared.deployment.model,
    blueprint: prepared.blueprint,
  };
}

/** Where an update's execution keeps what to do once it has succeeded. */
interface UpdateRecord {
  removed: string[];
  relationships: Record<string, Json>;
  fromVersion: number;
  toVersion: number;
}

export interface PlanDeploymentUpdateOptions {
  store: Store;
  deploymentId: string;
  next: NextVersion;
  /** The update workflow's parameters (skip_install, reinstall_list...) and the common ones. */
  parameters?: Record<string, Json>;
  maxInstances?: number;
  /** Instances a check found drifted or unhealthy: updated or reinstalled whatever changed. */
  refresh?: string[];
  /**
   * The functions the operations run (plugin modules loaded): with it, the plan tells which
   * Heat-style resources the update replaces rather than updates in place (`replacements`).
   */
  operationFunction?: OperationFunctionOf;
  /** Opens the stored deployment's sealed values, and seals the new version's (sealed-deployment.ts). */
  sealer?: Sealer;
}

const UPDATE_PARAMETER_NAMES = [
  'skip_install',
  'skip_uninstall',
  'skip_reinstall',
  'reinstall_list',
  'ignore_failure',
  'install_first',
];

/** The update's plan against the stored deployment, without storing anything. */
export async function planDeploymentUpdate(
  options: PlanDeploymentUpdateOptions & { restore?: boolean; snapshot?: boolean },
): Promise<UpdatePlan> {
  const refresh = options.refresh ?? [];
  const stored = await options.store.getDeployment(options.deploymentId);
  if (!stored) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  // Compared as given: a sealed value differs from the same value given again.
  const deployment = openDeployment(stored, options.sealer);
  const instances = await options.store.listInstances(deployment.id);
  const current = modelOf(deployment.model);
  const plan = planUpdate(
    current,
    instances,
    // A rollback's next version is a stored one: sealed.
    modelOf(options.sealer ? openSealed(options.next.model, options.sealer) : options.next.model),
    deployment.id,
    {
      ...updateParameters(options.parameters ?? {}),
      restore: options.restore === true,
      snapshot: options.snapshot === true,
      refresh,
    },
    options.maxInstances,
  );
  if (options.operationFunction)
    plan.replacements = await resourceReplacements(plan, current, options.operationFunction);
  return plan;
}

/**
 * Refuses (WorkflowError) a parameter the update workflow does not have; also checked where the
 * update is started on a server, so that the refusal is the same there.
 */
export function checkUpdateParameterNames(
  workflow: 'update' | 'rollback',
  given: Record<string, Json>,
): void {
  for (const name of Object.keys(given))
    if (!UPDATE_PARAMETER_NAMES.includes(name) && !EXECUTION_PARAMETERS.includes(name))
      throw new WorkflowError(
        `workflow '${workflow}' has no parameter '${name}' (it has: ${UPDATE_PARAMETER_NAMES.join(', ')})`,
      );
}

/**
 * The update workflow's parameters when it is started as a workflow (`weft exec update`, `POST
 * /executions` with workflowId update), as Cloudify names them: the blueprint (a file locally, a
 * stored blueprint's id on a server), the inputs (a map), and the update's own parameters; refused
 * (WorkflowError) when it does not have them or they are not of their type, everywhere alike.
 */
export function updateWorkflowParameters(params: Record<string, Json>): {
  blueprint?: string;
  inputs?: Record<string, Json>;
  parameters: Record<string, Json>;
} {
  const { blueprint, inputs, ...parameters } = params;
  if (blueprint !== undefined && (typeof blueprint !== 'string' || blueprint === ''))
    throw new WorkflowError("workflow 'update' parameter 'blueprint' must name the blueprint to update to");
  if (inputs !== undefined && (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)))
    throw new WorkflowError("workflow 'update' parameter 'inputs' must be a map of input names to values");
  checkUpdateParameterNames('update', parameters);
  // Read as the update reads them when it starts: one not of its type is refused here.
  updateParameters(parameters);
  return {
    ...(blueprint !== undefined ? { blueprint } : {}),
    ...(inputs ? { inputs } : {}),
    parameters,
  };
}

/** A HOT stack that is suspended: it is resumed before it is updated, as Heat requires. */
export class SuspendedStackError extends WeftError {
  static override readonly code = 'stack_suspended';
  static override readonly kind = 'usage';
  constructor(readonly deploymentId: string) {
    super(
      `Updating a stack when it is suspended is not supported: resume it first (weft exec resume -d ${deploymentId})`,
    );
    this.name = 'SuspendedStackError';
  }
}

/**
 * Refuses (SuspendedStackError) to update a HOT stack whose last action was a suspend, as Heat
 * does. Checked by startDeploymentUpdate, so that every way to start an update refuses it; the
 * CLI and the server also check it first, before the new version is loaded.
 */
export async function refuseSuspendedUpdate(store: Store, deployment: DeploymentRecord): Promise<void> {
  if (modelOf(deployment.model).blueprint.heatTemplateVersion === undefined) return;
  refuseSuspendedStack(deployment.id, heatStackState(await store.listExecutions(deployment.id)));
}

/** The same refusal from a stack's state as Heat names it (heatStackState, a server's stackStatus). */
export function refuseSuspendedStack(deploymentId: string, stackState: string): void {
  if (stackState.startsWith('SUSPEND_')) throw new SuspendedStackError(deploymentId);
}

/**
 * Plans the update and creates its execution (pending), storing the new blueprint, the
 * transition model, the added instances and the new version in the same transaction.
 */
export async function startDeploymentUpdate(
  options: PlanDeploymentUpdateOptions & {
    workflow?: 'update' | 'rollback';
    /** The execution's id when the caller needs it before it is stored (as startExecution's). */
    id?: string;
    /**
     * A HOT stack's restore from a snapshot (Heat's stack restore, action RESTORE): the update goes
     * to the snapshot's version, and each instance of a node the snapshot kept data of, present or
     * added by the update, holds that data while the restore runs (resumed too), so that a resource
     * it makes anew is brought back from it (Resource.handleRestore) instead of created new.
     */
    restore?: StackRestore;
  },
): Promise<{ execution: ExecutionRecord; plan: UpdatePlan }> {
  const { store, sealer } = options;
  const workflow = options.workflow ?? 'update';
  const deployment = await store.getDeployment(options.deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  const stored = deployment;
  // Only what is sealed: the rest of the stored record (its blueprint id) is not the next version's.
  const seal = (model: Json, inputs: Record<string, Json>) => {
    if (!sealer) return { model, inputs };
    const sealed = sealDeployment({ ...stored, model, inputs }, sealer);
    return { model: sealed.model, inputs: sealed.inputs };
  };
  // A rollback puts back the version before an update; only an update is refused when suspended.
  if (workflow === 'update') await refuseSuspendedUpdate(store, deployment);
  const given = options.parameters ?? {};
  checkUpdateParameterNames(workflow, given);
  const plan = await planDeploymentUpdate({
    ...options,
    restore: workflow === 'rollback',
    snapshot: options.restore !== undefined,
  });
  const next = { ...options.next, ...seal(options.next.model, options.next.inputs) };
  const versions = await store.listDeploymentVersions(deployment.id);
  const recorded: DeploymentVersionRecord[] = [];
  if (versions.length === 0)
    recorded.push({
      deploymentId: deployment.id,
      version: 1,
      blueprintId: deployment.blueprintId,
      inputs: deployment.inputs,
      model: finalModel(modelOf(deployment.model)) as unknown as Json,
      executionId: null,
      createdAt: deployment.createdAt,
    });
  const fromVersion = versions.at(-1)?.version ?? 1;
  const kept = options.restore?.resources ?? {};
  for (const instance of plan.added)
    if (Object.hasOwn(kept, instance.node))
      instance.runtimeProperties = { ...instance.runtimeProperties, [RESTORE_KEY]: kept[instance.node]! };
  const record: UpdateRecord = {
    removed: plan.removed,
    relationships: plan.finalRelationships as unknown as Record<string, Json>,
    fromVersion,
    toVersion: fromVersion + 1,
  };
  const execution: ExecutionRecord = {
    id: options.id ?? randomUUID(),
    deploymentId: deployment.id,
    workflow,
    parameters: {
      ...given,
      ...(updateParameters(given) as unknown as Record<string, Json>),
      update: record as unknown as Json,
      ...(options.restore ? { restore: options.restore.snapshot } : {}),
    },
    status: 'pending',
    error: null,
    createdAt: now(),
    startedAt: null,
    endedAt: null,
  };
  recorded.push({
    deploymentId: deployment.id,
    version: record.toVersion,
    blueprintId: next.blueprintId,
    inputs: next.inputs,
    model: next.model,
    executionId: execution.id,
    createdAt: execution.createdAt,
  });
  if (next.blueprint) await store.putBlueprint(next.blueprint);
  await store.createExecution(execution, taskRecords(execution.id, plan.graph), {
    deploymentId: deployment.id,
    deployment: {
      // Sealed by the values its inputs hold, opened: a rollback's inputs are a stored version's,
      // sealed, in which no value of the (opened) transition model would be recognised.
      model: seal(
        plan.transition as unknown as Json,
        sealer ? (openSealed(options.next.inputs, sealer) as Record<string, Json>) : options.next.inputs,
      ).model,
      blueprintId: next.blueprintId,
      inputs: next.inputs,
    },
    addInstances: plan.added,
    relationships: plan.relationships as unknown as Record<string, Json>,
    moveInstances: plan.retired,
    versions: recorded,
  });
  // Once the execution is the deployment's (no other one runs): the instances that stay hold what
  // the snapshot kept of theirs, and what an earlier restore left (it failed, and this is not its
  // resume) is taken from them, being for that one alone.
  if (options.restore || modelOf(deployment.model).blueprint.heatTemplateVersion !== undefined)
    await markRestore(store, deployment.id, kept);
  return { execution, plan };
}

/** A restore from a snapshot: the snapshot's id and what it kept of each resource, by node name. */
export interface StackRestore {
  snapshot: string;
  resources: Record<string, Json>;
}

/**
 * Gives each instance of the deployment the data `kept` has of its node to restore from (the
 * RESTORE_KEY runtime property), and takes it from every other one.
 */
async function markRestore(store: Store, deploymentId: string, kept: Record<string, Json>): Promise<void> {
  for (const instance of await store.listInstances(deploymentId)) {
    const has = Object.hasOwn(instance.runtimeProperties, RESTORE_KEY);
    const wanted = Object.hasOwn(kept, instance.node);
    if (!has && !wanted) continue;
    if (
      has &&
      wanted &&
      JSON.stringify(instance.runtimeProperties[RESTORE_KEY]) === JSON.stringify(kept[instance.node])
    )
      continue;
    const runtimeProperties = { ...instance.runtimeProperties };
    if (wanted) runtimeProperties[RESTORE_KEY] = kept[instance.node]!;
    else delete runtimeProperties[RESTORE_KEY];
    await store.updateRuntimeProperties(instance.id, runtimeProperties, instance.version);
  }
}

/**
 * The version a rollback goes back to: the one before the deployment's latest, whether the
 * update to the latest failed or succeeded. Throws when there is none (never updated).
 */
export async function rollbackTarget(
  store: Store,
  deploymentId: string,
): Promise<{ target: DeploymentVersionRecord; latest: DeploymentVersionRecord }> {
  const versions = await store.listDeploymentVersions(deploymentId);
  const latest = versions.at(-1);
  const target = versions.at(-2);
  if (!latest || !target)
    throw new WorkflowError(
      `deployment '${deploymentId}' was never updated: there is no earlier version to roll back to`,
    );
  return { target, latest };
}

/**
 * Once an update has succeeded: the model loses what it kept for the update, the removed
 * instances go and the others keep only their new relationships, in one transaction. Safe to
 * run again (a second run finds nothing left to do).
 */
export async function finishDeploymentUpdate(store: Store, execution: ExecutionRecord): Promise<void> {
  const record = execution.parameters.update as unknown as UpdateRecord | undefined;
  const deployment = await store.getDeployment(execution.deploymentId);
  if (!record || !deployment) return;
  // A restore is over: a later replacement makes a new resource.
  if (execution.parameters.restore !== undefined) await markRestore(store, deployment.id, {});
  const model = modelOf(deployment.model);
  const present = new Set((await store.listInstances(deployment.id)).map((i) => i.id));
  await store.changeDeployment({
    deploymentId: deployment.id,
    deployment: { model: finalModel(model) as unknown as Json },
    removeInstances: record.removed.filter((id) => present.has(id)),
    relationships: Object.fromEntries(Object.entries(record.relationships).filter(([id]) => present.has(id))),
  });
}

/**
 * A fingerprint of what a deployment is now: its blueprint, inputs and model, its instances
 * (states, runtime property versions, relationships) and its executions. A saved update plan
 * holds the fingerprint it was made against, and is refused once the deployment has changed.
 */
export async function deploymentFingerprint(store: Store, deploymentId: string): Promise<string> {
  const deployment = await store.getDeployment(deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${deploymentId}' not found`);
  const hash = createHash('sha256');
  hash.update(JSON.stringify([deployment.blueprintId, deployment.inputs, deployment.model]));
  for (const i of await store.listInstances(deploymentId))
    hash.update(JSON.stringify([i.id, i.state, i.version, i.relationships]));
  for (const e of await store.listExecutions(deploymentId)) hash.update(JSON.stringify([e.id, e.status]));
  return hash.digest('hex');
}

/** An update plan saved to a file (`weft plan -d DEP --out FILE`), to be applied later as it is. */
export interface SavedUpdatePlan {
  format: 'weft-update-plan';
  formatVersion: 1;
  deploymentId: string;
  /** The deployment's fingerprint when the plan was made. */
  fingerprint: string;
  createdAt: string;
  parameters: Record<string, Json>;
  /** The version the update goes to, with the blueprint's files (base64) so that it needs no checkout. */
  next: {
    inputs: Record<string, Json>;
    model: Json;
    blueprint: { id: string; mainFile: string; createdAt: string; files: Record<string, string> };
  };
}

/**
 * The update plan to save. With `sealing`, its secret values are sealed with the secret key (as
 * where a deployment is stored: the hidden inputs' and hidden properties' values, and what the
 * `secrets` masker hides), so that the file holds none in clear; applying it opens them.
 */
export async function saveUpdatePlan(
  store: Store,
  deploymentId: string,
  given: NextVersion & { blueprint: BlueprintRecord },
  parameters: Record<string, Json>,
  sealing?: { sealer: Sealer; secrets?: Masker },
): Promise<SavedUpdatePlan> {
  const next = sealing ? sealDeployment(given, sealing.sealer, sealing.secrets) : given;
  const files: Record<string, string> = {};
  for (const [path, content] of Object.entries(next.blueprint.files))
    files[path] = Buffer.from(content).toString('base64');
  return {
    format: 'weft-update-plan',
    formatVersion: 1,
    deploymentId,
    fingerprint: await deploymentFingerprint(store, deploymentId),
    createdAt: now(),
    parameters,
    next: {
      inputs: next.inputs,
      model: next.model,
      blueprint: {
        id: next.blueprint.id,
        mainFile: next.blueprint.mainFile,
        createdAt: next.blueprint.createdAt,
        files,
      },
    },
  };
}

/**
 * The version a saved plan goes to, once checked, its sealed values opened with `sealer`: refused
 * (WorkflowError) when the file is not a saved plan, is for another deployment, the deployment
 * has changed since it was made, or a sealed value does not open (another key, or changed).
 */
export async function savedUpdateVersion(
  store: Store,
  deploymentId: string,
  saved: unknown,
  sealer?: Sealer,
): Promise<{ next: NextVersion; parameters: Record<string, Json> }> {
  const plan = saved as Partial<SavedUpdatePlan> | null;
  if (plan?.format !== 'weft-update-plan' || plan.formatVersion !== 1 || !plan.next?.blueprint?.files)
    throw new WorkflowError(
      'not a saved update plan (weft plan BLUEPRINT -d DEPLOYMENT --out FILE makes one)',
    );
  if (plan.deploymentId !== deploymentId)
    throw new WorkflowError(`the saved plan is for deployment '${plan.deploymentId}', not '${deploymentId}'`);
  if (plan.fingerprint !== (await deploymentFingerprint(store, deploymentId)))
    throw new WorkflowError(
      `deployment '${deploymentId}' has changed since the plan was saved (${plan.createdAt}): plan the update again`,
    );
  const files: Record<string, Uint8Array> = {};
  for (const [path, text] of Object.entries(plan.next.blueprint.files))
    files[path] = Buffer.from(text, 'base64');
  const blueprint: BlueprintRecord = { ...plan.next.blueprint, files };
  if (blueprintId(files) !== blueprint.id)
    throw new WorkflowError("the saved plan's blueprint files do not match its id: the file was changed");
  let { inputs, model } = plan.next;
  if (sealer)
    try {
      inputs = openSealed(inputs, sealer) as Record<string, Json>;
      model = openSealed(model, sealer);
    } catch (error) {
      if (!(error instanceof SecretKeyError)) throw error;
      throw new WorkflowError(
        "the saved plan's sealed values do not open with this secret key: it was saved with another one, or changed",
      );
    }
  return {
    next: { blueprintId: blueprint.id, inputs, model, blueprint },
    parameters: plan.parameters ?? {},
  };
}
