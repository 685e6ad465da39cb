/** Users (superusers manage them): create, list, change password or superuser flag, delete. */
import type { Static } from 'typebox';
import { Type } from 'typebox';
import { hashPassword } from '../auth/passwords.js';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound } from '../errors.js';
import { Password, User } from '../schemas/access.js';
import { AUTH_ERRORS, ErrorBody, Name, NameParams } from '../schemas/common.js';
import { type AccessStore, DuplicateError, type UserRecord } from '../store/access.js';

/** A user as the API shows them: no password hash; with their tenants and roles. */
export async function userView(access: AccessStore, user: UserRecord): Promise<Static<typeof User>> {
  const memberships = await access.listMemberships({ user: user.name });
  return {
    name: user.name,
    superuser: user.superuser,
    createdAt: user.createdAt,
    tenants: memberships.map((m) => ({ tenant: m.tenant, role: m.role })),
  };
}

export async function userRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access } = context;
  const read = async (name: string) => {
    const user = await access.getUser(name);
    if (!user) throw notFound('user', name);
    return user;
  };

  app.get(
    '/users',
    {
      config: { access: 'superuser' },
      schema: { tags: ['users'], summary: 'Every user', response: { 200: Type.Array(User), ...AUTH_ERRORS } },
    },
    async () => Promise.all((await access.listUsers()).map((user) => userView(access, user))),
  );

  app.post(
    '/users',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['users'],
        summary: 'Create a user',
        body: Type.Object({ name: Name, password: Password, superuser: Type.Optional(Type.Boolean()) }),
        response: { 201: User, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const user: UserRecord = {
        name: request.body.name,
        passwordHash: await hashPassword(request.body.password),
        superuser: request.body.superuser ?? false,
        createdAt: new Date().toISOString(),
      };
      try {
        await access.createUser(user);
      } catch (error) {
        if (error instanceof DuplicateError) throw conflict(`user '${user.name}' already exists`);
        throw error;
      }
      return reply.status(201).send(await userView(access, user));
    },
  );

  app.get(
    '/users/:name',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['users'],
        summary: 'One user',
        params: NameParams,
        response: { 200: User, 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => userView(access, await read(request.params.name)),
  );

  app.patch(
    '/users/:name',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['users'],
        summary: 'Set a new password, or make or unmake a superuser',
        params: NameParams,
        body: Type.Object({ password: Type.Optional(Password), superuser: Type.Optional(Type.Boolean()) }),
        response: { 200: User, 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const user = await read(request.params.name);
      if (request.body.superuser === false && user.superuser && (await access.countSuperusers()) === 1)
        throw conflict(`'${user.name}' is the last superuser: make another one first`);
      await access.updateUser(user.name, {
        ...(request.body.password !== undefined
          ? { passwordHash: await hashPassword(request.body.password) }
          : {}),
        ...(request.body.superuser !== undefined ? { superuser: request.body.superuser } : {}),
      });
      return userView(access, await read(user.name));
    },
  );

  app.delete(
    '/users/:name',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['users'],
        summary: 'Delete a user, with their tokens and memberships',
        params: NameParams,
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const user = await read(request.params.name);
      if (user.superuser && (await access.countSuperusers()) === 1)
        throw conflict(`'${user.name}' is the last superuser: make another one first`);
      await access.deleteUser(user.name);
      return reply.status(204).send(null);
    },
  );
}
