/** Logging in (a password for a token), who am I, and a user's own API tokens. */
import { Type } from 'typebox';
import { issueToken, LOGIN_TOKEN_SECONDS } from '../auth/issue.js';
import { hashPassword, passwordMatches } from '../auth/passwords.js';
import type { Api, ServerContext } from '../context.js';
import { ApiError, notFound } from '../errors.js';
import { ExpiresIn, NewToken, Token, User } from '../schemas/access.js';
import { AUTH_ERRORS, ErrorBody, IdParams } from '../schemas/common.js';
import type { TokenRecord } from '../store/access.js';
import { userView } from './users.js';

/** A token as the API shows it: never its secret's hash. */
export const tokenView = (token: TokenRecord) => ({
  id: token.id,
  user: token.user,
  description: token.description,
  expiresAt: token.expiresAt,
  createdAt: token.createdAt,
  lastUsedAt: token.lastUsedAt,
  agent: token.agent,
});

/** Failed and successful logins alike: at most this many a minute from one address. */
const LOGINS_PER_MINUTE = 10;

export async function authRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access } = context;
  // Compared against when the user does not exist, so that the answer takes as long either way.
  const absentUserHash = await hashPassword('no such user: this hash is never matched');

  app.post(
    '/auth/login',
    {
      config: { access: 'public', rateLimit: { max: LOGINS_PER_MINUTE, timeWindow: 60_000 } },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a user name and password for an API token',
        security: [],
        body: Type.Object({
          username: Type.String({ minLength: 1, maxLength: 100 }),
          password: Type.String({ minLength: 1, maxLength: 1024 }),
          expiresIn: Type.Optional(ExpiresIn),
          description: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: { 201: NewToken, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const user = await access.getUser(username);
      const matches = await passwordMatches(user?.passwordHash ?? absentUserHash, password);
      if (!user || !matches) throw new ApiError(401, 'unauthorized', 'wrong user name or password');
      const token = await issueToken(
        access,
        user.name,
        request.body.description ?? 'login',
        request.body.expiresIn ?? LOGIN_TOKEN_SECONDS,
      );
      return reply.status(201).send({ ...tokenView(token), token: token.token });
    },
  );

  app.get(
    '/auth/me',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user and their tenants',
        response: { 200: User, ...AUTH_ERRORS },
      },
    },
    async (request) => userView(access, request.caller!.user),
  );

  app.get(
    '/tokens',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: "The caller's tokens (never their secrets)",
        response: { 200: Type.Array(Token), ...AUTH_ERRORS },
      },
    },
    async (request) => (await access.listTokens(request.caller!.user.name)).map(tokenView),
  );

  app.post(
    '/tokens',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'Create another token for the caller (for a script or CI)',
        body: Type.Object({
          description: Type.String({ minLength: 1, maxLength: 200 }),
          expiresIn: Type.Optional(ExpiresIn),
        }),
        response: { 201: NewToken, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const token = await issueToken(
        access,
        request.caller!.user.name,
        request.body.description,
        request.body.expiresIn ?? 0,
      );
      return reply.status(201).send({ ...tokenView(token), token: token.token });
    },
  );

  app.delete(
    '/tokens/:id',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'Revoke a token (your own; a superuser may revoke anyone’s)',
        params: IdParams,
        response: { 204: Type.Null(), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const token = await access.getToken(request.params.id);
      const caller = request.caller!.user;
      // Another user's token is "not found": its existence is not theirs to learn.
      if (!token || (token.user !== caller.name && !caller.superuser))
        throw notFound('token', request.params.id);
      await access.deleteToken(token.id);
      return reply.status(204).send(null);
    },
  );
}
