/**
 * The deployment update, as `weft update` runs it: to a stored blueprint and inputs (merged over
 * the deployment's own that the blueprint still declares), with Cloudify's update parameters; and
 * the rollback, the update back to the version before (after an install that did not succeed: its
 * uninstall, as `weft exec rollback` does locally). Started the same way whether asked for by the
 * updates route, the rollback route or `POST /executions` with workflowId update or rollback.
 */
import {
  type DeploymentRecord,
  type ExecutionRecord,
  type Json,
  type ModuleDispatcher,
  modelOf,
  type NextVersion,
  openDeployment,
  ownEnvironmentFile,
  refuseSuspendedUpdate,
  rollbackTarget,
  type SnapshotRecord,
  type StackRestore,
  savedUpdateVersion,
  snapshotResources,
  snapshotStatus,
  startDeploymentUpdate,
  type ValueMap,
} from '@weft/engine';
import type { FastifyBaseLogger } from 'fastify';
import type { Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { prepareStored, type StoredInputs } from '../blueprints/stored.js';
import type { ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { Environment } from '../schemas/environment.js';
import type { UpdatePlanRequest, UpdateRequest } from '../schemas/updates.js';
import { MissingReferenceError, type NamedBlueprintRecord } from '../store/access.js';
import type { TenantState } from '../tenants.js';
import { preemptRunningStack } from './stack-preempt.js';
import { startWorkflow } from './start-workflow.js';

const checkEnvironment = Compile(Environment);

/** The environment a saved plan was made with (update-plan with save), checked as a request's. */
function savedEnvironment(plan: unknown): Static<typeof Environment> | undefined {
  const environment = (plan as { environment?: unknown } | null)?.environment;
  if (environment === undefined) return undefined;
  if (!checkEnvironment.Check(environment))
    throw unprocessable("the saved plan's environment is not one update-plan saved: plan the update again");
  return environment;
}

/**
 * With `existing`: the stack's own environment (as given when it was made or last updated, its
 * sealed values opened) as the first environment file, the given ones merged over it, as
 * `weft update --existing` does locally.
 */
function existingEnvironment(
  existing: DeploymentRecord,
  given: Static<typeof Environment> | undefined,
): Static<typeof Environment> {
  const files = given?.files ?? {};
  // Named as none of the given files is.
  const own = ownEnvironmentFile(modelOf(existing.model).blueprint.heatEnvironment, files);
  return {
    files: { ...files, [own.name]: Buffer.from(own.text).toString('base64') },
    order: [own.name, ...(given?.order ?? [])],
  };
}

/** The workflows whose last run decides what a rollback undoes (as the CLI's ROLLBACK_HISTORY). */
const ROLLBACK_HISTORY = ['install', 'update', 'rollback'];

export type DeploymentUpdates = ReturnType<typeof deploymentUpdates>;

export function deploymentUpdates(context: ServerContext) {
  const { access, runner, plugins } = context;

  /** The version the update goes to, the named blueprint it is of, and the plugins it needs. */
  const nextVersionOf = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    body: Static<typeof UpdatePlanRequest>,
  ) => {
    // Its inputs as they were given: a sealed value differs from the same value given again.
    const existing = openDeployment(deployment, tenant.secrets.sealer());
    if (body.existing) {
      const version = await preparedVersion(
        tenant,
        deployment,
        await ownBlueprint(tenant, deployment, body.blueprintId),
        { existing, given: body.inputs as ValueMap | undefined },
        existingEnvironment(existing, body.environment),
      );
      return { ...version, existing };
    }
    const name = body.blueprintId ?? (await access.getDeployment(tenant.name, deployment.id))?.blueprint;
    if (!name)
      throw unprocessable(`name the blueprint to update deployment '${deployment.id}' to (blueprintId)`);
    const blueprint = await access.getBlueprint(tenant.name, name);
    if (!blueprint) throw notFound('blueprint', name);
    const version = await preparedVersion(
      tenant,
      deployment,
      blueprint,
      { existing, given: body.inputs as ValueMap | undefined },
      body.environment,
    );
    return { ...version, existing };
  };

  /**
   * With `existing` (Heat's PATCH update): the HOT stack's own template and files, as stored (by
   * the name the deployment is of, else any name they are stored under). Refused (422) with
   * another blueprint, or for a deployment that is no HOT stack.
   */
  const ownBlueprint = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    blueprintId: string | undefined,
  ): Promise<NamedBlueprintRecord> => {
    if (blueprintId !== undefined)
      throw unprocessable('existing updates the stack with its own template: leave out blueprintId');
    if (modelOf(deployment.model).blueprint.heatTemplateVersion === undefined)
      throw unprocessable(
        `existing updates a HOT stack with its own template: deployment '${deployment.id}' is no HOT stack (name the new blueprint with blueprintId)`,
      );
    const name = (await access.getDeployment(tenant.name, deployment.id))?.blueprint;
    const named = name === undefined ? undefined : await access.getBlueprint(tenant.name, name);
    if (named?.contentId === deployment.blueprintId) return named;
    const stored = (await access.listBlueprints(tenant.name)).find(
      (b) => b.contentId === deployment.blueprintId,
    );
    if (!stored)
      throw conflict(`the template of deployment '${deployment.id}' is no longer stored under any name`);
    return stored;
  };

  /** The version the stored blueprint makes with these inputs, and the plugins it needs. */
  const preparedVersion = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    blueprint: NamedBlueprintRecord,
    inputs: StoredInputs,
    environment: Static<typeof Environment> | undefined,
  ) => {
    const prepared = await prepareStored(
      context,
      tenant,
      blueprint,
      deployment.id,
      inputs,
      `deployment '${deployment.id}' cannot be updated to blueprint '${blueprint.id}'`,
      environment,
    );
    const next: NextVersion = {
      blueprintId: prepared.deployment.blueprintId,
      inputs: prepared.deployment.inputs,
      model: prepared.deployment.model,
    };
    // Loaded, not run: they tell which Heat-style resources the update replaces.
    const dispatcher = await plugins.requiredBy(modelOf(next.model), deployment.id);
    await dispatcher.load();
    return { blueprint, next, dispatcher, prepared };
  };

  /**
   * The version a saved plan goes to, once the engine has checked it (the same deployment,
   * unchanged since, the blueprint's files as they were). Its model is made again here from the
   * stored blueprint, its inputs and the environment it was planned with: the server runs only
   * what it made itself.
   */
  const savedVersionOf = async (tenant: TenantState, deployment: DeploymentRecord, plan: unknown) => {
    const saved = await savedUpdateVersion(tenant.store, deployment.id, plan, tenant.secrets.sealer());
    const blueprint = (await access.listBlueprints(tenant.name)).find(
      (b) => b.contentId === saved.next.blueprintId,
    );
    if (!blueprint)
      throw conflict(
        `the blueprint the saved plan updates deployment '${deployment.id}' to is no longer stored: plan the update again`,
      );
    const version = await preparedVersion(
      tenant,
      deployment,
      blueprint,
      { inputs: saved.next.inputs as ValueMap },
      savedEnvironment(plan),
    );
    return { ...version, parameters: saved.parameters };
  };

  /**
   * Starts the update of the deployment to a stored blueprint and inputs (or to a saved plan):
   * refused (409) for a suspended HOT stack before anything is loaded, as locally.
   */
  const update = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    body: Static<typeof UpdateRequest>,
    log: FastifyBaseLogger,
  ) => {
    await refuseSuspendedUpdate(tenant.store, deployment);
    const { plan, refresh, ...given } = body;
    if (plan !== undefined && Object.keys(given).length > 0)
      throw unprocessable(
        `a saved plan holds the blueprint, inputs and parameters: leave out ${Object.keys(given).join(', ')}`,
      );
    const versionOf = async (current: DeploymentRecord) =>
      plan !== undefined
        ? await savedVersionOf(tenant, current, plan)
        : { ...(await nextVersionOf(tenant, current, given)), parameters: given.parameters ?? {} };
    // Checked before a running create or update of a HOT stack is stopped: a refused update stops
    // nothing, as Heat prepares the update (_prepare_stack_updates) before it converges.
    let version = await versionOf(deployment);
    const stopped = await preemptRunningStack(context, tenant, deployment, 'update', log);
    if (stopped) {
      // The execution stopped may have changed the stack (a saved plan then no longer applies).
      const now = await tenant.store.getDeployment(deployment.id);
      if (!now) throw notFound('deployment', deployment.id);
      version = await versionOf(now);
    }
    const { blueprint, next, dispatcher, parameters } = version;
    const execution = await startUpdate(tenant, deployment.id, 'update', {
      blueprint: blueprint.id,
      next,
      dispatcher,
      parameters,
      refresh: refresh ?? [],
    });
    const tookOver: string | undefined = stopped?.id;
    return { ...execution, ...(tookOver !== undefined && { tookOver }) };
  };

  /**
   * Starts the update of the deployment back to its version before the last update; after an
   * install that did not succeed (failed, cancelled, interrupted), the uninstall of what it
   * created instead, as `weft exec rollback` decides locally. Refused after an install that
   * succeeded and was never updated.
   */
  const rollback = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    parameters: Record<string, unknown>,
  ) => {
    const last = (await tenant.store.listExecutions(deployment.id))
      .filter((e) => ROLLBACK_HISTORY.includes(e.workflow))
      .at(-1);
    if (last?.workflow === 'install') {
      if (last.status === 'terminated')
        throw unprocessable(
          `the install of deployment '${deployment.id}' succeeded and it was never updated: there is nothing to roll back (its uninstall tears it down)`,
        );
      const execution = await startWorkflow(context, tenant, {
        deploymentId: deployment.id,
        model: modelOf(deployment.model),
        workflow: 'uninstall',
        parameters: parameters as Record<string, Json>,
      });
      return { ...execution, running: runner.isRunning(tenant.name, execution.id) };
    }
    const { target } = await rollbackTarget(tenant.store, deployment.id);
    const next: NextVersion = {
      blueprintId: target.blueprintId,
      inputs: target.inputs,
      model: target.model,
    };
    const dispatcher = await plugins.requiredBy(modelOf(next.model), deployment.id);
    await dispatcher.load();
    // The stored blueprint of that version, by name, if it is still stored under one.
    const named = (await access.listBlueprints(tenant.name)).find((b) => b.contentId === target.blueprintId);
    return startUpdate(tenant, deployment.id, 'rollback', {
      blueprint: named?.id,
      next,
      dispatcher,
      parameters,
    });
  };

  /**
   * Starts an update (or a rollback) to `next`, claimed before it is stored; the deployment is of
   * the named blueprint from then on (which cannot be deleted while it is), or again of the one
   * it was of when the update cannot start.
   */
  async function startUpdate(
    tenant: TenantState,
    deploymentId: string,
    workflow: 'update' | 'rollback',
    options: {
      blueprint: string | undefined;
      next: NextVersion;
      dispatcher: ModuleDispatcher;
      parameters: Record<string, unknown>;
      refresh?: string[];
      /** A HOT stack's restore from a snapshot (as `weft stack restore`). */
      restore?: StackRestore;
    },
  ) {
    const before = (await access.getDeployment(tenant.name, deploymentId))?.blueprint;
    const name = async (blueprint: string | undefined) => {
      if (blueprint === undefined || blueprint === before) return;
      try {
        await access.setDeploymentBlueprint(tenant.name, deploymentId, blueprint);
      } catch (error) {
        if (error instanceof MissingReferenceError) throw notFound('blueprint', blueprint);
        throw error;
      }
    };
    await name(options.blueprint);
    let execution: ExecutionRecord;
    try {
      execution = await runner.start(tenant, async (id) => {
        const started = await startDeploymentUpdate({
          id,
          store: tenant.store,
          sealer: tenant.secrets.sealer(),
          deploymentId,
          next: options.next,
          parameters: options.parameters as Record<string, Json>,
          workflow,
          refresh: options.refresh ?? [],
          ...(options.restore ? { restore: options.restore } : {}),
          operationFunction: (operation) => options.dispatcher.operationFunction(operation),
        });
        return started.execution;
      });
    } catch (error) {
      if (before !== undefined && options.blueprint !== undefined && options.blueprint !== before)
        await access.setDeploymentBlueprint(tenant.name, deploymentId, before);
      throw error;
    }
    return { ...execution, running: runner.isRunning(tenant.name, execution.id) };
  }

  /**
   * Starts Heat's stack restore, as `weft stack restore`: an update to the snapshot's template and
   * parameters in which a resource made anew is brought back from what the snapshot kept of it.
   * Refused (422) for a snapshot that is not COMPLETE, (409) for a suspended stack.
   */
  const restore = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    snapshot: SnapshotRecord,
    parameters: Record<string, unknown>,
  ) => {
    // As Heat's stack_restore: a snapshot whose resources' handlers failed is not restored.
    if (snapshotStatus(snapshot) !== 'COMPLETE')
      throw unprocessable(
        `Restoring incomplete snapshot is not supported: snapshot ${snapshot.id} (${snapshot.name}) is ${snapshotStatus(snapshot)}`,
      );
    await refuseSuspendedUpdate(tenant.store, deployment);
    const next: NextVersion = {
      blueprintId: snapshot.blueprintId,
      inputs: snapshot.inputs,
      model: snapshot.model,
    };
    const dispatcher = await plugins.requiredBy(modelOf(next.model), deployment.id);
    await dispatcher.load();
    const named = (await access.listBlueprints(tenant.name)).find((b) => b.contentId === next.blueprintId);
    return startUpdate(tenant, deployment.id, 'update', {
      blueprint: named?.id,
      next,
      dispatcher,
      parameters,
      restore: { snapshot: snapshot.id, resources: snapshotResources(snapshot) },
    });
  };

  return { nextVersionOf, update, rollback, restore };
}
