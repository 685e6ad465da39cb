/** Tenants and who belongs to them with which role (superusers manage them). */
import { Type } from 'typebox';
import { DEFAULT_TENANT } from '../auth/guard.js';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { Member, Tenant } from '../schemas/access.js';
import { AUTH_ERRORS, ErrorBody, Name, NameParams, Role } from '../schemas/common.js';
import { DuplicateError } from '../store/access.js';
import { TENANT_NAME } from '../tenants.js';

export async function tenantRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access } = context;
  const read = async (name: string) => {
    const tenant = await access.getTenant(name);
    if (!tenant) throw notFound('tenant', name);
    return tenant;
  };

  app.get(
    '/tenants',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['tenants'],
        summary: 'Every tenant',
        response: { 200: Type.Array(Tenant), ...AUTH_ERRORS },
      },
    },
    async () => access.listTenants(),
  );

  app.post(
    '/tenants',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant',
        body: Type.Object({
          name: Type.String({ pattern: TENANT_NAME.source, description: 'lower-case letters, digits, _' }),
        }),
        response: { 201: Tenant, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = { name: request.body.name, createdAt: new Date().toISOString() };
      try {
        await access.createTenant(tenant);
      } catch (error) {
        if (error instanceof DuplicateError) throw conflict(`tenant '${tenant.name}' already exists`);
        throw error;
      }
      return reply.status(201).send(tenant);
    },
  );

  app.delete(
    '/tenants/:name',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['tenants'],
        summary: 'Delete a tenant that holds no deployments',
        params: NameParams,
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = await read(request.params.name);
      const { store } = await context.tenants.get(tenant.name);
      const deployments = await store.listDeployments();
      if (deployments.length > 0)
        throw conflict(
          `tenant '${tenant.name}' still has ${deployments.length} deployment(s): delete them first`,
        );
      if (tenant.name === DEFAULT_TENANT)
        throw conflict(`the default tenant '${DEFAULT_TENANT}' cannot be deleted`);
      await access.deleteTenant(tenant.name);
      // Its secrets and history go with it: a tenant made later under this name starts empty.
      await context.tenants.destroy(tenant.name);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/tenants/:name/members',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['tenants'],
        summary: "The tenant's users and their roles",
        params: NameParams,
        response: { 200: Type.Array(Member), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      await read(request.params.name);
      return (await access.listMemberships({ tenant: request.params.name })).map((m) => ({
        user: m.user,
        role: m.role,
      }));
    },
  );

  app.put(
    '/tenants/:name/members/:user',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['tenants'],
        summary: 'Give a user a role in the tenant (or change it)',
        params: Type.Object({ name: Name, user: Name }),
        body: Type.Object({ role: Role }),
        response: { 200: Member, 404: ErrorBody, 422: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      await read(request.params.name);
      if (!(await access.getUser(request.params.user)))
        throw unprocessable(`there is no user '${request.params.user}'`);
      await access.setMembership({
        tenant: request.params.name,
        user: request.params.user,
        role: request.body.role,
      });
      return { user: request.params.user, role: request.body.role };
    },
  );

  app.delete(
    '/tenants/:name/members/:user',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['tenants'],
        summary: 'Take a user out of the tenant',
        params: Type.Object({ name: Name, user: Name }),
        response: { 204: Type.Null(), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      if (!(await access.deleteMembership(request.params.name, request.params.user)))
        throw notFound('member', `${request.params.user}@${request.params.name}`);
      return reply.status(204).send(null);
    },
  );
}
