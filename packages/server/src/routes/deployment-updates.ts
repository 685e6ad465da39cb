/**
 * The deployment update, as `weft update` runs it: to a stored blueprint and inputs (merged over
 * the deployment's own that the blueprint still declares), with Cloudify's update parameters. Its
 * plan is shown without changing anything; started, it is an execution like any other (its events
 * stream the same way, it is cancelled and resumed the same way). A rollback, as `weft exec
 * rollback` after an update, is the update back to the version before.
 */
import {
  type DeploymentRecord,
  deploymentHistory,
  type ExecutionRecord,
  type Json,
  type ModuleDispatcher,
  modelOf,
  type NextVersion,
  openDeployment,
  planDeploymentUpdate,
  rollbackTarget,
  savedUpdateVersion,
  saveUpdatePlan,
  startDeploymentUpdate,
  updateInputChanges,
  updatePlanDocument,
  type ValueMap,
} from '@weft/engine';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { MAX_UPLOAD_BYTES } from '../blueprints/archive.js';
import { prepareStored, type StoredInputs } from '../blueprints/stored.js';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { tenantMasker } from '../masking.js';
import { AUTH_ERRORS, ErrorBody, IdParams } from '../schemas/common.js';
import { Environment } from '../schemas/environment.js';
import { Execution } from '../schemas/executions.js';
import { DeploymentVersion, UpdatePlan, UpdatePlanRequest, UpdateRequest } from '../schemas/updates.js';
import { MissingReferenceError, type NamedBlueprintRecord } from '../store/access.js';
import type { TenantState } from '../tenants.js';

const checkEnvironment = Compile(Environment);

/** The environment a saved plan was made with (update-plan with save), checked as a request's. */
function savedEnvironment(plan: unknown): Static<typeof Environment> | undefined {
  const environment = (plan as { environment?: unknown } | null)?.environment;
  if (environment === undefined) return undefined;
  if (!checkEnvironment.Check(environment))
    throw unprocessable("the saved plan's environment is not one update-plan saved: plan the update again");
  return environment;
}

export async function deploymentUpdateRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access, runner, plugins } = context;

  const read = async (tenant: TenantState, id: string) => {
    const deployment = await tenant.store.getDeployment(id);
    if (!deployment) throw notFound('deployment', id);
    return deployment;
  };

  /** The version the update goes to, the named blueprint it is of, and the plugins it needs. */
  const nextVersionOf = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    body: Static<typeof UpdatePlanRequest>,
  ) => {
    const name = body.blueprintId ?? (await access.getDeployment(tenant.name, deployment.id))?.blueprint;
    if (!name)
      throw unprocessable(`name the blueprint to update deployment '${deployment.id}' to (blueprintId)`);
    const blueprint = await access.getBlueprint(tenant.name, name);
    if (!blueprint) throw notFound('blueprint', name);
    // Its inputs as they were given: a sealed value differs from the same value given again.
    const existing = openDeployment(deployment, tenant.secrets.sealer());
    const version = await preparedVersion(
      tenant,
      deployment,
      blueprint,
      { existing, given: body.inputs as ValueMap | undefined },
      body.environment,
    );
    return { ...version, existing };
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

  app.get(
    '/deployments/:id/versions',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deployments'],
        summary:
          'The versions of the deployment, oldest first: what it was created from, then each update and rollback',
        params: IdParams,
        response: { 200: Type.Array(DeploymentVersion), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const stored = new Map(
        (await access.listBlueprints(tenant.name)).map((b) => [b.contentId, b.id] as const),
      );
      const masker = await tenantMasker(tenant);
      // The blueprint by the name it is stored under: its main file's path is the server's.
      return (await deploymentHistory(tenant.store, deployment.id)).map((version) => ({
        ...version,
        blueprint: stored.get(version.blueprintId) ?? null,
        inputs: masker.maskJson(version.inputs) as Record<string, Json>,
      }));
    },
  );

  app.post(
    '/deployments/:id/update-plan',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deployments'],
        summary: 'What updating the deployment to a blueprint and inputs would change (nothing is changed)',
        params: IdParams,
        body: UpdatePlanRequest,
        response: { 200: UpdatePlan, 404: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const { blueprint, next, dispatcher, prepared, existing } = await nextVersionOf(
        tenant,
        deployment,
        request.body,
      );
      const parameters = (request.body.parameters ?? {}) as Record<string, Json>;
      const plan = await planDeploymentUpdate({
        store: tenant.store,
        sealer: tenant.secrets.sealer(),
        deploymentId: deployment.id,
        next,
        parameters,
        operationFunction: (operation) => dispatcher.operationFunction(operation),
      });
      // A HOT template's hidden parameters masked as secrets are, as the local plan masks them.
      const { inputs, masker } = updateInputChanges(existing, prepared, await tenantMasker(tenant));
      const document = updatePlanDocument(
        deployment.id,
        plan,
        await tenant.store.listInstances(deployment.id),
        inputs,
        masker,
      );
      if (!request.body.save) return document;
      // With the stored files (by content id), which the plan is checked against when applied.
      const files = await tenant.store.getBlueprint(blueprint.contentId);
      if (!files) throw notFound('blueprint', blueprint.id);
      // What the plan masks, the saved plan holds sealed with the tenant's key.
      const saved = await saveUpdatePlan(
        tenant.store,
        deployment.id,
        { ...next, blueprint: files },
        parameters,
        {
          sealer: tenant.secrets.sealer(),
          secrets: masker,
        },
      );
      // With the environment it was planned with, to make the same version again when applied.
      const environment = request.body.environment;
      return { ...document, saved: environment ? { ...saved, environment } : saved };
    },
  );

  app.post(
    '/deployments/:id/updates',
    {
      config: { access: 'operator' },
      // A saved plan holds the blueprint's files (base64, a third larger) and its model: room for
      // as large a blueprint as an upload.
      bodyLimit: 2 * MAX_UPLOAD_BYTES,
      schema: {
        tags: ['deployments'],
        summary: 'Update the deployment to a blueprint and inputs: starts the update execution',
        params: IdParams,
        body: UpdateRequest,
        response: { 201: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const { plan, refresh, ...given } = request.body;
      if (plan !== undefined && Object.keys(given).length > 0)
        throw unprocessable(
          `a saved plan holds the blueprint, inputs and parameters: leave out ${Object.keys(given).join(', ')}`,
        );
      const { blueprint, next, dispatcher, parameters } =
        plan !== undefined
          ? await savedVersionOf(tenant, deployment, plan)
          : { ...(await nextVersionOf(tenant, deployment, given)), parameters: given.parameters ?? {} };
      const execution = await startUpdate(tenant, deployment.id, 'update', {
        blueprint: blueprint.id,
        next,
        dispatcher,
        parameters,
        refresh: refresh ?? [],
      });
      return reply.status(201).send(execution);
    },
  );

  app.post(
    '/deployments/:id/rollback',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary: 'Update the deployment back to its version before the last update (failed or not)',
        params: IdParams,
        body: Type.Object({ parameters: UpdateRequest.properties.parameters }),
        response: { 201: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const { target } = await rollbackTarget(tenant.store, deployment.id);
      const next: NextVersion = {
        blueprintId: target.blueprintId,
        inputs: target.inputs,
        model: target.model,
      };
      const dispatcher = await plugins.requiredBy(modelOf(next.model), deployment.id);
      await dispatcher.load();
      // The stored blueprint of that version, by name, if it is still stored under one.
      const named = (await access.listBlueprints(tenant.name)).find(
        (b) => b.contentId === target.blueprintId,
      );
      const execution = await startUpdate(tenant, deployment.id, 'rollback', {
        blueprint: named?.id,
        next,
        dispatcher,
        parameters: request.body.parameters ?? {},
      });
      return reply.status(201).send(execution);
    },
  );

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
}
