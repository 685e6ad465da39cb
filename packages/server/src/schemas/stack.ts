/** A HOT stack's snapshots as the API takes and shows them (as `weft stack snapshots --json`). */
import { Type } from 'typebox';
import { Name } from './common.js';
import { Execution } from './executions.js';

export const Snapshot = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    status: Type.Union([Type.Literal('COMPLETE'), Type.Literal('FAILED'), Type.Literal('IN_PROGRESS')], {
      description:
        "FAILED when a resource's handleSnapshot failed: kept, to be shown and deleted, not restored; IN_PROGRESS while its execution has not ended",
    }),
    creation_time: Type.String(),
    data: Type.Optional(
      Type.Unknown({
        description: "the stack's abandon data when the snapshot was taken (secrets masked), with its status",
      }),
    ),
  },
  { $id: 'Snapshot' },
);

export const SnapshotParams = Type.Object({
  id: Name,
  snapshot: Type.String({ minLength: 1, maxLength: 200, description: "the snapshot's id or name" }),
});

/** The parameters of the execution that runs the resources' handlers. */
export const HandlerParameters = Type.Optional(
  Type.Object(
    {
      task_retries: Type.Optional(Type.Integer({ minimum: -1 })),
      task_retry_interval: Type.Optional(Type.Number({ minimum: 0 })),
    },
    { additionalProperties: false },
  ),
);

export const SnapshotRequest = Type.Object(
  {
    name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: "the snapshot's name (default: its id)" }),
    ),
    parameters: HandlerParameters,
  },
  { additionalProperties: false },
);

export const SnapshotStarted = Type.Object({
  snapshot: Type.Object({
    id: Type.String({ description: 'the snapshot is stored under this id once the execution has ended' }),
    name: Type.String(),
  }),
  execution: Execution,
});

/** The body of a delete or a restore: the parameters of its execution, if any. */
export const HandlerRequest = Type.Object({ parameters: HandlerParameters }, { additionalProperties: false });

/** A HOT stack's abandon data (Heat's Stack.prepare_abandon), as weft stack abandon prints it. */
export const AbandonData = Type.Object(
  {
    name: Type.Optional(Type.String()),
    id: Type.Optional(Type.String()),
    action: Type.Optional(Type.String()),
    environment: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description:
          'the parameters, parameter_defaults and resource_registry the stack was made with; an adopt loads it first',
      }),
    ),
    files: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "the template's nested templates and get_file files, by their path from its directory",
      }),
    ),
    status: Type.Optional(Type.String()),
    template: Type.Optional(
      Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
        description: 'the template the stack was made from (parsed); an adopt refuses another one',
      }),
    ),
    resources: Type.Record(Type.String(), Type.Unknown(), {
      description:
        "each resource's name, resource_id, type, action, status, metadata and resource_data, by name; a nested stack resource's (a template resource, group, chain, OS::Heat::Stack) is its nested stack's abandon data, with its resources",
    }),
    project_id: Type.Optional(
      Type.String({
        description: "the stack's project: Weft's one, default_tenant, as OS::project_id gives it",
      }),
    ),
    stack_user_project_id: Type.Optional(
      Type.Null({ description: "Heat's stack domain project: Weft makes none" }),
    ),
    tags: Type.Optional(
      Type.Array(Type.String(), { description: "the stack's tags: Weft's stacks have none" }),
    ),
  },
  { additionalProperties: true },
);
