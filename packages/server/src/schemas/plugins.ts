/** Plugins in the server's plugin directories. */
import { Type } from 'typebox';
import { Nullable } from './common.js';

export const Plugin = Type.Object(
  {
    name: Type.String(),
    version: Nullable(Type.String()),
    packageName: Nullable(Type.String()),
    format: Type.String({ description: 'plugin.yaml or plugin.json' }),
    usable: Type.Boolean({ description: 'false when it has problems' }),
    problems: Type.Array(Type.Object({ code: Type.String(), message: Type.String() })),
  },
  { $id: 'Plugin' },
);
