/** What the routes share: the server's own store, the tenants' stores, and how it was started. */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { AccessStore } from './store/access.js';
import type { TenantStores } from './tenants.js';

export interface ServerContext {
  access: AccessStore;
  tenants: TenantStores;
  /** The server's state directory (SQLite files, the secret key, plugin work directories). */
  stateDir: string;
  /** Directories searched for plugins, first match first. */
  pluginDirs: string[];
}

/** The Fastify instance routes are declared on: request and reply types come from the schemas. */
export type Api = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
