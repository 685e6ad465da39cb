/**
 * Runs executions inside the server process: the same executor, plugin workers, retries, timeouts
 * and durability as the CLI. Each stored event wakes the tenant's event streams. When the server
 * stops, the running executions stop starting operations and wait for the running ones (a while),
 * then are interrupted; when it starts again they are resumed, as they are after a crash.
 */

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
import type { TenantState, TenantStores } from '../tenants.js';
import { type JobHub, QueueDispatcher } from '../workers/queue-dispatcher.js';
import type { EventNotifier } from './notifier.js';

/** Operations running at once per execution, as the CLI's default. */
const CONCURRENCY = 8;

/** How long a stopping server lets running operations finish before it aborts them. */
const STOP_GRACE_MS = 10_000;

interface Run {
  done: Promise<ExecutionRecord | undefined>;
  executor?: Executor;
  /** With workers: where the run's jobs are, to cancel those not taken yet. */
  queued?: JobHub;
  interrupt: AbortController;
  interruptNow: AbortController;
}

export class ExecutionRunner {
  private readonly runs = new Map<string, Run>();
  private stopping = false;

  constructor(
    private readonly tenants: TenantStores,
    private readonly plugins: ServerPlugins,
    private readonly notifier: EventNotifier,
    private readonly log: FastifyBaseLogger,
    /** With workers (`weft serve --workers`): operations go to their queues instead of running here. */
    private readonly workers?: JobHub,
  ) {}

  private key = (tenant: string, executionId: string) => `${tenant}\u0000${executionId}`;

  /** Whether this server is running the execution now. */
  isRunning(tenant: string, executionId: string): boolean {
    return this.runs.has(this.key(tenant, executionId));
  }

  /** After a cancel was stored: the run reads it now rather than at its next poll. */
  async cancelStored(tenant: string, executionId: string): Promise<void> {
    const run = this.runs.get(this.key(tenant, executionId));
    await run?.executor?.checkCancel();
    // Jobs no worker has taken are operations that have not started: a cancel stops them too.
    await run?.queued?.cancelQueued(executionId);
  }

  /**
   * Runs (or resumes) the execution in the background; resolves with how it ended. Plugins the
   * deployment needs were checked when it was started.
   */
  run(
    tenant: TenantState,
    execution: ExecutionRecord,
    retryInFlight = false,
  ): Promise<ExecutionRecord | undefined> {
    const key = this.key(tenant.name, execution.id);
    const running = this.runs.get(key);
    if (running) return running.done;
    const run: Run = {
      interrupt: new AbortController(),
      interruptNow: new AbortController(),
      done: Promise.resolve(undefined),
    };
    run.done = this.execute(tenant, execution, retryInFlight, run)
      .catch((error: unknown) => {
        this.log.error({ err: error, execution: execution.id, tenant: tenant.name }, 'execution run failed');
        return undefined;
      })
      .finally(() => {
        this.runs.delete(key);
        this.notifier.notify(tenant.name);
      });
    this.runs.set(key, run);
    return run.done;
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
    const local = this.plugins.workerDispatcher(model);
    await local.load();
    if (this.workers) run.queued = this.workers;
    else local.warmUp();
    const dispatcher = this.workers ? new QueueDispatcher(this.workers, tenant, model, local) : local;
    try {
      const executor = new Executor({
        store: tenant.store,
        dispatcher,
        concurrency: CONCURRENCY,
        secrets: () => tenant.secrets.all(),
        sealer: tenant.secrets.sealer(),
        workdir: tenant.workDir,
        onEvent: () => this.notifier.notify(tenant.name),
      });
      run.executor = executor;
      const result = await executor.run(execution.id, {
        retryInFlight,
        interrupt: run.interrupt.signal,
        interruptNow: run.interruptNow.signal,
      });
      await finishExecution(tenant.store, result);
      return result;
    } finally {
      await local.close();
    }
  }

  /**
   * Resumes what a previous server process left running: executions still active (it was killed),
   * and those it interrupted itself when it stopped, unless an operation that cannot safely run
   * twice was in flight (a person decides those: resume with retryInFlight).
   */
  async resumeLeftRunning(access: AccessStore): Promise<number> {
    let resumed = 0;
    for (const { name } of await access.listTenants()) {
      const tenant = await this.tenants.get(name);
      for (const execution of await tenant.store.listExecutions()) {
        if (execution.status === 'cancelling' || execution.status === 'force_cancelling') {
          // Asked to stop, and nothing runs it any more: it ends here, as `weft cancel` ends one.
          await tenant.store.applyBatch({
            execution: { id: execution.id, status: 'cancelled', endedAt: new Date().toISOString() },
          });
          continue;
        }
        if (!leftRunning(execution)) continue;
        this.log.info(
          { execution: execution.id, tenant: name },
          'resuming an execution the server left running',
        );
        void this.run(tenant, execution);
        resumed++;
      }
    }
    return resumed;
  }

  /** Stops every run: no new operations, a grace period for the running ones, then abort. */
  async stop(): Promise<void> {
    this.stopping = true;
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
