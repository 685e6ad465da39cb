/** Deployments and their node instances as the API shows them. */
import { Type } from 'typebox';
import { Nullable } from './common.js';

export const DeploymentStatus = Type.Union(
  [
    Type.Literal('running'),
    Type.Literal('failed'),
    Type.Literal('cancelled'),
    Type.Literal('interrupted'),
    Type.Literal('installed'),
    Type.Literal('uninstalled'),
    Type.Literal('created'),
    Type.Literal('partial'),
  ],
  { description: 'from its last execution and its instances, as weft deployments shows it' },
);

const ExecutionBrief = Type.Object({
  id: Type.String(),
  workflow: Type.String(),
  status: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  endedAt: Nullable(Type.String({ format: 'date-time' })),
});

const summaryFields = {
  id: Type.String(),
  blueprintId: Nullable(Type.String()),
  status: DeploymentStatus,
  createdAt: Type.String({ format: 'date-time' }),
  createdBy: Nullable(Type.String()),
  instanceStates: Type.Record(Type.String(), Type.Integer(), {
    description: 'how many of its node instances are in each state',
  }),
  lastExecution: Nullable(ExecutionBrief),
};

export const DeploymentSummary = Type.Object(summaryFields, { $id: 'DeploymentSummary' });

export const Deployment = Type.Object(
  {
    ...summaryFields,
    inputs: Type.Record(Type.String(), Type.Unknown(), { description: 'secret values masked' }),
    nodes: Type.Array(Type.Object({ id: Type.String(), type: Type.String(), instances: Type.Integer() })),
    stackStatus: Type.Optional(
      Type.String({
        description:
          "a HOT template's deployment only: the stack's status as Heat names it (CREATE_COMPLETE, SUSPEND_COMPLETE, UPDATE_FAILED...)",
      }),
    ),
    workflows: Type.Array(
      Type.Object({
        name: Type.String(),
        parameters: Type.Record(
          Type.String(),
          Type.Object({
            type: Type.Optional(Type.String()),
            default: Type.Optional(Type.Unknown()),
            required: Type.Boolean(),
            description: Type.Optional(Type.String()),
          }),
        ),
        deploymentUpdate: Type.Boolean({
          description:
            "the deployment update's (started with POST /deployments/ID/updates or /rollback, or POST /executions), not a workflow of the blueprint's own plugin",
        }),
      }),
    ),
  },
  { $id: 'Deployment' },
);

export const NodeInstance = Type.Object(
  {
    id: Type.String(),
    deploymentId: Type.String(),
    node: Type.String(),
    index: Type.Integer(),
    state: Type.String(),
    runtimeProperties: Type.Record(Type.String(), Type.Unknown(), { description: 'secret values masked' }),
    version: Type.Integer(),
    containedIn: Nullable(Type.String()),
    hostId: Nullable(Type.String()),
    relationships: Type.Array(
      Type.Object({ type: Type.String(), target: Type.String(), targetId: Type.String() }),
    ),
  },
  { $id: 'NodeInstance' },
);
