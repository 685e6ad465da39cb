/**
 * Every error the API answers has one shape, `{code, message, details}`, and the status that says
 * whose fault it is. Engine errors keep their codes; anything unexpected is a 500 whose message
 * names no internals (the log has them).
 */
import { WeftError } from '@weft/engine';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export interface ErrorBody {
  code: string;
  message: string;
  details: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const unauthorized = (message = 'a valid token is required (Authorization: Bearer TOKEN)') =>
  new ApiError(401, 'unauthorized', message);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const notFound = (what: string, id: string) =>
  new ApiError(404, 'not_found', `${what} '${id}' not found`);
export const conflict = (message: string, details: unknown = null) =>
  new ApiError(409, 'conflict', message, details);
export const tooLarge = (message: string) => new ApiError(413, 'too_large', message);
export const unprocessable = (message: string, details: unknown = null) =>
  new ApiError(422, 'invalid', message, details);

/** Engine errors by code: those that are the caller's to fix get a 4xx. */
const ENGINE_STATUS: Record<string, number> = {
  not_found: 404,
  already_exists: 409,
  execution_active: 409,
  version_conflict: 409,
  // A suspended HOT stack is resumed before it is updated: the deployment's state, not the request.
  stack_suspended: 409,
};

/** The status and body an error is answered with. */
export function errorResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof ApiError)
    return {
      status: error.status,
      body: { code: error.code, message: error.message, details: error.details },
    };
  const fastify = error as Partial<FastifyError>;
  if (fastify.validation)
    return {
      status: 400,
      body: {
        code: 'bad_request',
        message: `${fastify.validationContext ?? 'request'}${fastify.message?.replace(/^(body|querystring|params|headers)/, '') ?? ''}`,
        details: fastify.validation,
      },
    };
  if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return {
      status: 413,
      body: { code: 'too_large', message: 'the request body is too large', details: null },
    };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500)
    return {
      status: fastify.statusCode,
      body: {
        code: fastify.statusCode === 429 ? 'rate_limited' : 'bad_request',
        message: fastify.message ?? '',
        details: null,
      },
    };
  if (error instanceof WeftError) {
    const status = ENGINE_STATUS[error.code] ?? (error.kind === 'usage' ? 422 : 500);
    if (status < 500) return { status, body: { code: error.code, message: error.message, details: null } };
  }
  return {
    status: 500,
    body: { code: 'internal', message: 'internal server error (see the server log)', details: null },
  };
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = errorResponse(error);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  void reply.status(status).send(body);
}
