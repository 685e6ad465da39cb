/**
 * Operations run by `weft worker` processes: each becomes a pg-boss job on the queue of its
 * executor, and the run waits for the job's end.
 *
 * How the end is learnt: the worker completes the job in pg-boss (its output holds the sealed
 * Outcome), then notifies `weft_job_done`; this process LISTENs and reads the job. pg-boss 10 has
 * no completion events and its `work` only polls (half a second at best), so LISTEN/NOTIFY is
 * what makes a round trip take milliseconds. A notification missed while the listening
 * connection was down is made up for at reconnection (every awaited job is read), and a watch per
 * job, every `agentWaitSeconds`, reads a job that has not ended: it reports a job no worker has
 * taken ("waiting for an agent"), and one that pg-boss failed because every worker that took it
 * was lost.
 */
import { createHash } from 'node:crypto';
import type {
  DeploymentModel,
  Dispatcher,
  OperationCall,
  OperationModel,
  Outcome,
  WorkerDispatcher,
  WorkflowCall,
  WorkflowFunction,
} from '@weft/engine';
import type PgBoss from 'pg-boss';
import type { AgentScope } from '../store/access.js';
import {
  expireLeases,
  insertJobs,
  queuesWithJobsHandedBack,
  renewLease,
  withdrawJob,
} from '../store/job-leases.js';
import { JobSignals } from '../store/job-signals.js';
import type { TenantState } from '../tenants.js';
import { Batches } from './batches.js';
import {
  type AgentJob,
  type CallData,
  CHANNELS,
  failure,
  hostQueue,
  type JobOutput,
  type LiveLog,
  LOST_RETRIES,
  type OperationJob,
  openBoss,
  Queues,
  queueOf,
  type Reply,
  waitingMessage,
} from './jobs.js';
import { moveOldHostQueues } from './old-queues.js';

export interface QueueOptions {
  /**
   * Seconds a worker holds a job before pg-boss hands it to another (its lease): a worker renews
   * it a few times per lease while the operation runs, so one that is killed or loses its machine
   * is replaced about that long after its last renewal, and a long operation keeps its job.
   * Default 30.
   */
  leaseSeconds?: number;
  /** After how long a job no worker has taken is reported as waiting for an agent. Default 30. */
  agentWaitSeconds?: number;
}

interface Awaited {
  queue: string;
  call: OperationCall;
  /** Opens what the tenant's secret key sealed (the reply). */
  open: (sealed: string) => string;
  resolve: (outcome: Outcome) => void;
  /** The attempt whose lines are being passed on (a job taken again starts its lines anew). */
  attempt: number;
  /** Index of the attempt's next log line to pass on (lines before it were sent live). */
  nextLog: number;
  /** A live line was missed: the rest come with the reply, in order. */
  liveBroken: boolean;
  /** The state the watch last reported (so each is reported once). */
  reported?: string;
  watch?: NodeJS.Timeout;
}

/**
 * The job of one attempt of one operation, the same in every server process: a process that
 * takes an execution over finds the jobs its previous owner queued. A UUID, as pg-boss wants.
 */
function jobId(tenant: string, call: Pick<OperationCall, 'executionId' | 'taskId' | 'retryNumber'>): string {
  const hex = createHash('sha256')
    .update(`${tenant}\u0000${call.executionId}\u0000${call.taskId}\u0000${call.retryNumber}`)
    .digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Who a job was handed to: one agent's scope. */
const agentKey = (scope: AgentScope) => `${scope.tenant}\u0000${scope.deployment}\u0000${scope.host}`;

/** How long a worker holds a job between renewals when the server is not told otherwise. */
export const DEFAULT_LEASE_SECONDS = 30;

/**
 * How often a process awaiting jobs looks for leases that ended (ms): a lost worker's job is
 * handed out again within that much of its lease's end (pg-boss's maintenance alone takes 1 to 2 s).
 */
const LEASE_CHECK_MS = 500;

/** One per server process: the pg-boss connection, the notifications, the jobs being awaited. */
export class JobHub {
  private readonly awaited = new Map<string, Awaited>();
  /** Host agents waiting (over HTTP) for a job on their queue: woken when one is queued there. */
  private readonly agentsWaiting = new Map<string, Set<() => void>>();
  /** Host agents watching (over HTTP) a job they run: woken when it is cancelled, by job id. */
  private readonly agentsWatching = new Map<string, Set<() => void>>();
  private closed = false;
  private leaseCheck: NodeJS.Timeout | undefined;
  private checkingLeases = false;
  /** The jobs this process handed to agents and that are not reported yet: job id to its agent. */
  private readonly handedOut = new Map<string, string>();
  private readonly queues: Queues;
  /**
   * Jobs queued together: the operations an execution starts at once go out in one insert, which
   * also notifies their queues. Each answers whether it was inserted (not when its id exists).
   */
  private readonly sends: Batches<Parameters<typeof insertJobs>[1][number], boolean>;
  readonly leaseSeconds: number;
  readonly agentWaitSeconds: number;

  private constructor(
    private readonly boss: PgBoss,
    database: string,
    private signals: JobSignals | undefined,
    options: QueueOptions,
  ) {
    this.queues = new Queues(boss, database);
    this.sends = new Batches(async (jobs) => {
      const inserted = await insertJobs(boss.getDb(), jobs, CHANNELS.queued);
      return jobs.map((job) => inserted.has(job.id));
    });
    this.leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.agentWaitSeconds = options.agentWaitSeconds ?? 30;
  }

  static async open(database: string, options: QueueOptions = {}): Promise<JobHub> {
    // Expired leases are looked for every second (by one process of all those on the database,
    // pg-boss sees to that): a lost worker's job is handed out again within a second of its lease.
    const boss = await openBoss(database, 1);
    const hub = new JobHub(boss, database, undefined, options);
    try {
      await moveOldHostQueues(boss, hub.queues, database);
    } catch (error) {
      // Its connections would keep the process alive with nothing to do.
      await boss.stop({ graceful: false, wait: true });
      throw error;
    }
    // Run after each look for expired leases (here, when this process's turn): a job it handed
    // back is taken within a second rather than at a worker's next poll.
    boss.on('maintenance', () => void hub.wakeForHandedBack());
    hub.leaseCheck = setInterval(() => void hub.checkLeases(), LEASE_CHECK_MS);
    hub.leaseCheck.unref();
    hub.signals = await JobSignals.open(
      database,
      [CHANNELS.done, CHANNELS.log, CHANNELS.queued, CHANNELS.cancel],
      (channel, payload) => hub.onSignal(channel, payload),
      () => {
        for (const id of hub.awaited.keys()) void hub.look(id);
        for (const queue of hub.agentsWaiting.keys()) hub.wakeAgents(queue);
        for (const wake of [...hub.agentsWatching.values()].flatMap((set) => [...set])) wake();
      },
    );
    return hub;
  }

  /**
   * Queues the operation and resolves with its outcome. A call that re-attaches (its execution was
   * resumed, by this process or another, while the operation was in flight) finds its job again
   * by its id and waits for it, or takes the outcome it already has, instead of queueing it anew.
   */
  async run(
    tenant: TenantState,
    built: Pick<OperationJob, 'modelHash' | 'uploadsHash'>,
    call: OperationCall,
    queue: string,
  ): Promise<Outcome> {
    const { signal, withdraw, update: _update, log: _log, reattach, ...data } = call;
    if (signal.aborted)
      return failure('Cancelled', `${call.operation} was cancelled before it was queued`, false);
    await this.queues.ensure(queue);
    const id = jobId(tenant.name, call);
    const sealer = tenant.secrets.sealer();
    const job: OperationJob = {
      tenant: tenant.name,
      deploymentId: call.deploymentId,
      ...built,
      call: sealer.seal(JSON.stringify(data satisfies CallData)),
    };
    const expireInSeconds = this.leaseSeconds;
    const done = new Promise<Outcome>((resolve) => {
      const open = (sealed: string) => sealer.open(sealed);
      const entry: Awaited = { queue, call, open, resolve, attempt: 0, nextLog: 0, liveBroken: false };
      this.awaited.set(id, entry);
      entry.watch = setInterval(() => void this.look(id), this.agentWaitSeconds * 1000);
      entry.watch.unref();
    });
    const found = reattach ? await this.boss.getJobById(queue, id, { includeArchive: true }) : null;
    // Queued, running, or ended while no process awaited it: its end is read as if awaited.
    let attach = found !== null && found.state !== 'cancelled';
    if (!attach) {
      const options = { id, expireInSeconds, retryLimit: LOST_RETRIES, retryDelay: 0 };
      if (!(await this.sends.add({ ...options, name: queue, data: job }))) {
        // A job of this attempt exists though the executor did not know it was sent: its previous
        // owner queued it and died before it could store so. One that is queued, running or
        // succeeded is this operation's; one that ended otherwise (cancelled, failed, or a
        // failed execution resumed from attempt 0) is replaced by this one.
        const held = await this.boss.getJobById(queue, id, { includeArchive: true });
        attach = held !== null && this.stillHolds(held, sealer);
        if (!attach) {
          await this.boss.deleteJob(queue, id);
          await this.boss.send(queue, job, options);
          await this.signals?.notify(CHANNELS.queued, queue);
        }
      }
    }
    if (attach) void this.look(id);
    const onAbort = () => void this.cancel(id, 'cancelled');
    signal.addEventListener('abort', onAbort, { once: true });
    const onWithdraw = () => void this.withdraw(id);
    if (withdraw?.aborted) onWithdraw();
    else withdraw?.addEventListener('abort', onWithdraw, { once: true });
    try {
      return await done;
    } finally {
      signal.removeEventListener('abort', onAbort);
      withdraw?.removeEventListener('abort', onWithdraw);
    }
  }

  /** Whether an existing job of an attempt still stands for it: queued, running, or succeeded. */
  private stillHolds(
    job: { state: string; output: unknown },
    sealer: { open(sealed: string): string },
  ): boolean {
    if (job.state === 'created' || job.state === 'retry' || job.state === 'active') return true;
    if (job.state !== 'completed') return false;
    try {
      const reply = JSON.parse(sealer.open((job.output as Partial<JobOutput>).reply!)) as Reply;
      return reply.outcome.type === 'succeeded';
    } catch {
      return false;
    }
  }

  /**
   * Cancels a job: pg-boss will not hand it out, and the worker running it aborts its operation.
   * The run ends at once with a failure (the executor reports a cancel or a timeout its own way).
   */
  private async cancel(id: string, why: string): Promise<void> {
    const entry = this.awaited.get(id);
    if (!entry) return;
    this.settle(id, failure('Cancelled', `${entry.call.operation} ${why}`, false));
    await this.boss.cancel(entry.queue, id).catch(() => {});
    await this.signals?.notify(CHANNELS.cancel, id);
  }

  /**
   * Withdraws a job no worker has taken (a plain cancel): the run ends as not started. One a worker
   * holds, or one handed back after its worker was lost (it may have done part of its work), is
   * left to end as it will, as an operation running in the server's own plugin host is.
   */
  private async withdraw(id: string): Promise<void> {
    const entry = this.awaited.get(id);
    if (!entry) return;
    const withdrawn = await withdrawJob(this.boss.getDb(), { queue: entry.queue, id }).catch(() => false);
    if (withdrawn)
      this.settle(id, {
        type: 'withdrawn',
        message: 'was withdrawn: no worker had taken it',
        runtimeProperties: {},
      });
  }

  /** While jobs are awaited: hands out again those whose lease ended, and wakes their queues. */
  private async checkLeases(): Promise<void> {
    if (this.awaited.size === 0 || this.checkingLeases) return;
    this.checkingLeases = true;
    try {
      await expireLeases(this.boss.getDb());
      await this.wakeForHandedBack();
    } catch {
      // The database is unreachable: looked at again at the next check.
    } finally {
      this.checkingLeases = false;
    }
  }

  private async wakeForHandedBack(): Promise<void> {
    if (this.awaited.size === 0) return;
    const queues = await queuesWithJobsHandedBack(this.boss.getDb()).catch(() => []);
    for (const queue of queues) await this.signals?.notify(CHANNELS.queued, queue);
  }

  private onSignal(channel: string, payload: string): void {
    if (channel === CHANNELS.queued) this.wakeAgents(payload);
    else if (channel === CHANNELS.cancel) for (const wake of this.agentsWatching.get(payload) ?? []) wake();
    else if (channel === CHANNELS.done) {
      const { id, ...output } = JSON.parse(payload) as { id: string } & Partial<JobOutput>;
      const entry = this.awaited.get(id);
      if (entry && output.reply !== undefined) this.completed(id, entry, output);
      else if (entry) void this.look(id);
    } else if (channel === CHANNELS.log) {
      const line = JSON.parse(payload) as LiveLog;
      const entry = this.awaited.get(line.id);
      if (!entry || line.attempt < entry.attempt) return;
      if (line.attempt > entry.attempt)
        Object.assign(entry, { attempt: line.attempt, nextLog: 0, liveBroken: false });
      if (entry.liveBroken) return;
      if (line.n === entry.nextLog) {
        entry.call.log(line.level, line.message);
        entry.nextLog++;
      } else if (line.n > entry.nextLog) entry.liveBroken = true;
    }
  }

  /** Reads an awaited job and acts on its state. */
  private async look(id: string): Promise<void> {
    const entry = this.awaited.get(id);
    if (!entry) return;
    const job = await this.boss.getJobById(entry.queue, id, { includeArchive: true }).catch(() => null);
    if (!job || !this.awaited.has(id)) return;
    if (job.state === 'completed') this.completed(id, entry, job.output as Partial<JobOutput> | null);
    else if (job.state === 'failed') {
      // Failed by pg-boss: its lease expired each time it was taken, or a worker could not run it.
      const output = job.output as { message?: string; value?: { message?: string } } | null;
      const message = output?.message ?? output?.value?.message;
      const lost = message === undefined || /timeout in active state/.test(message);
      this.settle(
        id,
        lost
          ? failure(
              'WorkerLost',
              `worker lost while running ${entry.call.operation} (${job.retryCount + 1} workers took it, none finished it)`,
              true,
            )
          : failure('WorkerError', `a worker could not run ${entry.call.operation}: ${message}`, true),
      );
    } else if ((job.state === 'created' || job.state === 'retry') && entry.reported !== job.state) {
      entry.reported = job.state;
      entry.call.log('warning', waitingMessage(entry.queue, entry.call, this.agentWaitSeconds));
    } else if (job.state === 'active') entry.reported = undefined;
  }

  /** Ends an awaited job that a worker completed, with its output. */
  private completed(id: string, entry: Awaited, output: Partial<JobOutput> | null): void {
    let reply: Reply;
    try {
      reply = JSON.parse(entry.open(output!.reply!)) as Reply;
    } catch (error) {
      // Completed by pg-boss itself (the worker failed before its reply), or sealed with another key.
      const why =
        output?.reply === undefined
          ? 'without a reply'
          : `with a reply this server cannot open: ${(error as Error).message}`;
      this.settle(id, failure('WorkerError', `a worker completed ${entry.call.operation} ${why}`, true));
      return;
    }
    const sent = reply.attempt === entry.attempt ? entry.nextLog : 0;
    for (const line of reply.logs.slice(sent)) entry.call.log(line.level, line.message);
    this.settle(id, reply.outcome);
  }

  private settle(id: string, outcome: Outcome): void {
    const entry = this.awaited.get(id);
    if (!entry) return;
    this.awaited.delete(id);
    clearInterval(entry.watch);
    entry.resolve(outcome);
  }

  private wakeAgents(queue: string): void {
    for (const wake of this.agentsWaiting.get(queue) ?? []) wake();
  }

  /**
   * Up to `max` jobs of a host agent's queue, held by it as a worker holds those it fetches; when
   * there are none, waits up to `waitMs` for one to be queued there (a long poll: an agent over
   * HTTP is woken as a worker on the database is, by the queue's notification). The calls come
   * opened: the agent has no secret key, and its operations' inputs are its to read.
   * `stillValid` is asked after each wait: a token revoked while its request waited takes nothing.
   */
  async agentTake(
    tenant: TenantState,
    scope: AgentScope,
    max: number,
    waitMs: number,
    stillValid: () => Promise<boolean>,
  ): Promise<AgentJob[]> {
    const queue = hostQueue(scope.tenant, scope.host);
    await this.queues.ensure(queue);
    const deadline = Date.now() + waitMs;
    for (let waited = false; ; waited = true) {
      if (waited && !(await stillValid())) return [];
      // Listening before fetching: a job queued in between wakes this wait rather than being missed.
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const waiting = this.agentsWaiting.get(queue) ?? new Set();
      this.agentsWaiting.set(queue, waiting.add(wake));
      try {
        const jobs = await this.boss.fetch<OperationJob>(queue, { batchSize: max, includeMetadata: true });
        const taken: AgentJob[] = [];
        for (const job of jobs) {
          if (job.data.tenant !== scope.tenant || job.data.deploymentId !== scope.deployment) {
            // A host of another deployment of the tenant with the same instance id: not this agent's.
            await this.boss.fail(queue, job.id, {
              message: `not the job of the agent of ${scope.host} in deployment '${scope.deployment}'`,
            });
            continue;
          }
          // A job whose agent was lost is reported elsewhere: forgotten in bulk, then read again.
          if (this.handedOut.size >= 10_000) this.handedOut.clear();
          this.handedOut.set(job.id, agentKey(scope));
          taken.push({
            id: job.id,
            retryCount: job.retryCount,
            // pg-boss reads it from an interval: a numeric string.
            expireInSeconds: Number(job.expireInSeconds),
            deploymentId: job.data.deploymentId,
            modelHash: job.data.modelHash,
            uploadsHash: job.data.uploadsHash,
            call: JSON.parse(tenant.secrets.sealer().open(job.data.call)) as CallData,
          });
        }
        const left = deadline - Date.now();
        if (taken.length > 0 || left <= 0 || this.closed) return taken;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([woken, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
        clearTimeout(timer);
      } finally {
        waiting.delete(wake);
        if (waiting.size === 0) this.agentsWaiting.delete(queue);
      }
    }
  }

  /** A job of the agent's queue that is its own (its tenant and deployment), active, at that attempt. */
  private async agentJob(scope: AgentScope, id: string, retryCount: number) {
    const job = await this.boss
      .getJobById<OperationJob>(hostQueue(scope.tenant, scope.host), id)
      .catch(() => null);
    const ours =
      job !== null &&
      job.data.tenant === scope.tenant &&
      job.data.deploymentId === scope.deployment &&
      job.state === 'active' &&
      job.retryCount === retryCount;
    return ours ? job : undefined;
  }

  /** Renews the lease of a job an agent runs; false when it is not its any more (cancelled, lost). */
  async agentRenew(scope: AgentScope, id: string, retryCount: number): Promise<boolean> {
    const job = await this.agentJob(scope, id, retryCount);
    return (
      job !== undefined &&
      renewLease(
        this.boss.getDb(),
        { queue: hostQueue(scope.tenant, scope.host), id, retryCount },
        job.expireInSeconds,
      )
    );
  }

  /**
   * Answers when a job an agent runs is no longer its (cancelled: a force-cancel aborts it; or
   * handed out again), or after `waitMs` when it still is: the agent keeps one such request open
   * per running job, so a cancel reaches it as soon as it is notified rather than at the next
   * lease renewal. `gone` (the agent went away) ends the wait.
   */
  async agentWatch(
    scope: AgentScope,
    id: string,
    retryCount: number,
    waitMs: number,
    gone: AbortSignal,
  ): Promise<boolean> {
    // Listening before reading: a cancel in between wakes this wait rather than being missed.
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const watching = this.agentsWatching.get(id) ?? new Set();
    this.agentsWatching.set(id, watching.add(wake));
    gone.addEventListener('abort', wake, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!(await this.agentJob(scope, id, retryCount))) return false;
      if (this.closed) return true;
      await Promise.race([woken, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      return gone.aborted || (await this.agentJob(scope, id, retryCount)) !== undefined;
    } finally {
      clearTimeout(timer);
      gone.removeEventListener('abort', wake);
      watching.delete(wake);
      if (watching.size === 0) this.agentsWatching.delete(id);
    }
  }

  /**
   * Passes on a log line of a job an agent runs, as a worker on the database sends it. A job this
   * process handed to that agent is known without a read; another (handed out by another server
   * process) is read first.
   */
  async agentLog(scope: AgentScope, line: LiveLog): Promise<boolean> {
    const ours =
      this.handedOut.get(line.id) === agentKey(scope) ||
      (await this.agentJob(scope, line.id, line.attempt)) !== undefined;
    if (ours) await this.signals?.notify(CHANNELS.log, JSON.stringify(line));
    return ours;
  }

  /** Completes a job an agent ran with its reply, sealed here; false when it was not its any more. */
  async agentComplete(tenant: TenantState, scope: AgentScope, id: string, reply: Reply): Promise<boolean> {
    this.handedOut.delete(id);
    if (!(await this.agentJob(scope, id, reply.attempt))) return false;
    const output: JobOutput = { reply: tenant.secrets.sealer().seal(JSON.stringify(reply)) };
    // pg-boss 10 answers {affected} (its typings say void).
    const queue = hostQueue(scope.tenant, scope.host);
    const completed = (await this.boss.complete(queue, id, output)) as unknown as { affected: number };
    if (completed.affected !== 1) return false;
    if (!(await this.signals?.notify(CHANNELS.done, JSON.stringify({ queue, id, ...output }))))
      await this.signals?.notify(CHANNELS.done, JSON.stringify({ queue, id }));
    return true;
  }

  /** Hands a job back (its agent stops, or could not run it): pg-boss gives it out again. */
  async agentGiveBack(scope: AgentScope, id: string, retryCount: number, message: string): Promise<boolean> {
    this.handedOut.delete(id);
    if (!(await this.agentJob(scope, id, retryCount))) return false;
    await this.boss.fail(hostQueue(scope.tenant, scope.host), id, { message });
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.leaseCheck);
    for (const wake of [...this.agentsWaiting.values(), ...this.agentsWatching.values()].flatMap((set) => [
      ...set,
    ]))
      wake();
    for (const id of [...this.awaited.keys()])
      this.settle(id, failure('PluginHostClosed', 'the server stopped while the operation was queued', true));
    await this.signals?.close();
    await this.boss.stop({ graceful: false, wait: true });
  }
}

/**
 * The dispatcher of an execution run with workers: operations go to the queue of their executor;
 * what is asked of plugins in the engine's own process (resumable flags, custom workflow functions,
 * workflow scripts) is answered by `local`, the plugin host of this process.
 */
export class QueueDispatcher implements Dispatcher {
  private readonly built: Pick<OperationJob, 'modelHash' | 'uploadsHash'>;
  /** A job outlives the server that queued it: a server resuming the execution finds it again. */
  readonly reattaches = true;

  constructor(
    private readonly hub: JobHub,
    private readonly tenant: TenantState,
    private readonly model: DeploymentModel,
    private readonly local: WorkerDispatcher,
    uploadsHash: string,
  ) {
    this.built = { modelHash: createHash('sha256').update(JSON.stringify(model)).digest('hex'), uploadsHash };
  }

  run(call: OperationCall): Promise<Outcome> {
    const routed = queueOf(call, this.model, this.tenant.name);
    if ('problem' in routed) return Promise.resolve(failure('NoAgentQueue', routed.problem, false));
    return this.hub.run(this.tenant, this.built, call, routed.queue);
  }

  resumable(model: OperationModel): Promise<boolean> {
    return this.local.resumable(model);
  }

  workflow(plugin: string, fn: string): Promise<WorkflowFunction | undefined> {
    return this.local.workflow(plugin, fn);
  }

  runWorkflow(call: WorkflowCall): Promise<Outcome> {
    return this.local.runWorkflow(call);
  }
}
