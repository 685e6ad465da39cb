/**
 * Secrets of a tenant, read by get_secret: their names and times for viewers, set and deleted by
 * operators, their values shown only to admins. A value is never logged nor echoed back.
 */
import { Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { notFound } from '../errors.js';
import { AUTH_ERRORS, ErrorBody } from '../schemas/common.js';
import { SecretInfo, SecretKey } from '../schemas/secrets.js';

const KeyParams = Type.Object({ key: SecretKey });

/** Large enough for a certificate chain or a kubeconfig. */
const MAX_SECRET_BYTES = 64 * 1024;

export async function secretRoutes(app: Api, _context: ServerContext): Promise<void> {
  app.get(
    '/secrets',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['secrets'],
        summary: "The tenant's secrets: names and times, never values",
        response: { 200: Type.Array(SecretInfo), ...AUTH_ERRORS },
      },
    },
    async (request) => request.tenant!.secrets.list(),
  );

  app.put(
    '/secrets/:key',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['secrets'],
        summary: 'Store a secret (or replace its value); it is kept encrypted',
        params: KeyParams,
        body: Type.Object({ value: Type.String({ maxLength: MAX_SECRET_BYTES }) }),
        response: { 200: SecretInfo, 201: SecretInfo, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const { secrets, store } = request.tenant!;
      const existed = (await store.getSecret(request.params.key)) !== undefined;
      await secrets.set(request.params.key, request.body.value);
      const stored = (await secrets.list()).find((s) => s.key === request.params.key)!;
      return reply.status(existed ? 200 : 201).send(stored);
    },
  );

  app.get(
    '/secrets/:key',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['secrets'],
        summary: "A secret's value (admins only)",
        params: KeyParams,
        response: {
          200: Type.Object({ ...SecretInfo.properties, value: Type.String() }),
          404: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request) => {
      const { secrets, store } = request.tenant!;
      const record = await store.getSecret(request.params.key);
      const value = await secrets.get(request.params.key);
      if (!record || value === undefined) throw notFound('secret', request.params.key);
      return { key: record.key, createdAt: record.createdAt, updatedAt: record.updatedAt, value };
    },
  );

  app.delete(
    '/secrets/:key',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['secrets'],
        summary: 'Delete a secret',
        params: KeyParams,
        response: { 204: Type.Null(), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      if (!(await request.tenant!.secrets.delete(request.params.key)))
        throw notFound('secret', request.params.key);
      return reply.status(204).send(null);
    },
  );
}
