/** `weft worker`: runs operations that `weft serve --workers` puts on PostgreSQL job queues. */
import type { Command } from 'commander';
import { UsageError } from '../output.js';
import { type StateOptions, stateDir, stateOptions } from '../state.js';
import type { PluginDirOptions } from './plugin-search.js';
import { pluginSearchDirs } from './plugin-search.js';

type WorkerFlags = StateOptions & PluginDirOptions & { queue?: string[]; concurrency?: string };

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
      .option('--concurrency <N>', 'operations run at once, per queue (default 8)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft worker --db postgres://weft@db.example/weft
  weft worker --db postgres://weft@db.example/weft --queue vm_x7k2p --concurrency 2

Secrets reach a worker sealed with the server's secret key: give it the same WEFT_SECRET_KEY (or
secret.key in its state directory). Blueprint files are read from the store when the blueprint's
directory is not on this machine.`,
    )
    .action((flags: WorkerFlags) => work(flags));
}

async function work(flags: WorkerFlags): Promise<void> {
  const database = flags.db ?? process.env.WEFT_DATABASE_URL;
  if (database === undefined || !/^postgres(ql)?:\/\//i.test(database))
    throw new UsageError(
      'weft worker takes its jobs from PostgreSQL: give --db postgres://... (or WEFT_DATABASE_URL)',
    );
  const concurrency = flags.concurrency === undefined ? undefined : Number(flags.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1))
    throw new UsageError(`--concurrency ${flags.concurrency}: expected a whole number of at least 1`);
  const dir = stateDir(flags);
  const { startWorker } = await import('@weft/server');
  const worker = await startWorker({
    database,
    queues: flags.queue,
    concurrency,
    stateDir: dir,
    pluginDirs: pluginSearchDirs(flags, dir).map((d) => d.dir),
  });
  process.stdout.write(`Weft worker ${worker.name} taking operations from ${worker.queues.join(', ')}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write(
        'Stopping: running operations may finish for 10 s, the rest go back to the queue\n',
      );
      void worker.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
