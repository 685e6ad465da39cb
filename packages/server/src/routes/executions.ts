/** Executions: start any workflow with parameters, list and read them, cancel, resume. */
import {
  ACTIVE_EXECUTION_STATUSES,
  cancelWithoutRollback,
  type ExecutionRecord,
  isDeploymentUpdate,
  type Json,
  modelOf,
  requestCancel,
  type Store,
  updateWorkflowParameters,
} from '@weft/engine';
import { Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { preemptRunningStack } from '../executions/stack-preempt.js';
import { startWorkflow } from '../executions/start-workflow.js';
import { deploymentUpdates } from '../executions/updates.js';
import { tenantMasker } from '../masking.js';
import { AUTH_ERRORS, ErrorBody, IdParams, Name, Page, PageQuery } from '../schemas/common.js';
import { EXECUTION_STARTED_RESPONSES, Execution, ExecutionStatus, Task } from '../schemas/executions.js';

export async function executionRoutes(app: Api, context: ServerContext): Promise<void> {
  const { runner, plugins } = context;
  const updates = deploymentUpdates(context);

  const read = async (store: Store, id: string) => {
    const execution = await store.getExecution(id);
    if (!execution) throw notFound('execution', id);
    return execution;
  };
  const view = (tenant: string, execution: ExecutionRecord) => ({
    ...execution,
    running: runner.isRunning(tenant, execution.id),
  });

  app.post(
    '/executions',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['executions'],
        summary: 'Start a workflow on a deployment; it runs in the background',
        description:
          "A HOT stack's update or uninstall (its delete) while an execution runs on it takes the stack over, as Heat's convergence does: the update stops a running create, update or rollback without rollback (what is under way finishes), the uninstall stops whatever runs, with its running operations; once that has ended the new execution starts, answered 202 with tookOver naming the one stopped. Otherwise a deployment with a running execution is refused (409).",
        body: Type.Object({
          deploymentId: Name,
          workflowId: Type.String({
            minLength: 1,
            maxLength: 200,
            description:
              'the workflow: one the deployment lists; update and rollback start the deployment update, as POST /deployments/{id}/updates and /deployments/{id}/rollback do',
          }),
          parameters: Type.Optional(
            Type.Record(Type.String(), Type.Unknown(), {
              description:
                "the workflow's parameters. For update, as Cloudify names them: blueprint (a stored blueprint's id; default the deployment's own), inputs (a map, merged over the deployment's inputs the blueprint still declares) and the update's own (skip_install, skip_uninstall, skip_reinstall, reinstall_list, ignore_failure, install_first, task_retries, task_retry_interval); for rollback: the update's own",
            }),
          ),
          allowCustomParameters: Type.Optional(Type.Boolean()),
        }),
        response: EXECUTION_STARTED_RESPONSES,
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const { deploymentId, workflowId } = request.body;
      const deployment = await tenant.store.getDeployment(deploymentId);
      if (!deployment) throw notFound('deployment', deploymentId);
      const model = modelOf(deployment.model);
      const parameters = (request.body.parameters ?? {}) as Record<string, Json>;
      // The deployment update (and its rollback) started as a workflow, as Cloudify's `cfy
      // executions start update -p ...`: what POST /deployments/{id}/updates (or rollback) starts.
      if (isDeploymentUpdate(model, workflowId)) {
        if (workflowId === 'rollback')
          return reply.status(201).send(await updates.rollback(tenant, deployment, parameters));
        const { blueprint, inputs, parameters: rest } = updateWorkflowParameters(parameters);
        const execution = await updates.update(
          tenant,
          deployment,
          {
            ...(blueprint !== undefined ? { blueprintId: blueprint } : {}),
            ...(inputs !== undefined ? { inputs } : {}),
            parameters: rest,
          },
          request.log,
        );
        return reply.status(execution.tookOver === undefined ? 201 : 202).send(execution);
      }
      // A HOT stack's delete takes it over, as Heat's convergence does (and weft uninstall
      // locally): whatever runs on it is stopped, its running operations too, and waited for.
      const stopped =
        workflowId === 'uninstall'
          ? await preemptRunningStack(context, tenant, deployment, 'delete', request.log)
          : undefined;
      const execution = await startWorkflow(context, tenant, {
        deploymentId,
        model,
        workflow: workflowId,
        parameters,
        allowCustomParameters: request.body.allowCustomParameters === true,
      });
      if (stopped) return reply.status(202).send({ ...view(tenant.name, execution), tookOver: stopped.id });
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
      const tenant = request.tenant!;
      await read(tenant.store, request.params.id);
      const masker = await tenantMasker(tenant);
      return (await tenant.store.listTasks(request.params.id)).map((task) => ({
        ...task,
        result: masker.maskJson(task.result),
      }));
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
        body: Type.Object({
          force: Type.Optional(Type.Boolean()),
          rollback: Type.Optional(
            Type.Boolean({
              description:
                "false: a Heat stack's create or update stops without rollback (Heat's stack cancel --no-rollback): what is under way finishes, nothing new starts, the stack stays CREATE_FAILED or UPDATE_FAILED. Refused (422) with force, and for anything else",
            }),
          ),
        }),
        response: { 200: Execution, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const execution = await read(tenant.store, request.params.id);
      if (!ACTIVE_EXECUTION_STATUSES.includes(execution.status))
        throw conflict(
          `execution ${execution.id} is ${execution.status}; only a running one can be cancelled`,
        );
      if (request.body.rollback === false && request.body.force)
        throw unprocessable(
          'force stops the running operations, which a cancel without rollback lets finish',
        );
      const ask = {
        force: request.body.force === true,
        ...(request.body.rollback === false && {
          cancelRequest: await cancelWithoutRollback(tenant.store, execution),
        }),
      };
      // The process running it (this one or another server on the same database) reads the
      // cancel; when nothing runs it (the server that did ended), it ends here.
      const running = await runner.isRunningAnywhere(tenant.name, execution.id);
      await requestCancel(tenant.store, execution, ask, running);
      if (running) await runner.cancelStored(tenant.name, execution.id);
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
        body: Type.Object({
          retryInFlight: Type.Optional(
            Type.Boolean({ description: 'also run again interrupted operations that are not resumable' }),
          ),
        }),
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
      await plugins.requiredBy(modelOf(deployment!.model), execution.deploymentId);
      void runner.run(tenant, execution, request.body.retryInFlight === true);
      return reply.status(202).send(view(tenant.name, execution));
    },
  );
}
