/** `weft serve`: the REST API (the service shape) on PostgreSQL, or on SQLite for one machine. */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { UsageError } from '../output.js';
import { type StateOptions, stateDir, stateOptions } from '../state.js';
import type { PluginDirOptions } from './plugin-search.js';
import { pluginSearchDirs } from './plugin-search.js';

type ServeFlags = StateOptions &
  PluginDirOptions & {
    listen?: string;
    initAdmin?: string | boolean;
    log?: boolean;
    workers?: boolean;
    lease?: string;
    agentWait?: string;
    takeOverEvery?: string;
  };

const DEFAULT_LISTEN = '127.0.0.1:8080';

export function serveCommand(program: Command): void {
  stateOptions(
    program
      .command('serve')
      .description(
        'run the REST API (users, tenants, deployments, executions) at /api/v1 and the web UI at /',
      )
      .option('--listen <HOST:PORT>', `where to listen (default ${DEFAULT_LISTEN})`)
      .option(
        '--init-admin [NAME]',
        'create the first superuser (default name admin; password from WEFT_ADMIN_PASSWORD, else generated) and print a token for it once',
      )
      .option('--log', 'log every request as a JSON line (tokens are never logged)')
      .option(
        '--workers',
        'run operations on weft worker processes (job queues in the --db PostgreSQL) instead of in this process',
      )
      .option(
        '--lease <SECONDS>',
        'with --workers: how long a worker holds an operation without renewing it before another takes it over (renewed while it runs; default 30)',
      )
      .option(
        '--agent-wait <SECONDS>',
        'with --workers: after how long an operation no worker has taken is reported as waiting for an agent (default 30)',
      )
      .option(
        '--take-over-every <SECONDS>',
        'with --db: how often to look for executions no live server runs (another server on the database died or stopped) and take them over (default 5)',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft serve --db postgres://weft@db.example/weft --listen 0.0.0.0:8080 --init-admin
  weft serve --listen 127.0.0.1:9000        (SQLite in the state directory: one machine)

The API document is at /api/v1/openapi.json and can be browsed at /api/v1/docs.
WEFT_INIT_ADMIN=NAME does what --init-admin NAME does.`,
    )
    .action((flags: ServeFlags) => serve(flags));
}

/** HOST:PORT, :PORT or PORT; IPv6 hosts in brackets. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65535)
    throw new UsageError(`--listen ${text}: expected HOST:PORT, e.g. ${DEFAULT_LISTEN}`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** A whole number of seconds, at least 1 (pg-boss counts leases in seconds). */
function seconds(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${option} ${text}: expected a whole number of seconds, at least 1`);
  return value;
}

async function serve(flags: ServeFlags): Promise<void> {
  const { host, port } = parseListen(flags.listen ?? DEFAULT_LISTEN);
  const dir = stateDir(flags);
  const database = flags.db ?? process.env.WEFT_DATABASE_URL;
  if (database !== undefined && !/^postgres(ql)?:\/\//i.test(database))
    throw new UsageError(`--db ${database}: the server takes a postgres:// URL (or none: SQLite in ${dir})`);
  if (flags.workers && database === undefined)
    throw new UsageError('--workers: the workers take operations from PostgreSQL: give --db postgres://...');
  const workers = flags.workers
    ? {
        leaseSeconds: seconds('--lease', flags.lease),
        agentWaitSeconds: seconds('--agent-wait', flags.agentWait),
      }
    : undefined;
  let takeOverIntervalMs: number | undefined;
  if (flags.takeOverEvery !== undefined) {
    const value = Number(flags.takeOverEvery);
    if (!(value > 0))
      throw new UsageError(`--take-over-every ${flags.takeOverEvery}: expected a number of seconds above 0`);
    if (database === undefined)
      throw new UsageError(
        '--take-over-every: servers take over from each other on a shared --db postgres://...',
      );
    takeOverIntervalMs = value * 1000;
  }
  const { AlreadyInitialisedError, initAdmin, startServer } = await import('@weft/server');
  const server = await startServer({
    stateDir: dir,
    database,
    pluginDirs: pluginSearchDirs(flags, dir).map((d) => d.dir),
    log: flags.log === true,
    workers,
    ...(takeOverIntervalMs !== undefined ? { takeOverIntervalMs } : {}),
    host,
    port,
  });
  const adminName =
    typeof flags.initAdmin === 'string'
      ? flags.initAdmin
      : flags.initAdmin
        ? 'admin'
        : process.env.WEFT_INIT_ADMIN;
  if (adminName) {
    const given = process.env.WEFT_ADMIN_PASSWORD;
    const password = given || randomBytes(18).toString('base64url');
    try {
      const { token } = await initAdmin(server.context.access, adminName, password);
      process.stdout.write(
        `Created superuser '${adminName}'${given ? '' : ` with password ${password}`}\nIts API token (shown once): ${token}\n`,
      );
    } catch (error) {
      await server.close();
      if (error instanceof AlreadyInitialisedError) throw new UsageError(error.message);
      throw error;
    }
  }
  process.stdout.write(`Weft API listening on ${server.url}/api/v1 (reference: ${server.url}/api/v1/docs)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write('Stopping: running executions are left to resume on the next start\n');
      void server.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
