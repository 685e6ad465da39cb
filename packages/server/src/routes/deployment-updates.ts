/**
 * The deployment update, as `weft update` runs it: to a stored blueprint and inputs (merged over
 * the deployment's own that the blueprint still declares), with Cloudify's update parameters. Its
 * plan is shown without changing anything; started, it is an execution like any other (its events
 * stream the same way, it is cancelled and resumed the same way). A rollback, as `weft exec
 * rollback` after an update, is the update back to the version before.
 */
import {
  deploymentHistory,
  type Json,
  planDeploymentUpdate,
  saveUpdatePlan,
  updateInputChanges,
  updatePlanDocument,
} from '@weft/engine';
import { Type } from 'typebox';
import { MAX_UPLOAD_BYTES } from '../blueprints/archive.js';
import type { Api, ServerContext } from '../context.js';
import { notFound } from '../errors.js';
import { deploymentUpdates } from '../executions/updates.js';
import { tenantMasker } from '../masking.js';
import { AUTH_ERRORS, ErrorBody, IdParams } from '../schemas/common.js';
import { EXECUTION_STARTED_RESPONSES, Execution } from '../schemas/executions.js';
import { DeploymentVersion, UpdatePlan, UpdatePlanRequest, UpdateRequest } from '../schemas/updates.js';
import type { TenantState } from '../tenants.js';

export async function deploymentUpdateRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access } = context;
  const updates = deploymentUpdates(context);

  const read = async (tenant: TenantState, id: string) => {
    const deployment = await tenant.store.getDeployment(id);
    if (!deployment) throw notFound('deployment', id);
    return deployment;
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
      const { blueprint, next, dispatcher, prepared, existing } = await updates.nextVersionOf(
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
        description:
          "A HOT stack whose create, update or rollback is running is taken over, as Heat's convergence does (and weft update locally): that execution is asked to stop without rollback (what is under way finishes, nothing new starts), and once it has ended the update starts, answered 202 with tookOver naming it. Any other deployment with a running execution is refused (409).",
        params: IdParams,
        body: UpdateRequest,
        response: EXECUTION_STARTED_RESPONSES,
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const execution = await updates.update(tenant, deployment, request.body, request.log);
      return reply.status(execution.tookOver === undefined ? 201 : 202).send(execution);
    },
  );

  app.post(
    '/deployments/:id/rollback',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary:
          'Update the deployment back to its version before the last update (failed or not); after an install that did not succeed, uninstall what it created',
        params: IdParams,
        body: Type.Object({ parameters: UpdateRequest.properties.parameters }),
        response: { 201: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const execution = await updates.rollback(tenant, deployment, request.body.parameters ?? {});
      return reply.status(201).send(execution);
    },
  );
}
