/**
 * The AccessStore with the reads every request makes (its token, user, memberships, tenant, and
 * the named deployment or blueprint it reads) kept for a few seconds: without it, four queries
 * came before any handler ran. Any change made through this process empties the cache at once; a
 * change made through another server process (revoking a token, removing a member) takes effect
 * here within CACHE_MS.
 */
import type { AccessStore } from './access.js';

export const CACHE_MS = 5000;

/** The AccessStore methods whose answers are kept. */
const CACHED = [
  'getToken',
  'getUser',
  'listMemberships',
  'getTenant',
  'getDeployment',
  'getBlueprint',
] as const;
/** Methods that change nothing a cached answer holds (last use is not read from the cache). */
const HARMLESS = new Set<string>(['touchToken', 'migrate', 'close']);

/**
 * Read on an AccessStore made by cachedAccess: a number that changes at every write made through
 * it, so that what was worked out from its answers (the caller of a token) is known still good.
 */
export const WRITES = Symbol('writes');

/** How many writes went through `access`; NaN (equal to nothing) for a store without a cache. */
export const writesOf = (access: AccessStore): number =>
  (access as unknown as { [WRITES]?: number })[WRITES] ?? Number.NaN;

export function cachedAccess(store: AccessStore, now: () => number = Date.now): AccessStore {
  const kept = new Map<string, { at: number; value: Promise<unknown> }>();
  let writes = 0;
  return new Proxy(store, {
    get(target, name, receiver) {
      if (name === WRITES) return writes;
      const original = Reflect.get(target, name, receiver);
      if (typeof original !== 'function' || typeof name !== 'string') return original;
      if ((CACHED as readonly string[]).includes(name))
        return (...args: unknown[]) => {
          const key = `${name}\u0000${JSON.stringify(args)}`;
          const hit = kept.get(key);
          if (hit && now() - hit.at < CACHE_MS) return hit.value;
          const value = (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          kept.set(key, { at: now(), value });
          value.catch(() => kept.delete(key));
          return value;
        };
      if (HARMLESS.has(name) || name.startsWith('list') || name.startsWith('get') || name.startsWith('count'))
        return original.bind(target);
      // A write: whatever is kept may be out of date.
      return (...args: unknown[]) => {
        kept.clear();
        writes++;
        return (original as (...a: unknown[]) => Promise<unknown>).apply(target, args).finally(() => {
          kept.clear();
          writes++;
        });
      };
    },
  });
}
