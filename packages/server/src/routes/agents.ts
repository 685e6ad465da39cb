/**
 * Host agents: an operator makes a token for the agent of one host instance of a deployment (the
 * `weft worker` that runs that host's host_agent operations, on the host itself); the agent, with
 * that token and nothing else, learns what it serves. A host agent's token is refused on every
 * other route (auth/guard.ts); it is revoked like any token (DELETE /tokens/:id).
 */
import { Type } from 'typebox';
import { issueToken } from '../auth/issue.js';
import type { Api, ServerContext } from '../context.js';
import { notFound, unprocessable } from '../errors.js';
import { AgentScope, ExpiresIn, NewToken } from '../schemas/access.js';
import { AUTH_ERRORS, ErrorBody, IdParams, Name } from '../schemas/common.js';
import { tokenView } from './auth.js';

export async function agentRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access } = context;

  app.post(
    '/deployments/:id/agents',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['agents'],
        summary:
          "Make a token for the agent of one of the deployment's hosts (its secret is shown this once)",
        params: IdParams,
        body: Type.Object({
          host: Name,
          description: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          expiresIn: Type.Optional(ExpiresIn),
        }),
        response: { 201: NewToken, 404: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = request.params.id;
      const { host } = request.body;
      if (!(await tenant.store.getDeployment(deployment))) throw notFound('deployment', deployment);
      const instance = await tenant.store.getInstance(host);
      if (!instance || instance.deploymentId !== deployment)
        throw notFound(`node instance of deployment '${deployment}'`, host);
      // host_agent operations are queued by the id of the Compute instance they run on.
      if (instance.hostId !== instance.id)
        throw unprocessable(
          `node instance '${host}' is not a host (a Compute node): ${instance.hostId ? `its host is '${instance.hostId}'` : 'it runs on no host'}`,
        );
      const token = await issueToken(
        access,
        request.caller!.user.name,
        request.body.description ?? `agent of host ${host} (deployment ${deployment})`,
        request.body.expiresIn ?? 0,
        { tenant: tenant.name, deployment, host },
      );
      return reply.status(201).send({ ...tokenView(token), token: token.token });
    },
  );

  app.get(
    '/agent',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: "What a host agent's token serves: its tenant, deployment and host (the queue it takes)",
        response: { 200: AgentScope, ...AUTH_ERRORS },
      },
    },
    async (request) => request.caller!.agent!,
  );
}
