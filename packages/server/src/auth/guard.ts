/**
 * Who may call a route, declared on the route (`config.access`) and checked before its handler:
 * 'public' (health, the API document, login), 'user' (any signed-in user: their own tokens),
 * 'superuser' (users and tenants), a role within the request's tenant, or 'agent' (only a host
 * agent's token: what its worker needs to take and report its host's operations). A route that
 * declares nothing is refused to everyone: forgetting cannot open one. A host agent's token is
 * refused everywhere but on 'agent' routes: a stolen one reaches that host's operations only.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../errors.js';
import { type AccessStore, type AgentScope, ROLES, type Role, type UserRecord } from '../store/access.js';
import { CACHE_MS, writesOf } from '../store/cached-access.js';
import type { TenantState, TenantStores } from '../tenants.js';
import { parseToken, secretMatches } from './tokens.js';

export type Access = 'public' | 'user' | 'superuser' | 'agent' | Role;

export interface Caller {
  /** Who made the token (for a host agent's token: the operator who made it). */
  user: UserRecord;
  tokenId: string;
  /** Set when the token is a host agent's. */
  agent: AgentScope | null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    caller?: Caller;
    /** The tenant a tenant route acts in, and the caller's role there. */
    tenant?: TenantState & { role: Role };
  }
}

/** The header that names the tenant a request acts in (as Cloudify's `Tenant`). */
export const TENANT_HEADER = 'tenant';

const rank = (role: Role) => ROLES.indexOf(role);

/** Token uses are recorded at most this often per token. */
const TOUCH_EVERY_MS = 60_000;

/** Tokens (and user-and-tenant pairs) whose checks are remembered, at most; then it starts again. */
const REMEMBERED = 10_000;

/**
 * What was worked out from the access store's answers, kept as long as those answers are
 * (CACHE_MS, and no write through this process since): a request with a token seen just before
 * is then let in without hashing its secret or looking anything up again.
 */
class Remembered<T> {
  private readonly kept = new Map<string, { at: number; writes: number; value: T }>();

  constructor(private readonly access: AccessStore) {}

  get(key: string, now: number): T | undefined {
    const hit = this.kept.get(key);
    if (!hit) return undefined;
    if (now - hit.at < CACHE_MS && hit.writes === writesOf(this.access)) return hit.value;
    this.kept.delete(key);
    return undefined;
  }

  set(key: string, now: number, writes: number, value: T): void {
    if (this.kept.size >= REMEMBERED) this.kept.clear();
    this.kept.set(key, { at: now, writes, value });
  }
}

/**
 * @param isPublicPath paths outside the API (the web UI's pages): a request for one that matches no
 * route is answered without a token (with the UI's page), while the API's unknown routes need one.
 */
export function authGuard(
  access: AccessStore,
  tenants: TenantStores,
  isPublicPath: (url: string) => boolean,
) {
  const touched = new Map<string, number>();
  const callers = new Remembered<{ caller: Caller; expiresAt: number }>(access);
  const roles = new Remembered<{ tenant: string; role: Role }>(access);

  async function caller(request: FastifyRequest): Promise<Caller> {
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw unauthorized();
    const now = Date.now();
    const known = callers.get(match[1]!, now);
    if (known && known.expiresAt > now) {
      await touch(known.caller.tokenId, now);
      return known.caller;
    }
    const writes = writesOf(access);
    const parsed = parseToken(match[1]!);
    const token = parsed && (await access.getToken(parsed.id));
    if (!parsed || !token || !secretMatches(token.secretHash, parsed.secret))
      throw unauthorized('the token is not valid (revoked, or never issued)');
    const expiresAt = token.expiresAt ? Date.parse(token.expiresAt) : Number.POSITIVE_INFINITY;
    if (expiresAt <= now) throw unauthorized('the token has expired');
    const user = await access.getUser(token.user);
    if (!user) throw unauthorized('the token is not valid (its user was deleted)');
    const found: Caller = { user, tokenId: token.id, agent: token.agent };
    callers.set(match[1]!, now, writes, { caller: found, expiresAt });
    await touch(token.id, now);
    return found;
  }

  /** Records the token's use, once a minute at most. */
  async function touch(tokenId: string, now: number): Promise<void> {
    if (now - (touched.get(tokenId) ?? 0) <= TOUCH_EVERY_MS) return;
    touched.set(tokenId, now);
    await access.touchToken(tokenId, new Date(now).toISOString());
  }

  /** The tenant named by the header, else the caller's only one, else default_tenant. */
  async function tenantOf(request: FastifyRequest, who: Caller, needed: Role) {
    const named = request.headers[TENANT_HEADER];
    const key = `${who.user.name}\u0000${typeof named === 'string' ? named : ''}`;
    const now = Date.now();
    const writes = writesOf(access);
    let known = roles.get(key, now);
    if (!known) {
      known = await roleIn(named, who);
      roles.set(key, now, writes, known);
    }
    const { tenant: name, role } = known;
    if (rank(role) < rank(needed))
      throw forbidden(
        `this needs the ${needed} role in tenant '${name}'; user '${who.user.name}' is ${role}`,
      );
    return { ...(await tenants.get(name)), role };
  }

  /**
   * A host agent's tenant, while the operator who made its token may still run operations there:
   * taking their role away (or their tenant) takes the agent's with it.
   */
  async function agentTenant(who: Caller, agent: AgentScope) {
    const key = `${who.user.name}\u0000${agent.tenant}`;
    const now = Date.now();
    const writes = writesOf(access);
    let known = roles.get(key, now);
    if (!known) {
      known = await roleIn(agent.tenant, who);
      roles.set(key, now, writes, known);
    }
    if (rank(known.role) < rank('operator'))
      throw forbidden(
        `the user who made this agent's token, '${who.user.name}', no longer runs operations in tenant '${agent.tenant}'`,
      );
    return { ...(await tenants.get(agent.tenant)), role: known.role };
  }

  /** The tenant a request acts in and the caller's role there; refused when they have none. */
  async function roleIn(
    named: string | string[] | undefined,
    who: Caller,
  ): Promise<{ tenant: string; role: Role }> {
    const memberships = await access.listMemberships({ user: who.user.name });
    let name: string | undefined = typeof named === 'string' && named !== '' ? named : undefined;
    if (name === undefined) {
      if (memberships.length === 1) name = memberships[0]!.tenant;
      else if (memberships.some((m) => m.tenant === DEFAULT_TENANT) || who.user.superuser)
        name = DEFAULT_TENANT;
      else throw forbidden(`name the tenant to act in with the '${TENANT_HEADER}' header`);
    }
    const role: Role | undefined = who.user.superuser
      ? 'admin'
      : memberships.find((m) => m.tenant === name)?.role;
    if (!role || !(await access.getTenant(name)))
      throw forbidden(`user '${who.user.name}' is not a member of tenant '${name}'`);
    return { tenant: name, role };
  }

  return async function guard(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const required = request.routeOptions.config.access;
    if (required === 'public') return;
    if (request.routeOptions.url === undefined && isPublicPath(request.url.split('?')[0]!)) return;
    // Also for routes that were not found: their 404 must not tell who may ask.
    const who = await caller(request);
    request.caller = who;
    if (who.agent) {
      if (required !== 'agent')
        throw forbidden(
          `this token is the agent's of host '${who.agent.host}': it may only take and report that host's operations`,
        );
      request.tenant = await agentTenant(who, who.agent);
      return;
    }
    if (required === 'agent') throw forbidden("this route is for host agents' tokens only");
    if (required === undefined) {
      if (request.routeOptions.url === undefined) return;
      throw forbidden('this route declares no access rule');
    }
    if (required === 'user') return;
    if (required === 'superuser') {
      if (!who.user.superuser) throw forbidden('this needs a superuser');
      return;
    }
    request.tenant = await tenantOf(request, who, required);
  };
}

/** The tenant a new server creates, as Cloudify's. */
export const DEFAULT_TENANT = 'default_tenant';
