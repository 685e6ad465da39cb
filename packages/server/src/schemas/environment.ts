/** A HOT template's environment files as a request carries them (the CLI's `-e`). */
import { Type } from 'typebox';

export const Environment = Type.Object(
  {
    files: Type.Record(
      Type.String({ minLength: 1, maxLength: 1024 }),
      Type.String({ contentEncoding: 'base64', pattern: '^[A-Za-z0-9+/]*={0,2}$' }),
      {
        description:
          'each file by its path relative to one directory (no ..), its content in base64: the environment files and the files they name (resource_registry templates, and what those read)',
      },
    ),
    order: Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), {
      minItems: 1,
      description:
        'the paths (among files) of the environment files, merged in this order, each over the ones before',
    }),
  },
  {
    additionalProperties: false,
    description: "a HOT template's environment (Heat's -e), as `openstack stack create -e` reads it",
  },
);
