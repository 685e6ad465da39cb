/**
 * A HOT stack's snapshots, as `weft stack snapshot|snapshots|snapshot-show|snapshot-delete|restore`
 * take, show, delete and restore them locally. Taking one runs each resource's handleSnapshot as
 * an execution in the background; the snapshot (the stack's abandon data then, COMPLETE or FAILED
 * as the execution ended) is stored when it ends. Deleting one runs each resource's
 * handleDeleteSnapshot, and the snapshot is deleted when that succeeded. A restore is an update to
 * the snapshot's template and parameters.
 *
 * The snapshot is stored (or deleted) by the server process that started the execution, when it
 * ends there: an execution taken over by another process (this one stopped or died) ends without
 * it, and is run again.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACTIVE_EXECUTION_STATUSES,
  abandonData,
  type DeploymentRecord,
  type Json,
  modelOf,
  type StackSnapshotAction,
  snapshotResources,
  snapshotView,
  startStackSnapshotExecution,
} from '@weft/engine';
import { type Static, Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { deploymentUpdates } from '../executions/updates.js';
import { tenantMasker } from '../masking.js';
import { AUTH_ERRORS, ErrorBody, IdParams } from '../schemas/common.js';
import { Execution } from '../schemas/executions.js';
import {
  AbandonData,
  HandlerRequest,
  Snapshot,
  SnapshotParams,
  SnapshotRequest,
  SnapshotStarted,
} from '../schemas/stack.js';
import type { TenantState } from '../tenants.js';

export async function stackRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access, runner, plugins } = context;
  const updates = deploymentUpdates(context);

  /** The deployment, refused (422) unless it was made from a HOT template. */
  const hotDeployment = async (tenant: TenantState, id: string): Promise<DeploymentRecord> => {
    const deployment = await tenant.store.getDeployment(id);
    if (!deployment) throw notFound('deployment', id);
    if (modelOf(deployment.model).blueprint.heatTemplateVersion === undefined)
      throw unprocessable(
        `deployment '${id}' is not a Heat stack (it was not made from a heat_template_version template)`,
      );
    return deployment;
  };

  /** One of the stack's snapshots, by id or name: 404 when it has none so named, 422 when several. */
  const findSnapshot = async (tenant: TenantState, deploymentId: string, given: string) => {
    const all = await tenant.store.listSnapshots(deploymentId);
    const byId = all.find((s) => s.id === given);
    if (byId) return byId;
    const named = all.filter((s) => s.name === given);
    if (named.length === 1) return named[0]!;
    if (named.length > 1)
      throw unprocessable(
        `stack '${deploymentId}' has ${named.length} snapshots named '${given}' (${named.map((s) => s.id).join(', ')}); give its id`,
      );
    throw notFound('snapshot', given);
  };

  /** Refuses (409) a stack an execution is running on, as Heat refuses a stack action in progress. */
  const refuseActive = async (tenant: TenantState, id: string, what: string) => {
    const active = (await tenant.store.listExecutions(id)).find((e) =>
      ACTIVE_EXECUTION_STATUSES.includes(e.status),
    );
    if (active)
      throw conflict(
        `stack '${id}' has a running execution ${active.id} (${active.workflow}); ${what} it once that has ended`,
      );
  };

  /**
   * Starts the execution of a snapshot action in the background (its plugins loaded first, 422
   * when this server does not have some), and runs `then` with how it ended, when it ends here
   * (before its event stream ends).
   */
  const startAction = async (
    tenant: TenantState,
    deployment: DeploymentRecord,
    action: StackSnapshotAction,
    parameters: Record<string, Json>,
  ) => {
    const dispatcher = await plugins.requiredBy(modelOf(deployment.model), deployment.id);
    await dispatcher.load();
    const execution = await runner.start(tenant, async (id) => {
      const started = await startStackSnapshotExecution({
        id,
        store: tenant.store,
        deploymentId: deployment.id,
        action,
        parameters,
      });
      return started.execution;
    });
    return { ...execution, running: runner.isRunning(tenant.name, execution.id) };
  };

  app.post(
    '/deployments/:id/abandon',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary:
          "Abandon the HOT stack: answers its abandon data (Heat's stack abandon) and forgets the deployment, leaving its resources in place (PUT /deployments/{id} with adopt takes them over again)",
        params: IdParams,
        response: { 200: AbandonData, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const deployment = await hotDeployment(tenant, request.params.id);
      // As Heat, which abandons a stack under its lock: not while an action runs on it.
      await refuseActive(tenant, deployment.id, 'abandon');
      const data = await abandonData(tenant.store, deployment);
      await tenant.store.deleteDeployment(deployment.id);
      await access.deleteDeployment(tenant.name, deployment.id);
      rmSync(join(tenant.workDir, deployment.id), { recursive: true, force: true });
      return data as Static<typeof AbandonData>;
    },
  );

  app.get(
    '/deployments/:id/snapshots',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deployments'],
        summary: "The HOT stack's snapshots, oldest first (without their data)",
        params: IdParams,
        response: { 200: Type.Array(Snapshot), 404: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const deployment = await hotDeployment(tenant, request.params.id);
      return (await tenant.store.listSnapshots(deployment.id)).map((s) => snapshotView(s, false));
    },
  );

  app.get(
    '/deployments/:id/snapshots/:snapshot',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deployments'],
        summary: 'A snapshot of the HOT stack, by id or name, with its data (secrets masked)',
        params: SnapshotParams,
        response: { 200: Snapshot, 404: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const deployment = await hotDeployment(tenant, request.params.id);
      const snapshot = await findSnapshot(tenant, deployment.id, request.params.snapshot);
      const masker = await tenantMasker(tenant);
      return { ...snapshotView(snapshot, false), data: masker.maskJson(snapshot.data) };
    },
  );

  app.post(
    '/deployments/:id/snapshots',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary:
          "Take a snapshot of the HOT stack: starts the execution of each resource's handleSnapshot; the snapshot is stored (COMPLETE or FAILED) when it ends",
        params: IdParams,
        body: SnapshotRequest,
        response: { 201: SnapshotStarted, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await hotDeployment(tenant, request.params.id);
      await refuseActive(tenant, deployment.id, 'snapshot');
      const id = randomUUID();
      const name = request.body.name ?? id;
      const execution = await startAction(
        tenant,
        deployment,
        { workflow: 'snapshot', snapshot: id, name },
        (request.body.parameters ?? {}) as Record<string, Json>,
      );
      return reply.status(201).send({ snapshot: { id, name }, execution });
    },
  );

  app.delete(
    '/deployments/:id/snapshots/:snapshot',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary:
          "Delete a snapshot of the HOT stack: starts the execution of each resource's handleDeleteSnapshot; the snapshot is deleted when it succeeds (kept, to be deleted again, when not)",
        params: SnapshotParams,
        body: HandlerRequest,
        response: { 202: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await hotDeployment(tenant, request.params.id);
      const found = await findSnapshot(tenant, deployment.id, request.params.snapshot);
      await refuseActive(tenant, deployment.id, 'delete a snapshot of');
      const execution = await startAction(
        tenant,
        deployment,
        { workflow: 'delete_snapshot', snapshot: found.id, resources: snapshotResources(found) },
        (request.body.parameters ?? {}) as Record<string, Json>,
      );
      return reply.status(202).send(execution);
    },
  );

  app.post(
    '/deployments/:id/snapshots/:snapshot/restore',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary:
          "Restore the HOT stack from a snapshot (COMPLETE ones only): starts an update to the snapshot's template and parameters in which resources made anew are restored from its data",
        params: SnapshotParams,
        body: HandlerRequest,
        response: { 201: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await hotDeployment(tenant, request.params.id);
      const snapshot = await findSnapshot(tenant, deployment.id, request.params.snapshot);
      await refuseActive(tenant, deployment.id, 'restore');
      const execution = await updates.restore(tenant, deployment, snapshot, request.body.parameters ?? {});
      return reply.status(201).send(execution);
    },
  );
}
