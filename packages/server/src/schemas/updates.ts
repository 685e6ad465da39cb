/** The deployment update as the API takes and shows it: its request, and its plan. */
import { Type } from 'typebox';
import { Name } from './common.js';
import { Environment } from './environment.js';

const Change = Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('modified')]);

const ValueChange = Type.Object({
  name: Type.String(),
  change: Change,
  before: Type.Optional(Type.Unknown()),
  after: Type.Optional(Type.Unknown()),
});

const RelationshipRef = Type.Object({ type: Type.String(), target: Type.String(), index: Type.Integer() });

const InstanceAction = Type.Union([
  Type.Literal('add'),
  Type.Literal('remove'),
  Type.Literal('reinstall'),
  Type.Literal('update'),
  Type.Literal('replace'),
  Type.Literal('relink'),
  Type.Literal('install'),
]);

const UpdateFields = {
  blueprintId: Type.Optional(Name),
  inputs: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description:
        "merged over the deployment's inputs that the blueprint still declares; for a HOT template, its parameters: those not given take their defaults again, as Heat's stack update",
    }),
  ),
  environment: Type.Optional(Environment),
  existing: Type.Optional(
    Type.Boolean({
      description:
        "a HOT stack with its own template and files (Heat's PATCH update, openstack stack update --existing): the inputs given over its own, the environment given over its own; with no blueprintId nor plan",
    }),
  ),
  parameters: Type.Optional(
    Type.Object(
      {
        skip_install: Type.Optional(Type.Boolean({ description: 'do not install added instances' })),
        skip_uninstall: Type.Optional(
          Type.Boolean({ description: 'do not uninstall removed instances (they are dropped)' }),
        ),
        skip_reinstall: Type.Optional(
          Type.Boolean({ description: 'do not reinstall modified instances that have no update operations' }),
        ),
        reinstall_list: Type.Optional(
          Type.Array(Type.String(), { description: 'instance ids to reinstall whatever changed' }),
        ),
        ignore_failure: Type.Optional(
          Type.Boolean({ description: 'failures while uninstalling do not fail the update' }),
        ),
        install_first: Type.Optional(
          Type.Boolean({ description: 'install what is added before uninstalling what is removed' }),
        ),
        task_retries: Type.Optional(Type.Integer({ minimum: -1 })),
        task_retry_interval: Type.Optional(Type.Number({ minimum: 0 })),
      },
      {
        additionalProperties: false,
        description: "the update workflow's parameters, as Cloudify names them",
      },
    ),
  ),
};

export const UpdatePlanRequest = Type.Object({
  ...UpdateFields,
  save: Type.Optional(
    Type.Boolean({ description: 'also answer the plan saved (saved), to apply later with POST updates' }),
  ),
});

export const UpdateRequest = Type.Object({
  ...UpdateFields,
  plan: Type.Optional(
    Type.Unknown({
      description:
        'a plan saved by update-plan (save: true) to apply as it is, instead of blueprintId, inputs and parameters; refused (422) when the deployment changed since',
    }),
  ),
  refresh: Type.Optional(
    Type.Array(Name, {
      description: 'instances to update in place or reinstall although unchanged (those check found drifted)',
    }),
  ),
});

export const UpdatePlan = Type.Object(
  {
    deploymentId: Type.String(),
    changes: Type.Boolean({ description: 'whether the update would change anything' }),
    nodes: Type.Array(
      Type.Object(
        {
          node: Type.String(),
          change: Change,
          action: Type.Union([
            Type.Literal('add'),
            Type.Literal('remove'),
            Type.Literal('update'),
            Type.Literal('replace'),
            Type.Literal('reinstall'),
            Type.Literal('relink'),
            Type.Literal('none'),
          ]),
          type: Type.Optional(Type.Object({ before: Type.String(), after: Type.String() })),
          properties: Type.Array(ValueChange, { description: 'secret values masked' }),
          operations: Type.Array(Type.Object({ name: Type.String(), change: Change })),
          relationships: Type.Object({
            added: Type.Array(RelationshipRef),
            removed: Type.Array(RelationshipRef),
            modified: Type.Array(RelationshipRef),
          }),
          instances: Type.Optional(Type.Object({ before: Type.Integer(), after: Type.Integer() })),
          host: Type.Optional(
            Type.Object({
              before: Type.Union([Type.String(), Type.Null()]),
              after: Type.Union([Type.String(), Type.Null()]),
            }),
          ),
          replacement: Type.Optional(
            Type.Object({
              properties: Type.Array(Type.String()),
              reason: Type.String(),
              deletesFirst: Type.Boolean(),
            }),
          ),
        },
        { description: 'a node that changes, with what the update does to it' },
      ),
    ),
    instances: Type.Array(Type.Object({ id: Type.String(), node: Type.String(), action: InstanceAction })),
    inputs: Type.Array(ValueChange, { description: 'secret values masked' }),
    outputs: Type.Array(ValueChange),
    capabilities: Type.Array(ValueChange),
    workflows: Type.Array(Type.Object({ name: Type.String(), change: Type.String() })),
    groups: Type.Array(ValueChange),
    operations: Type.Array(
      Type.Object({
        wave: Type.Integer({ description: 'operations of one wave may run at once' }),
        instance: Type.String(),
        operation: Type.String(),
        side: Type.Optional(Type.Union([Type.Literal('source'), Type.Literal('target')])),
        target: Type.Optional(Type.String()),
      }),
      { description: 'the operations the update runs, wave by wave' },
    ),
    saved: Type.Optional(
      Type.Unknown({
        description: 'with save: the plan as a document to send back as the plan of POST updates',
      }),
    ),
  },
  { $id: 'UpdatePlan' },
);

export const DeploymentVersion = Type.Object(
  {
    version: Type.Integer(),
    current: Type.Boolean({ description: 'the version the deployment is at' }),
    createdAt: Type.String(),
    blueprintId: Type.String({ description: "the blueprint's content id" }),
    blueprint: Type.Union([Type.String(), Type.Null()], {
      description: 'the stored blueprint the version was made from, if one is still stored with its files',
    }),
    inputs: Type.Record(Type.String(), Type.Unknown(), { description: 'secret values masked' }),
    execution: Type.Union([
      Type.Object({ id: Type.String(), workflow: Type.String(), status: Type.String() }),
      Type.Null(),
    ]),
  },
  { $id: 'DeploymentVersion' },
);
