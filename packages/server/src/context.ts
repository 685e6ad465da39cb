/** What the routes share: the server's own store, the tenants' stores, and how it was started. */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { EventNotifier } from './executions/notifier.js';
import type { ExecutionRunner } from './executions/runner.js';
import type { ServerPlugins } from './plugins.js';
import type { AccessStore } from './store/access.js';
import type { TenantStores } from './tenants.js';
import type { JobHub } from './workers/queue-dispatcher.js';

export interface ServerContext {
  access: AccessStore;
  tenants: TenantStores;
  /** The server's state directory (SQLite files, the secret key, plugin work directories). */
  stateDir: string;
  /** The plugins in the server's plugin directories (first match first). */
  plugins: ServerPlugins;
  /** Runs executions in this process. */
  runner: ExecutionRunner;
  /** Wakes event streams when events are stored. */
  notifier: EventNotifier;
  /** With workers (`weft serve --workers`): the job queues, which host agents take theirs from. */
  workers?: JobHub;
}

/** The Fastify instance routes are declared on: request and reply types come from the schemas. */
export type Api = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
