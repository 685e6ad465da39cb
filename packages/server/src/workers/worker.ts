/**
 * `weft worker`: takes operation jobs from pg-boss queues and runs them in this machine's plugin
 * host (worker processes, isolation, the same as `weft serve` runs them itself), then completes
 * each job with the operation's Outcome and the log lines it wrote. Log lines are also sent live
 * (NOTIFY), so a follower of the execution sees them as they come.
 *
 * A job taken again after its worker was lost (pg-boss hands it out again once the lease expired)
 * runs again only if its operation is resumable; otherwise it is completed as failed, "worker lost
 * while running", for the execution's retry policy to judge.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DeploymentModel, Json, OperationCall, Outcome, WorkerDispatcher } from '@weft/engine';
import type PgBoss from 'pg-boss';
import { ServerPlugins } from '../plugins.js';
import { JobSignals } from '../store/job-signals.js';
import { type TenantState, TenantStores } from '../tenants.js';
import { withLocalBlueprint } from './blueprints.js';
import {
  type CallData,
  CHANNELS,
  failure,
  type JobOutput,
  type LiveLog,
  LOST_RETRIES,
  type LogLine,
  type OperationJob,
  openBoss,
  Queues,
  type Reply,
  SHARED_QUEUE,
} from './jobs.js';

/** How long a stopping worker lets running operations finish before it gives their jobs back. */
const STOP_GRACE_MS = 10_000;

export interface WorkerOptions {
  database: string;
  /** Queues to take jobs from (default: the shared one). */
  queues?: string[];
  /** Operations run at once, per queue. Default 8. */
  concurrency?: number;
  /** Plugin work directories, blueprint copies, and the secret key (unless WEFT_SECRET_KEY). */
  stateDir: string;
  pluginDirs: string[];
}

export interface RunningWorker {
  /** host:pid, as errors name it. */
  name: string;
  queues: string[];
  close(): Promise<void>;
}

/** What a deployment's jobs run with on this machine, built once per model. */
interface Prepared {
  model: DeploymentModel;
  dispatcher: WorkerDispatcher;
  running: number;
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const worker = new QueueWorker(options);
  await worker.start();
  return worker;
}

class QueueWorker implements RunningWorker {
  readonly name: string;
  readonly queues: string[];
  private boss: PgBoss | undefined;
  private signals: JobSignals | undefined;
  private readonly tenants: TenantStores;
  private readonly plugins: ServerPlugins;
  /** pg-boss work loop ids by queue, woken when a job is queued there. */
  private readonly loops = new Map<string, string[]>();
  /** Operations running, by job id, to abort on a cancel. */
  private readonly running = new Map<string, AbortController>();
  private readonly prepared = new Map<string, Promise<Prepared>>();
  private closing = false;

  constructor(private readonly options: WorkerOptions) {
    this.name = `${hostname()}:${process.pid}`;
    this.queues = options.queues?.length ? [...new Set(options.queues)] : [SHARED_QUEUE];
    this.tenants = new TenantStores(options.stateDir, options.database);
    this.plugins = new ServerPlugins(join(options.stateDir, 'plugins'), options.pluginDirs);
  }

  async start(): Promise<void> {
    this.boss = await openBoss(this.options.database, 15);
    this.signals = await JobSignals.open(
      this.options.database,
      [CHANNELS.queued, CHANNELS.cancel],
      (channel, payload) => this.onSignal(channel, payload),
      // Jobs queued while the connection was down: look now rather than at the next poll.
      () => this.wake(...this.queues),
    );
    const queues = new Queues(this.boss);
    const concurrency = this.options.concurrency ?? 8;
    for (const queue of this.queues) {
      await queues.ensure(queue);
      const ids: string[] = [];
      for (let i = 0; i < concurrency; i++) {
        ids.push(
          await this.boss.work<OperationJob>(
            queue,
            // The poll is pg-boss's fallback; a NOTIFY from the server wakes the loops at once.
            { includeMetadata: true, batchSize: 1, pollingIntervalSeconds: 2 },
            async ([job]) => {
              if (job) await this.take(queue, job);
              // A loop that found a job looks for the next one at once (pg-boss waits otherwise).
              this.boss?.notifyWorker(ids[i]!);
            },
          ),
        );
      }
      this.loops.set(queue, ids);
    }
  }

  private onSignal(channel: string, payload: string): void {
    if (channel === CHANNELS.queued) this.wake(payload);
    else if (channel === CHANNELS.cancel) this.running.get(payload)?.abort(new Error('cancelled'));
  }

  private wake(...queues: string[]): void {
    for (const queue of queues) for (const id of this.loops.get(queue) ?? []) this.boss?.notifyWorker(id);
  }

  private async take(queue: string, job: PgBoss.JobWithMetadata<OperationJob>): Promise<void> {
    const logs: LogLine[] = [];
    let outcome: Outcome;
    // Without its tenant's store and key, nothing can be run or answered: the job fails back to
    // pg-boss (another worker may be able to), by the error thrown here.
    const tenant = await this.tenants.get(job.data.tenant);
    try {
      const call = JSON.parse(tenant.secrets.sealer().open(job.data.call)) as CallData;
      outcome = await this.runOperation(tenant, job, call, logs);
    } catch (error) {
      outcome = failure('WorkerError', `worker ${this.name}: ${(error as Error).message}`, true);
    }
    const reply: Reply = { outcome, attempt: job.retryCount, logs };
    const output: JobOutput = { reply: tenant.secrets.sealer().seal(JSON.stringify(reply)) };
    // Completes only a job still active: not one cancelled meanwhile, nor one whose lease ended
    // and that another worker holds now.
    // pg-boss 10 answers {affected} (its typings say void).
    const completed = (await this.boss!.complete(queue, job.id, output).catch(() => undefined)) as unknown as
      | { affected: number }
      | undefined;
    if (completed?.affected === 1)
      await this.signals?.notify(CHANNELS.done, JSON.stringify({ queue, id: job.id }));
  }

  private async runOperation(
    tenant: TenantState,
    job: PgBoss.JobWithMetadata<OperationJob>,
    data: CallData,
    logs: LogLine[],
  ): Promise<Outcome> {
    const prepared = await this.prepare(tenant, job.data);
    const log = (level: LogLine['level'], message: string) => {
      const line: LiveLog = { id: job.id, attempt: job.retryCount, n: logs.length, level, message };
      logs.push({ level, message });
      void this.signals?.notify(CHANNELS.log, JSON.stringify(line));
    };
    if (job.retryCount > 0) {
      const resumable = await prepared.dispatcher.resumable(data.model);
      if (!resumable || job.retryCount >= LOST_RETRIES)
        return failure(
          'WorkerLost',
          `worker lost while running ${data.operation}${resumable ? ` (${job.retryCount} times)` : ''}`,
          true,
        );
      log('warning', `the worker running ${data.operation} was lost; running it again`);
    }
    const controller = new AbortController();
    this.running.set(job.id, controller);
    // The job is another worker's once its lease ends (and the operation's own timeout is the
    // executor's, which cancels the job then): whichever comes first stops it here.
    const limits = [job.expireInSeconds, data.model.timeout].filter((s): s is number => !!s);
    const timer = setTimeout(() => controller.abort(new Error('timeout')), Math.min(...limits) * 1000);
    const updates = new Map<string, Record<string, Json>>();
    prepared.running++;
    try {
      const call: OperationCall = {
        ...data,
        blueprintDir: prepared.model.blueprint.baseDir,
        plugin: { ...data.plugin, workdir: join(tenant.workDir, data.deploymentId, data.plugin.name) },
        signal: controller.signal,
        // Saved with the outcome: the engine merges them then, as it merges what the operation changed.
        update: async (instanceId, props) => {
          updates.set(instanceId, structuredClone(props));
        },
        log,
      };
      const outcome = await prepared.dispatcher.run(call);
      for (const [instanceId, props] of updates)
        if (!(instanceId in outcome.runtimeProperties)) outcome.runtimeProperties[instanceId] = props;
      return outcome;
    } finally {
      clearTimeout(timer);
      this.running.delete(job.id);
      prepared.running--;
    }
  }

  /**
   * The deployment's model (its blueprint on this machine) and a plugin host for it, built once
   * per model: a job of an execution that runs another model (after an update) gets its own, and
   * the idle hosts of the deployment's older models are ended then.
   */
  private prepare(tenant: TenantState, job: OperationJob): Promise<Prepared> {
    const deploymentKey = `${tenant.name}\u0000${job.deploymentId}\u0000`;
    const key = `${deploymentKey}${job.modelHash}`;
    let prepared = this.prepared.get(key);
    if (prepared) return prepared;
    prepared = (async () => {
      const deployment = await tenant.store.getDeployment(job.deploymentId);
      if (!deployment) throw new Error(`deployment '${job.deploymentId}' is not in tenant '${tenant.name}'`);
      const model = await withLocalBlueprint(
        tenant.store,
        deployment,
        join(this.options.stateDir, 'blueprints', tenant.name),
      );
      const dispatcher = this.plugins.workerDispatcher(model);
      await dispatcher.load();
      return { model, dispatcher, running: 0 };
    })();
    for (const [other, older] of this.prepared)
      if (other.startsWith(deploymentKey))
        void older.then(
          (p) => {
            if (p.running === 0 && this.prepared.get(other) === older) {
              this.prepared.delete(other);
              return p.dispatcher.close();
            }
          },
          () => this.prepared.delete(other),
        );
    this.prepared.set(key, prepared);
    prepared.catch(() => this.prepared.delete(key));
    return prepared;
  }

  /**
   * Stops taking jobs, lets running operations finish for a while, then gives their jobs back to
   * pg-boss (another worker takes them; a job not resumable is reported lost) and ends the plugin
   * processes.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.boss?.stop({ graceful: true, wait: true, timeout: STOP_GRACE_MS });
    for (const controller of this.running.values()) controller.abort(new Error('the worker stopped'));
    await this.signals?.close();
    const prepared = await Promise.allSettled(this.prepared.values());
    await Promise.all(
      prepared.flatMap((p) => (p.status === 'fulfilled' ? [p.value.dispatcher.close()] : [])),
    );
    await this.tenants.close();
  }
}
