/** Users, tenants, memberships and tokens as the API shows them (never a hash). */
import { Type } from 'typebox';
import { Nullable, Role } from './common.js';

export const AgentScope = Type.Object(
  {
    tenant: Type.String(),
    deployment: Type.String(),
    host: Type.String({ description: 'the host instance id: the queue of its host_agent operations' }),
  },
  { $id: 'AgentScope', description: "what a host agent's token is limited to" },
);

export const User = Type.Object(
  {
    name: Type.String(),
    superuser: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    tenants: Type.Array(Type.Object({ tenant: Type.String(), role: Role })),
  },
  { $id: 'User' },
);

export const Tenant = Type.Object(
  { name: Type.String(), createdAt: Type.String({ format: 'date-time' }) },
  { $id: 'Tenant' },
);

export const Member = Type.Object({ user: Type.String(), role: Role }, { $id: 'Member' });

export const Token = Type.Object(
  {
    id: Type.String({ description: 'the public part of the token' }),
    user: Type.String(),
    description: Type.String(),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    agent: Nullable(AgentScope),
  },
  { $id: 'Token' },
);

export const NewToken = Type.Object(
  {
    ...Token.properties,
    token: Type.String({ description: 'the whole token: shown this once, send it as Authorization: Bearer' }),
  },
  { $id: 'NewToken' },
);

export const Password = Type.String({ minLength: 8, maxLength: 1024 });

/** Lifetime of a token in seconds; 0 for one that does not expire. */
export const ExpiresIn = Type.Integer({
  minimum: 0,
  maximum: 10 * 365 * 24 * 3600,
  description: 'seconds until the token expires (0: never)',
});
