/**
 * Host agents: an operator makes a token for the agent of one host instance of a deployment (the
 * `weft worker --server` that runs that host's host_agent operations, on the host itself); the
 * agent, with that token and nothing else (no database URL, no secret key), takes its host's jobs
 * here and reports them, and reads what they need: its deployment's model and blueprint files,
 * and the uploaded plugins. A host agent's token is refused on every other route
 * (auth/guard.ts); it is revoked like any token (DELETE /tokens/:id), and an agent whose token is
 * revoked takes no more work.
 */
import { Type } from 'typebox';
import { issueToken } from '../auth/issue.js';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { AgentScope, ExpiresIn, NewToken } from '../schemas/access.js';
import { AUTH_ERRORS, ErrorBody, IdParams, Name, NameParams } from '../schemas/common.js';
import type { LiveLog, Reply } from '../workers/jobs.js';
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

  const hub = () => {
    if (!context.workers)
      throw conflict(
        'this server runs operations itself (it was started without --workers): it has no queues for agents',
      );
    return context.workers;
  };
  const Json = Type.Unknown();
  const JobParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

  app.post(
    '/agent/jobs',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: "Take up to `max` jobs of the agent's host queue, waiting up to `waitSeconds` for one",
        body: Type.Object({
          max: Type.Integer({ minimum: 1, maximum: 64 }),
          waitSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 60 })),
        }),
        response: {
          200: Type.Array(
            Type.Object({
              id: Type.String(),
              retryCount: Type.Integer(),
              expireInSeconds: Type.Number(),
              deploymentId: Type.String(),
              modelHash: Type.String(),
              uploadsHash: Type.String(),
              call: Json,
            }),
          ),
          409: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request) =>
      hub().agentTake(
        request.tenant!,
        request.caller!.agent!,
        request.body.max,
        (request.body.waitSeconds ?? 0) * 1000,
        async () => (await access.getToken(request.caller!.tokenId)) !== undefined,
      ),
  );

  app.post(
    '/agent/jobs/:id/lease',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary:
          'Renew the lease of a job the agent runs; held: false when it is not its any more (cancelled, lost)',
        params: JobParams,
        body: Type.Object({ retryCount: Type.Integer({ minimum: 0 }) }),
        response: { 200: Type.Object({ held: Type.Boolean() }), 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => ({
      held: await hub().agentRenew(request.caller!.agent!, request.params.id, request.body.retryCount),
    }),
  );

  app.post(
    '/agent/jobs/:id/watch',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary:
          'Wait up to `waitSeconds` for a job the agent runs to be cancelled; held: false as soon as it is not its any more',
        params: JobParams,
        body: Type.Object({
          retryCount: Type.Integer({ minimum: 0 }),
          waitSeconds: Type.Integer({ minimum: 0, maximum: 60 }),
        }),
        response: { 200: Type.Object({ held: Type.Boolean() }), 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      // The agent went away (its job ended, or it stopped): the wait ends with it.
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      return {
        held: await hub().agentWatch(
          request.caller!.agent!,
          request.params.id,
          request.body.retryCount,
          request.body.waitSeconds * 1000,
          gone.signal,
        ),
      };
    },
  );

  app.post(
    '/agent/jobs/:id/log',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary:
          "Pass on a log line of a job the agent runs, as it is written (the n-th of the attempt's lines)",
        params: JobParams,
        body: Type.Object({
          attempt: Type.Integer({ minimum: 0 }),
          n: Type.Integer({ minimum: 0 }),
          level: Type.Union(['debug', 'info', 'warning', 'error'].map((l) => Type.Literal(l))),
          message: Type.String({ maxLength: 64 * 1024 }),
        }),
        response: { 200: Type.Object({ sent: Type.Boolean() }), 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => ({
      sent: await hub().agentLog(request.caller!.agent!, {
        id: request.params.id,
        ...request.body,
        level: request.body.level as LiveLog['level'],
      }),
    }),
  );

  app.post(
    '/agent/jobs/:id/complete',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary:
          "Report a job's outcome and log lines; completed: false when it was not the agent's any more",
        params: JobParams,
        body: Type.Object({
          attempt: Type.Integer({ minimum: 0 }),
          outcome: Type.Object({ type: Type.String() }, { additionalProperties: true }),
          logs: Type.Array(Type.Object({ level: Type.String(), message: Type.String() })),
        }),
        response: { 200: Type.Object({ completed: Type.Boolean() }), 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => ({
      completed: await hub().agentComplete(
        request.tenant!,
        request.caller!.agent!,
        request.params.id,
        request.body as Reply,
      ),
    }),
  );

  app.post(
    '/agent/jobs/:id/give-back',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: 'Hand a job back to the queue (the agent stops, or cannot run it)',
        params: JobParams,
        body: Type.Object({
          retryCount: Type.Integer({ minimum: 0 }),
          message: Type.String({ maxLength: 2000 }),
        }),
        response: { 200: Type.Object({ givenBack: Type.Boolean() }), 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => ({
      givenBack: await hub().agentGiveBack(
        request.caller!.agent!,
        request.params.id,
        request.body.retryCount,
        request.body.message,
      ),
    }),
  );

  app.get(
    '/agent/deployment',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary:
          "The agent's deployment as its operations run it: the model, and the blueprint's files (base64)",
        response: {
          200: Type.Object({
            blueprintId: Type.String(),
            model: Json,
            files: Type.Record(Type.String(), Type.String()),
          }),
          404: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request) => {
      const { store } = request.tenant!;
      const { deployment: id } = request.caller!.agent!;
      const deployment = await store.getDeployment(id);
      if (!deployment) throw notFound('deployment', id);
      const blueprint = await store.getBlueprint(deployment.blueprintId);
      if (!blueprint) throw notFound('blueprint', deployment.blueprintId);
      const files = Object.fromEntries(
        Object.entries(blueprint.files).map(([path, bytes]) => [path, Buffer.from(bytes).toString('base64')]),
      );
      return { blueprintId: deployment.blueprintId, model: deployment.model, files };
    },
  );

  app.get(
    '/agent/plugins',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: 'The uploaded plugins, as an agent syncs them',
        response: { 200: Type.Array(Json), ...AUTH_ERRORS },
      },
    },
    async () => access.listPlugins(),
  );

  app.get(
    '/agent/plugins/:name',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: "An uploaded plugin's archive (base64) and its checksum, which the agent verifies",
        params: NameParams,
        response: {
          200: Type.Object({ sha256: Type.String(), archive: Type.String() }),
          404: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request) => {
      const found = await access.getPluginArchive(request.params.name);
      if (!found) throw notFound('plugin', request.params.name);
      return { sha256: found.sha256, archive: found.archive.toString('base64') };
    },
  );
}
