/** Executions: start any workflow with parameters, list and read them, cancel, resume. */
import {
  ACTIVE_EXECUTION_STATUSES,
  DEPLOYMENT_UPDATE_WORKFLOWS,
  type DeploymentModel,
  type ExecutionRecord,
  type Json,
  modelOf,
  type Store,
  startExecution,
} from '@weft/engine';
import { Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { AUTH_ERRORS, ErrorBody, IdParams, Name, Page, PageQuery } from '../schemas/common.js';
import { Execution, ExecutionStatus, Task } from '../schemas/executions.js';

export async function executionRoutes(app: Api, context: ServerContext): Promise<void> {
  const { runner, plugins } = context;

  const read = async (store: Store, id: string) => {
    const execution = await store.getExecution(id);
    if (!execution) throw notFound('execution', id);
    return execution;
  };
  const view = (tenant: string, execution: ExecutionRecord) => ({
    ...execution,
    running: runner.isRunning(tenant, execution.id),
  });

  /** Refuses a deployment whose operations name plugins this server does not have. */
  const pluginsFor = (model: DeploymentModel, deploymentId: string) => {
    const dispatcher = plugins.moduleDispatcher(model);
    const missing = dispatcher.missingPlugins();
    if (missing.length > 0)
      throw unprocessable(
        `deployment '${deploymentId}' uses plugins this server does not have: ${missing.join(', ')}`,
        { missingPlugins: missing },
      );
    return dispatcher;
  };

  app.post(
    '/executions',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['executions'],
        summary: 'Start a workflow on a deployment; it runs in the background',
        body: Type.Object({
          deploymentId: Name,
          workflowId: Type.String({ minLength: 1, maxLength: 200 }),
          parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          allowCustomParameters: Type.Optional(Type.Boolean()),
        }),
        response: { 201: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const { deploymentId, workflowId } = request.body;
      const deployment = await tenant.store.getDeployment(deploymentId);
      if (!deployment) throw notFound('deployment', deploymentId);
      const model = modelOf(deployment.model);
      const mapped = model.workflows[workflowId];
      if (
        DEPLOYMENT_UPDATE_WORKFLOWS.includes(workflowId) &&
        (!mapped || mapped.plugin === 'default_workflows')
      )
        throw unprocessable(`'${workflowId}' (the deployment update) cannot be started through the API yet`);
      const dispatcher = pluginsFor(model, deploymentId);
      await dispatcher.load();
      const execution = await startExecution({
        store: tenant.store,
        dispatcher,
        deploymentId,
        workflow: workflowId,
        parameters: (request.body.parameters ?? {}) as Record<string, Json>,
        allowCustomParameters: request.body.allowCustomParameters === true,
      });
      void runner.run(tenant, execution);
      return reply.status(201).send(view(tenant.name, execution));
    },
  );

  app.get(
    '/executions',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['executions'],
        summary: 'Executions, newest first, filtered and paged',
        querystring: Type.Object({
          deploymentId: Type.Optional(Name),
          status: Type.Optional(ExecutionStatus),
          workflowId: Type.Optional(Type.String()),
          ...PageQuery,
        }),
        response: { 200: Page(Execution), ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const { deploymentId, status, workflowId, offset = 0, size = 100 } = request.query;
      const all = (await tenant.store.listExecutions(deploymentId))
        .filter(
          (e) =>
            (status === undefined || e.status === status) &&
            (workflowId === undefined || e.workflow === workflowId),
        )
        .reverse();
      return {
        items: all.slice(offset, offset + size).map((e) => view(tenant.name, e)),
        total: all.length,
        offset,
        size,
      };
    },
  );

  app.get(
    '/executions/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['executions'],
        summary: 'One execution',
        params: IdParams,
        response: { 200: Execution, 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => view(request.tenant!.name, await read(request.tenant!.store, request.params.id)),
  );

  app.get(
    '/executions/:id/tasks',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['executions'],
        summary: "The execution's tasks and their states (its progress)",
        params: IdParams,
        response: { 200: Type.Array(Task), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const { store } = request.tenant!;
      await read(store, request.params.id);
      return store.listTasks(request.params.id);
    },
  );

  app.post(
    '/executions/:id/cancel',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['executions'],
        summary: 'Stop starting operations (force: also stop the running ones)',
        params: IdParams,
        body: Type.Optional(Type.Object({ force: Type.Optional(Type.Boolean()) })),
        response: { 200: Execution, 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const execution = await read(tenant.store, request.params.id);
      if (!ACTIVE_EXECUTION_STATUSES.includes(execution.status))
        throw conflict(
          `execution ${execution.id} is ${execution.status}; only a running one can be cancelled`,
        );
      // The process running it (this one or another server on the same database) reads the cancel.
      if (await runner.isRunningAnywhere(tenant.name, execution.id)) {
        const status = request.body?.force ? 'force_cancelling' : 'cancelling';
        await tenant.store.applyBatch({ execution: { id: execution.id, status } });
        await runner.cancelStored(tenant.name, execution.id);
      } else {
        // Nothing runs it (the server that did ended): it ends here.
        await tenant.store.applyBatch({
          execution: { id: execution.id, status: 'cancelled', endedAt: new Date().toISOString() },
        });
      }
      return view(tenant.name, await read(tenant.store, execution.id));
    },
  );

  app.post(
    '/executions/:id/resume',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['executions'],
        summary: 'Continue an execution that failed, was cancelled or interrupted',
        params: IdParams,
        body: Type.Optional(
          Type.Object({
            retryInFlight: Type.Optional(
              Type.Boolean({ description: 'also run again interrupted operations that are not resumable' }),
            ),
          }),
        ),
        response: { 202: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const execution = await read(tenant.store, request.params.id);
      if (execution.status === 'terminated')
        throw conflict(`execution ${execution.id} has already succeeded`);
      if (await runner.isRunningAnywhere(tenant.name, execution.id))
        throw conflict(`execution ${execution.id} is running`);
      const deployment = await tenant.store.getDeployment(execution.deploymentId);
      pluginsFor(modelOf(deployment!.model), execution.deploymentId);
      void runner.run(tenant, execution, request.body?.retryInFlight === true);
      return reply.status(202).send(view(tenant.name, execution));
    },
  );
}
