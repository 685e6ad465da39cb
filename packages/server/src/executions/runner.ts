/**
 * Runs executions inside the server process: the same executor, plugin workers, retries, timeouts
 * and durability as the CLI. Each stored event wakes the tenant's event streams. When the server
 * stops, the running executions stop starting operations and wait for the running ones (a while),
 * then are interrupted; when it starts again they are resumed, as they are after a crash.
 *
 * Several server processes may share one PostgreSQL database: a process runs an execution only
 * while it holds the execution's claim, and each one looks now and then for executions left
 * running with no live claim (their process died or stopped) and takes them over.
 */

import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  type ExecutionRecord,
  Executor,
  finishExecution,
  type InterruptedError,
  modelOf,
} from '@weft/engine';
import type { FastifyBaseLogger } from 'fastify';
import { storedBlueprintDir } from '../blueprints/stored.js';
import type { ServerPlugins } from '../plugins.js';
import type { AccessStore } from '../store/access.js';
import type { ExecutionClaims } from '../store/execution-claims.js';
import type { TenantState, TenantStores } from '../tenants.js';
import { type JobHub, QueueDispatcher } from '../workers/queue-dispatcher.js';
import type { EventNotifier } from './notifier.js';

/** Operations running at once per execution, as the CLI's default. */
const CONCURRENCY = 8;

/**
 * With workers (`weft serve --workers`): how many of an execution's operations may be queued or
 * running at once. What runs at once is bounded by the workers' slots (`weft worker
 * --concurrency`, per worker), as a Cloudify agent's pool bounds it; this only bounds the jobs one
 * execution holds in the queue, enough to keep several workers' slots busy while the results of
 * those that ended come back (at 8, an execution used at most 8 slots of all its workers).
 */
const QUEUED_PER_EXECUTION = 64;

/** How long a stopping server lets running operations finish before it aborts them. */
const STOP_GRACE_MS = 10_000;

interface Run {
  done: Promise<ExecutionRecord | undefined>;
  executor?: Executor;
  interrupt: AbortController;
  interruptNow: AbortController;
  /** Run once the execution has ended here (not interrupted), before it is seen as no longer running. */
  afterEnd?: (ended: ExecutionRecord) => Promise<void>;
}

/**
 * How often a run reads whether it was cancelled when cancels reach it through the relay (ms): a
 * fallback for a cancel stored without one (`weft cancel` on the database itself). 20 running
 * executions each reading it every 250 ms (the executor's default) made 80 queries a second.
 */
const RELAYED_CANCEL_POLL_MS = 2000;

export class ExecutionRunner {
  private readonly runs = new Map<string, Run>();
  private cancelRelay: ((tenant: string, executionId: string) => Promise<void>) | undefined;
  private stopping = false;
  private takeOverTimer: NodeJS.Timeout | undefined;
  /** The take-over pass under way, if one is: passes never overlap. */
  private takingOver: Promise<unknown> | undefined;

  constructor(
    private readonly tenants: TenantStores,
    private readonly plugins: ServerPlugins,
    private readonly notifier: EventNotifier,
    private readonly log: FastifyBaseLogger,
    private readonly claims: ExecutionClaims,
    /** With workers (`weft serve --workers`): operations go to their queues instead of running here. */
    private readonly workers?: JobHub,
  ) {}

  private key = (tenant: string, executionId: string) => `${tenant}\u0000${executionId}`;

  /** Whether this server is running the execution now. */
  isRunning(tenant: string, executionId: string): boolean {
    return this.runs.has(this.key(tenant, executionId));
  }

  /** Whether this server or another live one sharing its database is running the execution. */
  async isRunningAnywhere(tenant: string, executionId: string): Promise<boolean> {
    return this.isRunning(tenant, executionId) || (await this.claims.heldElsewhere(tenant, executionId));
  }

  /**
   * After a cancel was stored: the run reads it now rather than at its next poll, here or, through
   * the relay (cancel-relay.ts), in the server process that runs it.
   */
  async cancelStored(tenant: string, executionId: string): Promise<void> {
    if (this.isRunning(tenant, executionId)) await this.cancelHeard(tenant, executionId);
    else await this.cancelRelay?.(tenant, executionId);
  }

  /** A cancel of an execution was stored (maybe by another server process): a run here reads it now. */
  async cancelHeard(tenant: string, executionId: string): Promise<void> {
    const run = this.runs.get(this.key(tenant, executionId));
    await run?.executor?.checkCancel();
  }

  /** Cancels may have been stored unheard (the relay's connection was down): every run reads its status. */
  async cancelsMissed(): Promise<void> {
    await Promise.all([...this.runs.values()].map((run) => run.executor?.checkCancel()));
  }

  /**
   * Tells the other server processes sharing the database about the cancels stored here; the runs
   * of this one then read their status only every RELAYED_CANCEL_POLL_MS (in case one is missed).
   */
  relayCancels(send: (tenant: string, executionId: string) => Promise<void>): void {
    this.cancelRelay = send;
  }

  /**
   * Creates an execution with `create` and runs it in the background. Its claim is taken before it
   * is stored: otherwise another server looking for executions left running could find it pending
   * with no claim, in the moment between, and take it.
   */
  async start(
    tenant: TenantState,
    create: (id: string) => Promise<ExecutionRecord>,
    /**
     * What to do once the execution has ended in this process (not when it was interrupted, nor
     * when another process takes it over): before its event stream ends.
     */
    afterEnd?: (ended: ExecutionRecord) => Promise<void>,
  ): Promise<ExecutionRecord> {
    const id = randomUUID();
    if (!(await this.claims.claim(tenant.name, id)))
      throw new Error(`execution ${id} is claimed by another server process before it exists`);
    let execution: ExecutionRecord;
    try {
      execution = await create(id);
    } catch (error) {
      await this.claims.release(tenant.name, id);
      throw error;
    }
    void this.run(tenant, execution, false, false, true, afterEnd);
    return execution;
  }

  /**
   * Runs (or resumes) the execution in the background; resolves with how it ended, or undefined
   * when another server process holds it (or, with `onlyIfLeftRunning`, when it no longer needs
   * anyone: it ended or was taken meanwhile). Plugins the deployment needs were checked when it
   * was started.
   */
  run(
    tenant: TenantState,
    execution: ExecutionRecord,
    retryInFlight = false,
    onlyIfLeftRunning = false,
    /** The claim is held already (taken by `start`). */
    claimHeld = false,
    afterEnd?: (ended: ExecutionRecord) => Promise<void>,
  ): Promise<ExecutionRecord | undefined> {
    const key = this.key(tenant.name, execution.id);
    const running = this.runs.get(key);
    if (running) return running.done;
    const run: Run = {
      interrupt: new AbortController(),
      interruptNow: new AbortController(),
      done: Promise.resolve(undefined),
      ...(afterEnd ? { afterEnd } : {}),
    };
    run.done = this.claimed(tenant, execution, onlyIfLeftRunning, claimHeld, () =>
      this.execute(tenant, execution, retryInFlight, run),
    )
      .catch((error: unknown) => {
        this.log.error({ err: error, execution: execution.id, tenant: tenant.name }, 'execution run failed');
        return undefined;
      })
      .finally(() => {
        this.runs.delete(key);
        this.notifier.notify(tenant.name, execution.id);
      });
    this.runs.set(key, run);
    return run.done;
  }

  /**
   * Runs `body` while holding the execution's claim. What a list showed may be old by the time the
   * claim is held (the process that held it may just have finished it): read again then.
   */
  private async claimed(
    tenant: TenantState,
    execution: ExecutionRecord,
    onlyIfLeftRunning: boolean,
    claimHeld: boolean,
    body: () => Promise<ExecutionRecord>,
  ): Promise<ExecutionRecord | undefined> {
    if (!claimHeld && !(await this.claims.claim(tenant.name, execution.id))) return undefined;
    try {
      if (onlyIfLeftRunning) {
        const now = await tenant.store.getExecution(execution.id);
        if (!now || !leftRunning(now)) return undefined;
        this.log.info(
          { execution: execution.id, tenant: tenant.name },
          'resuming an execution no server process runs',
        );
      }
      return await body();
    } finally {
      await this.claims.release(tenant.name, execution.id);
    }
  }

  private async execute(
    tenant: TenantState,
    execution: ExecutionRecord,
    retryInFlight: boolean,
    run: Run,
  ): Promise<ExecutionRecord> {
    const deployment = await tenant.store.getDeployment(execution.deploymentId);
    if (!deployment)
      throw new Error(`deployment '${execution.deploymentId}' of execution ${execution.id} is gone`);
    const model = modelOf(deployment.model);
    // Operations read scripts and resources from the blueprint's files: written out again from
    // the store when this machine does not have them (a state directory restored elsewhere).
    if (!existsSync(model.blueprint.baseDir)) await storedBlueprintDir(tenant, deployment.blueprintId);
    // Plugins uploaded through another server process sharing the database are unpacked first.
    await this.plugins.sync();
    const local = this.plugins.workerDispatcher(model);
    await local.load();
    if (!this.workers) local.warmUp();
    const dispatcher = this.workers
      ? new QueueDispatcher(this.workers, tenant, model, local, this.plugins.uploadsHash())
      : local;
    try {
      const executor = new Executor({
        store: tenant.store,
        dispatcher,
        concurrency: this.workers ? QUEUED_PER_EXECUTION : CONCURRENCY,
        secrets: () => tenant.secrets.all(),
        sealer: tenant.secrets.sealer(),
        workdir: tenant.workDir,
        // The commit that stored them told the other processes, when the store does so.
        onEvent: (event) =>
          tenant.toldAtCommit
            ? this.notifier.notifyHere(tenant.name, event.executionId ?? undefined)
            : this.notifier.notify(tenant.name, event.executionId ?? undefined),
        ...(this.cancelRelay ? { cancelPollMs: RELAYED_CANCEL_POLL_MS } : {}),
      });
      run.executor = executor;
      const result = await executor.run(execution.id, {
        retryInFlight,
        interrupt: run.interrupt.signal,
        interruptNow: run.interruptNow.signal,
      });
      await finishExecution(tenant.store, result);
      if (run.afterEnd && ['terminated', 'failed', 'cancelled'].includes(result.status))
        await run.afterEnd(result);
      return result;
    } finally {
      await local.close();
    }
  }

  /**
   * Resumes what no live server process runs: executions still active whose process was killed,
   * and those a server interrupted itself when it stopped, unless an operation that cannot safely
   * run twice was in flight (a person decides those: resume with retryInFlight). An execution
   * asked to stop that nothing runs any more ends here, as `weft cancel` ends one.
   */
  async resumeLeftRunning(access: AccessStore): Promise<number> {
    let resumed = 0;
    for (const { name } of await access.listTenants()) {
      if (this.stopping) break;
      const tenant = await this.tenants.get(name);
      for (const execution of await tenant.store.listExecutions()) {
        if (this.isRunning(name, execution.id)) continue;
        if (execution.status === 'cancelling' || execution.status === 'force_cancelling') {
          if (!(await this.claims.claim(name, execution.id))) continue;
          try {
            const now = await tenant.store.getExecution(execution.id);
            if (now?.status === 'cancelling' || now?.status === 'force_cancelling')
              await tenant.store.applyBatch({
                execution: { id: execution.id, status: 'cancelled', endedAt: new Date().toISOString() },
              });
          } finally {
            await this.claims.release(name, execution.id);
          }
          continue;
        }
        if (!leftRunning(execution)) continue;
        void this.run(tenant, execution, false, true);
        resumed++;
      }
    }
    return resumed;
  }

  /**
   * Looks every `intervalMs` for executions no live server process runs, and takes them over:
   * with several servers on one database, the work of one that died goes on in another.
   */
  takeOverEvery(access: AccessStore, intervalMs: number): void {
    this.takeOverTimer = setInterval(() => {
      if (this.takingOver || this.stopping) return;
      this.takingOver = this.resumeLeftRunning(access)
        .catch((error: unknown) =>
          this.log.error({ err: error }, 'looking for executions to take over failed'),
        )
        .finally(() => {
          this.takingOver = undefined;
        });
    }, intervalMs);
    this.takeOverTimer.unref();
  }

  /**
   * The claims were lost (their connection broke): another process may take the executions over
   * now, so none may go on here. Running operations are aborted; the executions end interrupted
   * and are resumed by whichever process claims them next.
   */
  claimsLost(): void {
    this.log.error('lost the database connection that holds the executions: interrupting them');
    for (const run of this.runs.values()) {
      run.interrupt.abort();
      run.interruptNow.abort();
    }
  }

  /** Stops every run: no new operations, a grace period for the running ones, then abort. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.takeOverTimer);
    await this.takingOver;
    const runs = [...this.runs.values()];
    for (const run of runs) run.interrupt.abort();
    const all = Promise.all(runs.map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_GRACE_MS);
    });
    await Promise.race([all, grace]);
    clearTimeout(timer);
    for (const run of runs) run.interruptNow.abort();
    await all;
  }

  get isStopping(): boolean {
    return this.stopping;
  }
}

/** Whether a server process that ended left this execution for the next one to continue. */
function leftRunning(execution: ExecutionRecord): boolean {
  if (execution.status === 'pending' || execution.status === 'started') return true;
  if (execution.status !== 'interrupted') return false;
  const error = execution.error as unknown as InterruptedError | null;
  return error?.byUser === true && error.notResumable.length === 0;
}
