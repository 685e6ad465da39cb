/**
 * `weft worker`: takes operation jobs from pg-boss queues and runs them in this machine's plugin
 * host (worker processes, isolation, the same as `weft serve` runs them itself), then completes
 * each job with the operation's Outcome and the log lines it wrote. Log lines are also sent live
 * (NOTIFY), so a follower of the execution sees them as they come.
 *
 * A worker renews the lease of each job it runs while the operation runs, so a lease can be short:
 * a job taken again after its worker was lost (pg-boss hands it out again once the lease expired)
 * runs again only if its operation is resumable; otherwise it is completed as failed, "worker lost
 * while running", for the execution's retry policy to judge.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Outcome } from '@weft/engine';
import type PgBoss from 'pg-boss';
import { DEFAULT_TENANT } from '../auth/guard.js';
import { ServerPlugins } from '../plugins.js';
import { type Completion, completeAndFetch, renewLease } from '../store/job-leases.js';
import { JobSignals } from '../store/job-signals.js';
import { openPostgresSql } from '../store/sql.js';
import { ACCESS_SCHEMA, SqlAccessStore } from '../store/sql-access.js';
import { type TenantState, TenantStores } from '../tenants.js';
import { withLocalBlueprint } from './blueprints.js';
import { JobLoop } from './job-loop.js';
import {
  type CallData,
  CHANNELS,
  describeQueue,
  failure,
  hostQueue,
  type JobOutput,
  type LiveLog,
  type LogLine,
  type OperationJob,
  openBoss,
  Queues,
  type Reply,
  SHARED_QUEUE,
} from './jobs.js';
import { moveOldHostQueues } from './old-queues.js';
import { holdLease, PreparedModels, runJob } from './running.js';

/** How long a stopping worker lets running operations finish before it gives their jobs back. */
const STOP_GRACE_MS = 10_000;

/** How often an idle slot asks for a job when no notification woke it. */
const POLL_MS = 2_000;

export interface WorkerOptions {
  database: string;
  /**
   * Queues to take jobs from (default: the shared one): `central_deployment_agent`, or the instance
   * id of a host, which makes this worker the agent of that host of `tenant`.
   */
  queues?: string[];
  /** The tenant of the hosts in `queues` (default: the default tenant). */
  tenant?: string;
  /** Operations run at once, per queue. Default 8. */
  concurrency?: number;
  /** Plugin work directories, blueprint copies, and the secret key (unless WEFT_SECRET_KEY). */
  stateDir: string;
  pluginDirs: string[];
}

export interface RunningWorker {
  /** host:pid, as errors name it. */
  name: string;
  /** The queues it takes jobs from, as people name them (describeQueue). */
  queues: string[];
  close(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const worker = new QueueWorker(options);
  try {
    await worker.start();
  } catch (error) {
    // What it opened (connections, timers) would keep the process alive with nothing to do.
    await worker.close().catch(() => {});
    throw error;
  }
  return worker;
}

class QueueWorker implements RunningWorker {
  readonly name: string;
  /** The pg-boss queues taken from (a host's is named with its tenant: hostQueue). */
  private readonly queueNames: string[];
  readonly queues: string[];
  private readonly tenant: string;
  private boss: PgBoss | undefined;
  private signals: JobSignals | undefined;
  private readonly tenants: TenantStores;
  /** Where uploaded plugins come from: the server's tables, read only (the server migrates them). */
  private access: SqlAccessStore | undefined;
  /** Made by start(), on the access store. */
  private plugins!: ServerPlugins;
  /** What takes each queue's jobs, woken when a job is queued there. */
  private readonly loops = new Map<string, JobLoop<PgBoss.JobWithMetadata<OperationJob>>>();
  /**
   * Jobs of each queue that ended, waiting to be completed with the queue's next fetch (one
   * statement, which also notifies the server of each): `settle` answers whether it was completed.
   */
  private readonly finished = new Map<
    string,
    { completion: Completion; settle: (done: boolean) => void }[]
  >();
  /** Operations running, by job id, to abort on a cancel. */
  private readonly running = new Map<string, AbortController>();
  /** Set when a stopping worker gives its running jobs back instead of completing them. */
  private givingBack = false;
  /** Made by start(), with the plugins. */
  private models!: PreparedModels;
  private closing = false;

  constructor(private readonly options: WorkerOptions) {
    this.name = `${hostname()}:${process.pid}`;
    this.tenant = options.tenant ?? DEFAULT_TENANT;
    const given = options.queues?.length ? [...new Set(options.queues)] : [SHARED_QUEUE];
    this.queueNames = given.map((q) => (q === SHARED_QUEUE ? q : hostQueue(this.tenant, q)));
    this.queues = this.queueNames.map(describeQueue);
    this.tenants = new TenantStores(options.stateDir, options.database);
  }

  async start(): Promise<void> {
    this.access = new SqlAccessStore(await openPostgresSql(this.options.database, ACCESS_SCHEMA));
    // Every server makes the default tenant; another is the agent of hosts of nothing if unknown.
    if (
      this.tenant !== DEFAULT_TENANT &&
      this.queueNames.some((q) => q !== SHARED_QUEUE) &&
      !(await this.access.getTenant(this.tenant).catch(() => undefined))
    )
      throw new Error(`there is no tenant '${this.tenant}' on this database (--tenant)`);
    this.plugins = new ServerPlugins(
      join(this.options.stateDir, 'plugins'),
      this.options.pluginDirs,
      this.access,
    );
    this.models = new PreparedModels(this.plugins);
    this.boss = await openBoss(this.options.database, 15);
    this.signals = await JobSignals.open(
      this.options.database,
      [CHANNELS.queued, CHANNELS.cancel],
      (channel, payload) => this.onSignal(channel, payload),
      // Jobs queued while the connection was down: look now rather than at the next poll.
      () => this.wake(...this.queueNames),
    );
    const queues = new Queues(this.boss, this.options.database);
    await moveOldHostQueues(this.boss, queues, this.options.database);
    const concurrency = this.options.concurrency ?? 8;
    for (const queue of this.queueNames) {
      await queues.ensure(queue);
      // The poll is a fallback; a NOTIFY from the server wakes the loop at once.
      this.loops.set(
        queue,
        new JobLoop<PgBoss.JobWithMetadata<OperationJob>>(
          (count) => this.turn(queue, count),
          (job, error) => this.boss!.fail(queue, job.id, { message: error.message }),
          concurrency,
          (job) => this.take(queue, job),
          POLL_MS,
          async () => void (await this.turn(queue, 0)),
        ),
      );
    }
  }

  private onSignal(channel: string, payload: string): void {
    if (channel === CHANNELS.queued) this.wake(payload);
    else if (channel === CHANNELS.cancel) this.running.get(payload)?.abort(new Error('cancelled'));
  }

  private wake(...queues: string[]): void {
    for (const queue of queues) this.loops.get(queue)?.wake();
  }

  private async take(queue: string, job: PgBoss.JobWithMetadata<OperationJob>): Promise<void> {
    const logs: LogLine[] = [];
    let outcome: Outcome;
    // Without its tenant's store and key, nothing can be run or answered: the job fails back to
    // pg-boss (another worker may be able to), by the error thrown here.
    const tenant = await this.tenants.get(job.data.tenant);
    // Held from here (preparing the deployment can take a while) until the job is completed.
    const controller = new AbortController();
    this.running.set(job.id, controller);
    const target = { queue, id: job.id, retryCount: job.retryCount };
    let completing: Promise<boolean> | undefined;
    const release = holdLease(
      job.expireInSeconds,
      () => renewLease(this.boss!.getDb(), target, job.expireInSeconds),
      controller,
    );
    try {
      try {
        const call = JSON.parse(tenant.secrets.sealer().open(job.data.call)) as CallData;
        outcome = await this.runOperation(tenant, job, call, controller.signal, logs);
      } catch (error) {
        outcome = failure('WorkerError', `worker ${this.name}: ${(error as Error).message}`, true);
      }
      if (this.givingBack) {
        // Handed out again at once (as if its lease had ended): a resumable operation runs again
        // on another worker, another is reported lost there.
        await this.boss!.fail(queue, job.id, { message: `worker ${this.name} stopped` }).catch(() => {});
        return;
      }
      const reply: Reply = { outcome, attempt: job.retryCount, logs };
      const output: JobOutput = { reply: tenant.secrets.sealer().seal(JSON.stringify(reply)) };
      // Completes only a job still held at this attempt: not one cancelled meanwhile, nor one whose
      // lease ended and that another worker holds now. The reply goes with the notification when
      // it fits, so the server need not read the job. It goes with the queue's next fetch, which
      // the slot this job frees (when this returns) asks for; the lease is held until then.
      completing = this.complete(queue, { id: job.id, retryCount: job.retryCount, output });
    } finally {
      const end = () => {
        release();
        this.running.delete(job.id);
      };
      if (completing) void completing.then(end);
      else end();
    }
  }

  /** Queues the completion of a job for the next {@link turn} of its queue. */
  private complete(queue: string, completion: Completion): Promise<boolean> {
    return new Promise((settle) => {
      const finished = this.finished.get(queue) ?? [];
      this.finished.set(queue, finished);
      finished.push({ completion, settle });
    });
  }

  /**
   * Completes the queue's jobs that ended and takes up to `count` more, in one statement. A
   * completion that fails (the database unreachable) is not retried: the job's lease ends and it is
   * handed out again, as when a worker is lost.
   */
  private async turn(queue: string, count: number): Promise<PgBoss.JobWithMetadata<OperationJob>[]> {
    const finished = this.finished.get(queue) ?? [];
    this.finished.delete(queue);
    if (finished.length === 0 && count === 0) return [];
    try {
      const { completed, jobs } = await completeAndFetch<OperationJob>(
        this.boss!.getDb(),
        queue,
        finished.map((f) => f.completion),
        count,
        { channel: CHANNELS.done, payload: ({ id, output }) => JSON.stringify({ queue, id, ...output }) },
      );
      for (const f of finished) f.settle(completed.has(f.completion.id));
      return jobs;
    } catch (error) {
      for (const f of finished) f.settle(false);
      throw error;
    }
  }

  private async runOperation(
    tenant: TenantState,
    job: PgBoss.JobWithMetadata<OperationJob>,
    data: CallData,
    signal: AbortSignal,
    logs: LogLine[],
  ): Promise<Outcome> {
    const prepared = await this.models.get(
      `${tenant.name}\u0000${job.data.deploymentId}`,
      job.data,
      async () => {
        const deployment = await tenant.store.getDeployment(job.data.deploymentId);
        if (!deployment)
          throw new Error(`deployment '${job.data.deploymentId}' is not in tenant '${tenant.name}'`);
        return withLocalBlueprint(
          tenant.store,
          deployment,
          join(this.options.stateDir, 'blueprints', tenant.name),
        );
      },
    );
    const log = (level: LogLine['level'], message: string) => {
      const line: LiveLog = { id: job.id, attempt: job.retryCount, n: logs.length, level, message };
      logs.push({ level, message });
      void this.signals?.notify(CHANNELS.log, JSON.stringify(line));
    };
    return runJob(prepared, data, job.retryCount, tenant.workDir, signal, log);
  }

  /**
   * Stops taking jobs, lets running operations finish for a while, then gives their jobs back to
   * pg-boss (another worker takes them; a job not resumable is reported lost) and ends the plugin
   * processes.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const finished = Promise.all([...this.loops.values()].map((loop) => loop.stop()));
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS)))]);
    clearTimeout(grace);
    this.givingBack = true;
    for (const controller of this.running.values()) controller.abort(new Error('the worker stopped'));
    await finished;
    await this.boss?.stop({ graceful: false, wait: true });
    await this.signals?.close();
    await this.models.close();
    await this.tenants.close();
    await this.access?.close();
  }
}
