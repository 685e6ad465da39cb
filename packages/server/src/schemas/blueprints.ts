/** Blueprints as the API shows them, and the problems a blueprint or inputs can have. */
import { Type } from 'typebox';

export const ProblemSchema = Type.Object(
  {
    code: Type.String({ description: 'the kind of problem, e.g. unknown-key, type-mismatch' }),
    file: Type.Union([Type.String(), Type.Null()], {
      description:
        "relative to the blueprint's directory (blueprint:ID/FILE in an imported stored blueprint)",
    }),
    line: Type.Union([Type.Integer(), Type.Null()]),
    column: Type.Union([Type.Integer(), Type.Null()]),
    path: Type.String({ description: 'dotted path of the value, e.g. node_templates.web.properties.port' }),
    message: Type.String(),
  },
  { $id: 'Problem' },
);

const Parameter = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.String(), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  required: Type.Boolean({ description: 'must be given (it has no default)' }),
  default: Type.Optional(Type.Unknown()),
  constraints: Type.Array(Type.Object({ name: Type.String(), argument: Type.Unknown() })),
});

const Described = Type.Object({ name: Type.String(), description: Type.Union([Type.String(), Type.Null()]) });

const summaryFields = {
  id: Type.String(),
  mainFile: Type.String({ description: "the main file, relative to the blueprint's directory" }),
  description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  createdBy: Type.String(),
};

export const BlueprintSummary = Type.Object(summaryFields, { $id: 'BlueprintSummary' });

const detailFields = {
  ...summaryFields,
  dslVersion: Type.String(),
  inputs: Type.Array(Parameter),
  nodes: Type.Array(
    Type.Object({
      name: Type.String(),
      type: Type.String(),
      typeHierarchy: Type.Array(Type.String()),
      containedIn: Type.Optional(
        Type.Union([Type.String(), Type.Null()], { description: 'the node its contained_in names' }),
      ),
      relationships: Type.Optional(
        Type.Array(Type.Object({ type: Type.String(), target: Type.String() }), {
          description:
            'its other relationships (both absent for a blueprint uploaded before they were recorded)',
        }),
      ),
    }),
  ),
  workflows: Type.Array(Type.Object({ name: Type.String(), parameters: Type.Array(Parameter) })),
  outputs: Type.Array(Described),
  capabilities: Type.Array(Described),
  plugins: Type.Array(Type.String()),
};

export const Blueprint = Type.Object(detailFields, { $id: 'Blueprint' });

export const UploadedBlueprint = Type.Object(
  {
    ...detailFields,
    warnings: Type.Array(ProblemSchema, {
      description: 'what does not make it invalid but will matter: plugins not installed, secrets not set',
    }),
  },
  { $id: 'UploadedBlueprint' },
);
