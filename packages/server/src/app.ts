/**
 * The HTTP application: security headers, rate limits, one error shape, the access guard before
 * every handler, every request validated and every response checked against the schemas that also
 * make the OpenAPI document (/api/v1/openapi.json, browsable at /api/v1/docs).
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { type Access, authGuard } from './auth/guard.js';
import type { Api, ServerContext } from './context.js';
import { errorHandler } from './errors.js';
import { absentBodyIsEmpty, emptyJsonIsAbsent, markOptionalBodies } from './optional-body.js';
import { agentRoutes } from './routes/agents.js';
import { authRoutes } from './routes/auth.js';
import { blueprintRoutes } from './routes/blueprints.js';
import { deploymentUpdateRoutes } from './routes/deployment-updates.js';
import { deploymentRoutes } from './routes/deployments.js';
import { eventRoutes } from './routes/events.js';
import { executionRoutes } from './routes/executions.js';
import { healthRoutes, SERVER_VERSION } from './routes/health.js';
import { nodeInstanceRoutes } from './routes/node-instances.js';
import { pluginRoutes } from './routes/plugins.js';
import { secretRoutes } from './routes/secrets.js';
import { stackRoutes } from './routes/stack.js';
import { tenantRoutes } from './routes/tenants.js';
import { userRoutes } from './routes/users.js';
import { ErrorBody } from './schemas/common.js';
import { securityHeaders } from './security-headers.js';
import { isWebUiPath, webUi } from './web-ui.js';

export const API_PREFIX = '/api/v1';

/** A route as the access tests walk them. */
export interface RouteEntry {
  method: string;
  url: string;
  access: Access | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with its access rule, in the order they were declared. */
    weftRoutes: RouteEntry[];
  }
}

/** Request bodies larger than this are refused (413), except where a route allows more. */
export const BODY_LIMIT = 1024 * 1024;

/**
 * Responses are checked against their schema before they are sent: a handler that would answer
 * something the document does not promise fails loudly (500, logged) instead. Then Fastify's own
 * serializer (fast-json-stringify, compiled from the same schema) writes the body, leaving out
 * any field the schema does not name: nothing undocumented leaks.
 */
function responseValidator() {
  // One Ajv for every response schema: the named schemas ($id) embedded in many of them are not
  // registered (addUsedSchema), so the same one may be compiled again.
  const ajv = new Ajv({ allErrors: false, strict: false, addUsedSchema: false });
  addFormats.default(ajv);
  const compiled = new WeakMap<object, ValidateFunction>();
  /**
   * The schema each payload was found to match: a payload is not changed once sent, and one
   * shared by many requests (GET /deployments/:id's views) is checked once.
   */
  const checked = new WeakMap<object, object>();
  const validatorOf = (schema: object) => {
    let validate = compiled.get(schema);
    if (!validate) {
      validate = ajv.compile(schema);
      compiled.set(schema, validate);
    }
    return validate;
  };
  return (
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (error: Error | null, payload?: unknown) => void,
  ) => {
    const responses = request.routeOptions.schema?.response as Record<string, object> | undefined;
    const status = reply.statusCode;
    const schema = responses?.[status] ?? responses?.[`${Math.floor(status / 100)}xx`] ?? responses?.default;
    if (!schema) return done(null, payload);
    const shared = typeof payload === 'object' && payload !== null;
    if (shared && checked.get(payload) === schema) return done(null, payload);
    const validate = validatorOf(schema);
    if (!validate(payload))
      return done(new Error(`response does not match its schema: ${ajv.errorsText(validate.errors)}`));
    if (shared) checked.set(payload, schema);
    done(null, payload);
  };
}

export async function buildApp(
  context: ServerContext,
  options: Pick<FastifyServerOptions, 'loggerInstance'> = {},
): Promise<Api> {
  const app = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: false }),
    bodyLimit: BODY_LIMIT,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('preSerialization', responseValidator());
  emptyJsonIsAbsent(app);
  app.addHook('preValidation', absentBodyIsEmpty);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    if (app.webUiPage(request, reply)) return;
    void reply.status(404).send({
      code: 'not_found',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
      details: null,
    });
  });
  const table: RouteEntry[] = [];
  app.decorate('weftRoutes', table);
  app.addHook('onRoute', (route) => {
    // The documentation's own routes are public, like the document; so are the web UI's files.
    if (route.url.startsWith(`${API_PREFIX}/docs`) || isWebUiPath(route.url, API_PREFIX))
      route.config = { ...route.config, access: 'public' };
    for (const method of [route.method].flat())
      if (method !== 'HEAD') table.push({ method, url: route.url, access: route.config?.access });
  });
  app.addHook(
    'onRequest',
    authGuard(context.access, context.tenants, (url) => isWebUiPath(url, API_PREFIX)),
  );

  securityHeaders(app, {
    contentSecurityPolicy: {
      directives: { 'script-src': ["'self'"], 'style-src': ["'self'", 'https:', "'unsafe-inline'"] },
    },
  });
  await app.register(rateLimit, { global: false });
  app.addSchema(ErrorBody);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Weft API',
        version: SERVER_VERSION,
        description:
          "Weft's REST API: blueprints, deployments, executions, events, secrets, plugins, users and tenants. Send a token as `Authorization: Bearer TOKEN` (POST /auth/login gives one) and the tenant to act in as the `Tenant` header.",
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transformObject: (document) =>
      markOptionalBodies('openapiObject' in document ? document.openapiObject : {}),
  });
  await app.register(swaggerUi, { routePrefix: `${API_PREFIX}/docs`, staticCSP: true });

  await app.register(
    async (api) => {
      const typed = api as unknown as Api;
      typed.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
        app.swagger(),
      );
      await healthRoutes(typed, context);
      await authRoutes(typed, context);
      await userRoutes(typed, context);
      await tenantRoutes(typed, context);
      await executionRoutes(typed, context);
      await eventRoutes(typed, context);
      // In a context of its own: only its upload route reads YAML and archives.
      await typed.register(async (scope) => blueprintRoutes(scope as unknown as Api, context));
      await deploymentRoutes(typed, context);
      await deploymentUpdateRoutes(typed, context);
      await stackRoutes(typed, context);
      await nodeInstanceRoutes(typed, context);
      await agentRoutes(typed, context);
      await secretRoutes(typed, context);
      await pluginRoutes(typed, context);
    },
    { prefix: API_PREFIX },
  );
  await webUi(app, API_PREFIX);
  return app;
}
