/** `weft serve`: opens the server's stores, makes sure the default tenant exists, and listens. */
import { join } from 'node:path';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { DEFAULT_TENANT } from './auth/guard.js';
import { issueToken } from './auth/issue.js';
import { hashPassword } from './auth/passwords.js';
import type { Api, ServerContext } from './context.js';
import { relayCancels } from './executions/cancel-relay.js';
import { relayEvents } from './executions/event-relay.js';
import { EventNotifier } from './executions/notifier.js';
import { ExecutionRunner } from './executions/runner.js';
import { ServerPlugins } from './plugins.js';
import type { AccessStore } from './store/access.js';
import { cachedAccess } from './store/cached-access.js';
import {
  type ExecutionClaims,
  PostgresExecutionClaims,
  soleProcessClaims,
} from './store/execution-claims.js';
import { openPostgresSql, openSqliteSql } from './store/sql.js';
import { ACCESS_SCHEMA, SqlAccessStore } from './store/sql-access.js';
import { TenantStores } from './tenants.js';
import { JobHub, type QueueOptions } from './workers/queue-dispatcher.js';

export interface ServerOptions {
  /** postgres:// URL; without one, SQLite files in `stateDir` (a single-machine server). */
  database?: string;
  stateDir: string;
  pluginDirs: string[];
  /** Log requests (pino, as JSON lines on stdout); Authorization headers are never logged. */
  log?: boolean;
  /**
   * Run operations on `weft worker` processes (pg-boss queues in `database`) instead of in this
   * process. Needs a postgres:// database.
   */
  workers?: QueueOptions;
  /**
   * With a postgres:// database, how often (ms) this server looks for executions that no live
   * server process runs (one sharing the database died or stopped) to take them over. Default 5 s.
   */
  takeOverIntervalMs?: number;
}

export interface RunningServer {
  app: Api;
  context: ServerContext;
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  url: string;
  close(): Promise<void>;
}

export async function openAccessStore(
  options: Pick<ServerOptions, 'database' | 'stateDir'>,
): Promise<AccessStore> {
  const sql = options.database
    ? await openPostgresSql(options.database, ACCESS_SCHEMA)
    : openSqliteSql(join(options.stateDir, 'server.db'));
  const access = cachedAccess(new SqlAccessStore(sql));
  await access.migrate();
  if (!(await access.getTenant(DEFAULT_TENANT)))
    await access
      .createTenant({ name: DEFAULT_TENANT, createdAt: new Date().toISOString() })
      .catch(async (error) => {
        // Another server process made it first.
        if (!(await access.getTenant(DEFAULT_TENANT))) throw error;
      });
  return access;
}

/** Builds the server on its stores (not listening yet: `listen` does that). */
export async function createServer(options: ServerOptions): Promise<{ app: Api; context: ServerContext }> {
  if (options.workers && !options.database)
    throw new Error('workers take operations from PostgreSQL: start the server with a postgres:// database');
  const access = await openAccessStore(options);
  const workers = options.workers && (await JobHub.open(options.database!, options.workers));
  const notifier = new EventNotifier();
  const relay = options.database ? await relayEvents(options.database, notifier) : undefined;
  const tenants = new TenantStores(options.stateDir, options.database, relay?.notice);
  const plugins = new ServerPlugins(join(options.stateDir, 'plugins'), options.pluginDirs, access);
  const logger = options.log ? pino({ redact: ['req.headers.authorization'] }) : pino({ level: 'silent' });
  // Servers sharing a PostgreSQL database each run the executions they claim; a lone server
  // on SQLite files runs them all.
  const claims: ExecutionClaims = options.database
    ? new PostgresExecutionClaims(options.database, () => runner.claimsLost())
    : soleProcessClaims();
  const runner = new ExecutionRunner(tenants, plugins, notifier, logger, claims, workers);
  const cancels = options.database ? await relayCancels(options.database, runner) : undefined;
  const context: ServerContext = {
    access,
    tenants,
    stateDir: options.stateDir,
    plugins,
    notifier,
    runner,
    ...(workers ? { workers } : {}),
  };
  const app = await buildApp(context, { loggerInstance: logger });
  app.addHook('onClose', async () => {
    await context.runner.stop();
    await claims.close();
    await workers?.close();
    await relay?.close();
    await cancels?.close();
    await tenants.close();
    await access.close();
  });
  return { app, context };
}

/**
 * Listens, then resumes the executions a previous server process left running; with PostgreSQL,
 * goes on taking over those that other server processes sharing the database leave.
 */
export async function startServer(
  options: ServerOptions & { host: string; port: number },
): Promise<RunningServer> {
  const { app, context } = await createServer(options);
  let url: string;
  try {
    url = await app.listen({ host: options.host, port: options.port });
    await context.runner.resumeLeftRunning(context.access);
  } catch (error) {
    // Its connections and timers would keep the process up, serving nothing (a port in use).
    await app.close().catch(() => {});
    throw error;
  }
  if (options.database) context.runner.takeOverEvery(context.access, options.takeOverIntervalMs ?? 5000);
  return { app, context, url, close: () => app.close() };
}

/**
 * Creates the first superuser (admin of the default tenant) and a token that does not expire,
 * returned to be printed once. Refused when the server already has users.
 */
export async function initAdmin(
  access: AccessStore,
  name: string,
  password: string,
): Promise<{ token: string }> {
  if ((await access.listUsers()).length > 0) throw new AlreadyInitialisedError();
  await access.createUser({
    name,
    passwordHash: await hashPassword(password),
    superuser: true,
    createdAt: new Date().toISOString(),
  });
  await access.setMembership({ tenant: DEFAULT_TENANT, user: name, role: 'admin' });
  return { token: (await issueToken(access, name, 'created by --init-admin', 0)).token };
}

export class AlreadyInitialisedError extends Error {
  constructor() {
    super(
      'the server already has users: --init-admin only makes the first one (log in, or create users with POST /api/v1/users)',
    );
    this.name = 'AlreadyInitialisedError';
  }
}
