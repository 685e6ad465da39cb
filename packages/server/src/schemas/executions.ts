/** Executions, their tasks and events as the API shows them. */
import { Type } from 'typebox';
import { AUTH_ERRORS, ErrorBody } from './common.js';

const Time = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

export const ExecutionStatus = Type.Union(
  [
    Type.Literal('pending'),
    Type.Literal('started'),
    Type.Literal('cancelling'),
    Type.Literal('force_cancelling'),
    Type.Literal('cancelled'),
    Type.Literal('terminated'),
    Type.Literal('failed'),
    Type.Literal('interrupted'),
  ],
  { description: 'terminated means it succeeded (as Cloudify names it)' },
);

export const Execution = Type.Object(
  {
    id: Type.String(),
    deploymentId: Type.String(),
    workflow: Type.String(),
    parameters: Type.Record(Type.String(), Type.Unknown()),
    status: ExecutionStatus,
    error: Type.Unknown({
      description: 'why it failed or was interrupted: {message, task?, causes?...}, or null',
    }),
    createdAt: Time,
    startedAt: Nullable(Time),
    endedAt: Nullable(Time),
    cancelRequest: Type.Optional(
      Type.Object(
        { rollback: Type.Boolean() },
        {
          description:
            "what a cancel asked beyond stopping, once one did: rollback false is Heat's stack cancel --no-rollback",
        },
      ),
    ),
    running: Type.Boolean({ description: 'whether this server is running it now' }),
    tookOver: Type.Optional(
      Type.String({
        description:
          "answered when it was started: the execution it took the HOT stack over from (stopped first, as Heat's convergence takes a stack whose create or update is in progress)",
      }),
    ),
  },
  { $id: 'Execution' },
);

export const Task = Type.Object(
  {
    id: Type.Integer(),
    kind: Type.String(),
    instanceId: Type.String(),
    node: Type.String(),
    operation: Nullable(Type.String()),
    targetState: Nullable(Type.String()),
    dependsOn: Type.Array(Type.Integer()),
    ignoreFailure: Type.Boolean({ description: 'a failure of this task does not fail the execution' }),
    state: Type.String(),
    attempt: Type.Integer(),
    error: Type.Unknown(),
    result: Type.Unknown({ description: 'what the operation returned (secret values masked)' }),
    relationship: Type.Unknown({
      description: 'for a relationship operation: {side, sourceId, targetId, targetNode, type, index}',
    }),
    updatedAt: Type.String(),
  },
  { $id: 'Task' },
);

export const Level = Type.Union([
  Type.Literal('debug'),
  Type.Literal('info'),
  Type.Literal('warning'),
  Type.Literal('error'),
]);

export const Event = Type.Object(
  {
    seq: Type.Integer({ description: 'increasing; the id of the SSE event, for Last-Event-ID' }),
    executionId: Nullable(Type.String()),
    deploymentId: Nullable(Type.String()),
    node: Nullable(Type.String()),
    instanceId: Nullable(Type.String()),
    operation: Nullable(Type.String()),
    taskId: Nullable(Type.Integer()),
    type: Type.String({ description: 'workflow_started, task_started, task_succeeded, task_failed, log...' }),
    level: Level,
    message: Type.String(),
    data: Type.Unknown(),
    timestamp: Type.String(),
  },
  { $id: 'Event' },
);

/**
 * The answers of a route that starts an execution: 201 started, 202 started once the HOT stack's
 * running execution was taken over (named by tookOver), 409 while another one runs.
 */
export const EXECUTION_STARTED_RESPONSES = {
  201: Execution,
  202: Execution,
  404: ErrorBody,
  409: ErrorBody,
  422: ErrorBody,
  ...AUTH_ERRORS,
} as const;
