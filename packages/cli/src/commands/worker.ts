/** `weft worker`: runs operations that `weft serve --workers` puts on PostgreSQL job queues. */
import type { Command } from 'commander';
import { UsageError } from '../output.js';
import { type StateOptions, stateDir, stateOptions } from '../state.js';
import type { PluginDirOptions } from './plugin-search.js';
import { pluginSearchDirs } from './plugin-search.js';

type WorkerFlags = StateOptions &
  PluginDirOptions & { queue?: string[]; tenant?: string; concurrency?: string; server?: string };

/** Where a host agent's token is given: not on the command line, where `ps` shows it. */
export const AGENT_TOKEN_VARIABLE = 'WEFT_AGENT_TOKEN';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function workerCommand(program: Command): void {
  stateOptions(
    program
      .command('worker')
      .description('run the operations of a weft serve --workers from its PostgreSQL job queues')
      .option(
        '--queue <NAME>',
        'a queue to take operations from (repeatable; default central_deployment_agent); a host instance id makes this the agent of that host (host_agent operations)',
        collect,
      )
      .option('--tenant <NAME>', 'the tenant of the hosts given with --queue (default default_tenant)')
      .option('--concurrency <N>', 'operations run at once, per queue (default 8)')
      .option(
        '--server <URL>',
        `be the agent of one host: take its operations from this server with the host agent's token in ${AGENT_TOKEN_VARIABLE} (weft agent install makes one), instead of from the database`,
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft worker --db postgres://weft@db.example/weft
  weft worker --db postgres://weft@db.example/weft --queue vm_x7k2p --concurrency 2
  weft worker --db postgres://weft@db.example/weft --queue vm_x7k2p --tenant acme
  ${AGENT_TOKEN_VARIABLE}=weft_... weft worker --server https://weft.example

Secrets reach a worker sealed with the server's secret key: give it the same WEFT_SECRET_KEY (or
secret.key in its state directory). Blueprint files are read from the store when the blueprint's
directory is not on this machine.`,
    )
    .action((flags: WorkerFlags) => work(flags));
}

function concurrencyOf(flags: WorkerFlags): number | undefined {
  const concurrency = flags.concurrency === undefined ? undefined : Number(flags.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1))
    throw new UsageError(`--concurrency ${flags.concurrency}: expected a whole number of at least 1`);
  return concurrency;
}

/** Runs a host's agent here, with its token, until stopped (a signal, or its token refused). */
export async function runAgent(server: string, token: string, flags: WorkerFlags): Promise<void> {
  const concurrency = concurrencyOf(flags);
  const dir = stateDir(flags);
  const { startAgent } = await import('@weft/server');
  const agent = await startAgent({
    server,
    token,
    concurrency,
    stateDir: dir,
    pluginDirs: pluginSearchDirs(flags, dir).map((d) => d.dir),
  });
  process.stdout.write(
    `Weft agent ${agent.name} of host ${agent.scope.host} (deployment ${agent.scope.deployment}, tenant ${agent.scope.tenant}) taking its operations from ${server}\n`,
  );
  const why = await Promise.race([untilSignalled(agent), agent.stopped]);
  if (why !== 'stopped') {
    process.stderr.write(`Weft agent stopped: ${why}\n`);
    process.exitCode = 1;
  }
  await agent.close();
}

async function work(flags: WorkerFlags): Promise<void> {
  if (flags.server !== undefined) {
    const token = process.env[AGENT_TOKEN_VARIABLE];
    if (!token)
      throw new UsageError(
        `weft worker --server takes the host agent's token from ${AGENT_TOKEN_VARIABLE}: set it`,
      );
    if (flags.db !== undefined || flags.queue !== undefined || flags.tenant !== undefined)
      throw new UsageError(
        "weft worker --server takes the queue of its token's host: give neither --db, --queue nor --tenant",
      );
    return runAgent(flags.server, token, flags);
  }
  const database = flags.db ?? process.env.WEFT_DATABASE_URL;
  if (database === undefined || !/^postgres(ql)?:\/\//i.test(database))
    throw new UsageError(
      'weft worker takes its jobs from PostgreSQL: give --db postgres://... (or WEFT_DATABASE_URL)',
    );
  const concurrency = concurrencyOf(flags);
  if (flags.tenant !== undefined) {
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(flags.tenant))
      throw new UsageError(
        `--tenant ${flags.tenant}: not a tenant name (a lowercase letter, then up to 39 of a-z, 0-9, _)`,
      );
    if (!flags.queue?.some((q) => q !== 'central_deployment_agent'))
      throw new UsageError('--tenant names the tenant of the hosts given with --queue: give a host too');
  }
  const dir = stateDir(flags);
  const { startWorker } = await import('@weft/server');
  const worker = await startWorker({
    database,
    queues: flags.queue,
    ...(flags.tenant === undefined ? {} : { tenant: flags.tenant }),
    concurrency,
    stateDir: dir,
    pluginDirs: pluginSearchDirs(flags, dir).map((d) => d.dir),
  });
  process.stdout.write(`Weft worker ${worker.name} taking operations from ${worker.queues.join(', ')}\n`);
  await untilSignalled(worker);
  await worker.close();
}

/** Resolves with 'stopped' at SIGINT or SIGTERM, once the worker has been told to stop. */
function untilSignalled(worker: { close(): Promise<void> }): Promise<string> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write(
        'Stopping: running operations may finish for 10 s, the rest go back to the queue\n',
      );
      void worker.close().then(() => resolve('stopped'));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
