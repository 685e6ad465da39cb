/** The plugins the server's plugin directories hold, with what is wrong with those that cannot be used. */
import { Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { AUTH_ERRORS } from '../schemas/common.js';
import { Plugin } from '../schemas/plugins.js';

export async function pluginRoutes(app: Api, context: ServerContext): Promise<void> {
  app.get(
    '/plugins',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['plugins'],
        summary: "The plugins blueprints can use (the server's plugin directories)",
        response: { 200: Type.Array(Plugin), ...AUTH_ERRORS },
      },
    },
    async () =>
      context.plugins.set.plugins.map((p) => ({
        name: p.name,
        version: p.version ?? null,
        packageName: p.packageName ?? null,
        format: p.format,
        usable: p.problems.length === 0,
        problems: p.problems.map((problem) => ({ code: problem.code, message: problem.message })),
      })),
  );
}
