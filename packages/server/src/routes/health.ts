/** GET /health: whether the server and its database answer; needs no token (load balancers ask). */
import { Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { ErrorBody } from '../schemas/common.js';

export async function healthRoutes(app: Api, context: ServerContext): Promise<void> {
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['server'],
        summary: 'Whether the server and its database answer',
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal('ok'), version: Type.String() }),
          503: ErrorBody,
        },
      },
    },
    async (_request, reply) => {
      try {
        await context.access.listTenants();
      } catch {
        return reply
          .status(503)
          .send({ code: 'unavailable', message: 'the database does not answer', details: null });
      }
      return { status: 'ok' as const, version: SERVER_VERSION };
    },
  );
}

/** The API's version, as the OpenAPI document gives it. */
export const SERVER_VERSION = '0.1.0';
