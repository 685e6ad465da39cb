/**
 * A request body whose fields are all optional may be left out: `POST /executions/ID/cancel` with
 * no body, an empty one sent with no JSON content type (as `curl -X POST` and `fetch` do), or an
 * empty one sent as `application/json` (as many HTTP clients do) means the same as `{}`. The API
 * document says so too (its generator marks every body required).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

interface ObjectSchema {
  type?: unknown;
  required?: unknown[];
}

/** Whether a body schema is an object that `{}` satisfies as far as its required fields go. */
const allOptional = (schema: unknown): boolean => {
  const object = schema as ObjectSchema | undefined;
  return object?.type === 'object' && (object.required ?? []).length === 0;
};

/**
 * A preValidation hook: no body, or an empty one, becomes `{}` where every field is optional;
 * where some are required, the 400 names them (rather than a bare "body must be object").
 */
export async function absentBodyIsEmpty(request: FastifyRequest): Promise<void> {
  if (request.body !== undefined && request.body !== '') return;
  const schema = request.routeOptions.schema?.body;
  if (allOptional(schema)) request.body = {};
  else if ((schema as ObjectSchema | undefined)?.type === 'object')
    throw new ApiError(
      400,
      'bad_request',
      `the request needs a JSON body with ${((schema as ObjectSchema).required ?? []).join(', ')}`,
    );
}

/**
 * JSON bodies parsed as Fastify does (prototype poisoning refused), but an empty one (or only
 * whitespace) is no body rather than Fastify's 400, so that {@link absentBodyIsEmpty} decides;
 * a malformed one is a 400 that says so, answered in the API's error shape.
 */
export function emptyJsonIsAbsent(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    parse(request, text, (error, value) => {
      if (!error) return done(null, value);
      // Fastify's message does not say where: JSON.parse's does (when it is the syntax at fault,
      // not a refused __proto__ key).
      let reason = error.message;
      try {
        JSON.parse(text);
      } catch (syntax) {
        reason = (syntax as Error).message;
      }
      done(new ApiError(400, 'bad_request', `the request body is not valid JSON: ${reason}`), undefined);
    });
  });
}

interface OpenApiDocument {
  paths?: Record<
    string,
    Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> } }>
  >;
}

/** The generated document with the bodies `absentBodyIsEmpty` lets clients leave out marked optional. */
export function markOptionalBodies<T>(document: T): T {
  for (const operations of Object.values((document as OpenApiDocument).paths ?? {}))
    for (const operation of Object.values(operations)) {
      const body = operation.requestBody;
      const json = body?.content?.['application/json'];
      if (body && json && allOptional(json.schema)) body.required = false;
    }
  return document;
}
