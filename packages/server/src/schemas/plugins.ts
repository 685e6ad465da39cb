/** Plugins: uploaded through the API, or in the server's plugin directories. */
import { Type } from 'typebox';
import { Nullable } from './common.js';

export const Plugin = Type.Object(
  {
    name: Type.String(),
    version: Nullable(Type.String()),
    packageName: Nullable(Type.String()),
    format: Type.String({ description: 'plugin.yaml or plugin.json' }),
    source: Type.Union([Type.Literal('uploaded'), Type.Literal('directory')], {
      description: "uploaded through the API, or found in one of the server's plugin directories",
    }),
    uploadedBy: Nullable(Type.String()),
    uploadedAt: Nullable(Type.String({ format: 'date-time' })),
    sha256: Nullable(Type.String({ description: 'of the uploaded archive' })),
    usable: Type.Boolean({ description: 'false when it has problems' }),
    problems: Type.Array(Type.Object({ code: Type.String(), message: Type.String() })),
  },
  { $id: 'Plugin' },
);
