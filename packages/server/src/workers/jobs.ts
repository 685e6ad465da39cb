/**
 * What the server and its workers agree on: the queues operations go to, what a job carries and
 * what a finished one holds, and the notification channels. Jobs live in pg-boss (its own schema
 * of the server's database).
 */
import type { DeploymentModel, OperationCall, Outcome } from '@weft/engine';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { DEFAULT_TENANT } from '../auth/guard.js';
import { BOSS_SCHEMA } from '../store/job-leases.js';

/** The queue of operations run by `central_deployment_agent`: any worker started without --queue. */
export const SHARED_QUEUE = 'central_deployment_agent';

export const CHANNELS = {
  /** Payload: the queue a job was put on (workers of that queue fetch at once). */
  queued: 'weft_job_queued',
  /** Payload: {queue, id} of a job completed, with its output ({@link JobOutput}) when it fits. */
  done: 'weft_job_done',
  /** Payload: the id of a job to stop (the worker running it aborts its operation). */
  cancel: 'weft_job_cancel',
  /** Payload: a log line of a running job ({@link LiveLog}). */
  log: 'weft_job_log',
} as const;

/**
 * How many times a job is handed out again after its worker was lost (its lease expired): a
 * resumable operation runs again up to this many times; the next worker then reports it lost.
 */
export const LOST_RETRIES = 3;

/** The operation's call without what only lives in the server process (signals, callbacks). */
export type CallData = Omit<OperationCall, 'signal' | 'withdraw' | 'update' | 'log'>;

export interface OperationJob {
  tenant: string;
  deploymentId: string;
  /** A hash of the deployment model the execution runs: workers cache what they built from it. */
  modelHash: string;
  /**
   * The uploaded plugins the server ran the execution with (ServerPlugins.uploadsHash): a worker
   * with other versions unpacked syncs them from the database first.
   */
  uploadsHash: string;
  /** The CallData as JSON, sealed with the secret key: its inputs may hold secrets' values. */
  call: string;
}

/** A job as a host agent over HTTP is handed it: the call opened, with pg-boss's hold on it. */
export interface AgentJob extends Omit<OperationJob, 'tenant' | 'call'> {
  id: string;
  /** How many holders had it before (it is a resumable operation's re-run, or reported lost). */
  retryCount: number;
  expireInSeconds: number;
  call: CallData;
}

export interface LogLine {
  level: Parameters<OperationCall['log']>[0];
  message: string;
}

/** What a worker completes a job with: sealed, as runtime properties may hold secrets. */
export interface JobOutput {
  reply: string;
}

export interface Reply {
  outcome: Outcome;
  /** How many workers had taken the job before this one (pg-boss's retry count). */
  attempt: number;
  /** Every log line of the operation, in order (those already sent live are skipped by index). */
  logs: LogLine[];
}

/** A log line sent while the operation runs: `n` is its index among the attempt's lines. */
export interface LiveLog extends LogLine {
  id: string;
  attempt: number;
  n: number;
}

/** The executor of an operation, as Cloudify resolves it: the operation's, else its plugin's. */
export function executorOf(call: Pick<CallData, 'model'>, model: DeploymentModel): string {
  const plugin = call.model.plugin ? model.plugins[call.model.plugin] : undefined;
  return call.model.executor ?? plugin?.executor ?? SHARED_QUEUE;
}

/**
 * The queue of the agent of a host: the host's instance id within its tenant. Instance ids are
 * derived from the deployment id and node name alone, so two tenants with a deployment of the same
 * id have hosts of the same id: the tenant is part of the queue's name, and neither tenant's
 * agent takes the other's jobs. Tenant names have no `/`, and the shared queue's name none either.
 */
export function hostQueue(tenant: string, host: string): string {
  return `${tenant}/${host}`;
}

/** The tenant and host of a host's queue; undefined for the shared queue. */
export function hostOfQueue(queue: string): { tenant: string; host: string } | undefined {
  const slash = queue.indexOf('/');
  return slash < 0 ? undefined : { tenant: queue.slice(0, slash), host: queue.slice(slash + 1) };
}

/** A queue as people name it: the shared queue, or "host H of tenant T". */
export function describeQueue(queue: string): string {
  const host = hostOfQueue(queue);
  return host ? `host ${host.host} of tenant ${host.tenant}` : queue;
}

/**
 * The warning for an operation no worker has taken for `seconds`: whom it waits for (a worker of
 * the shared queue, or the agent of its host) and how to start that agent.
 */
export function waitingMessage(
  queue: string,
  call: Pick<CallData, 'deploymentId' | 'operation'>,
  seconds: number,
): string {
  const host = hostOfQueue(queue);
  const taken = `no worker has taken ${call.operation} for ${seconds} s`;
  if (!host) return `waiting for an agent on queue '${queue}': ${taken}`;
  const tenant = host.tenant === DEFAULT_TENANT ? '' : ` --tenant ${host.tenant}`;
  return (
    `waiting for the agent of host '${host.host}' in tenant '${host.tenant}': ${taken} ` +
    `(start it with weft agent install -d ${call.deploymentId} --host ${host.host}, or weft worker --queue ${host.host}${tenant})`
  );
}

/**
 * The queue an operation runs on: the shared one, or for `host_agent` the queue of the Compute
 * instance its instance runs on, in its tenant ({@link hostQueue}). A message when it has none.
 */
export function queueOf(
  call: CallData,
  model: DeploymentModel,
  tenant: string,
): { queue: string } | { problem: string } {
  const executor = executorOf(call, model);
  if (executor !== 'host_agent') return { queue: SHARED_QUEUE };
  const host = call.instance.hostId;
  if (!host)
    return {
      problem: `${call.operation} runs on host_agent, but ${call.instance.id} is not on a Compute host`,
    };
  return { queue: hostQueue(tenant, host) };
}

/**
 * A pg-boss instance on the database. `maintenanceSeconds`: how often expired leases are looked
 * for (by whichever process's turn it is): a lost worker's job is taken again that long after its
 * lease ends, at most.
 */
export async function openBoss(database: string, maintenanceSeconds: number): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: database,
    schema: BOSS_SCHEMA,
    application_name: 'weft-jobs',
    max: 4,
    supervise: true,
    maintenanceIntervalSeconds: maintenanceSeconds,
    schedule: false,
    migrate: true,
  });
  // Errors of pg-boss's background loops (a lost connection) are retried by them: not fatal.
  boss.on('error', () => {});
  await boss.start();
  return boss;
}

/** The advisory lock that makes the processes of one database create (and drop) queues one at a time. */
const QUEUE_CREATION_LOCK = 0x77656674_0001;

/**
 * Creates queues once per process. pg-boss's create_queue (a row, then a partition of the job
 * table) takes its locks in an order that deadlocks when processes create queues at once, as
 * workers starting together do ("deadlock detected", seen with three workers). So a queue that
 * is missing is created under a session advisory lock, on a connection of its own: one process
 * of the database at a time, and a process that dies holding it frees it with its session. One
 * that exists is only looked up.
 */
export class Queues {
  private readonly made = new Map<string, Promise<void>>();
  private last: Promise<void> = Promise.resolve();

  constructor(
    private readonly boss: PgBoss,
    private readonly database: string,
  ) {}

  ensure(name: string): Promise<void> {
    let made = this.made.get(name);
    if (!made) {
      // One at a time in this process too: one connection for the lock, not one per queue.
      made = this.last.then(() => this.create(name));
      this.last = made.catch(() => {});
      this.made.set(name, made);
      made.catch(() => this.made.delete(name));
    }
    return made;
  }

  private async create(name: string): Promise<void> {
    if ((await this.boss.getQueue(name)) !== null) return;
    await withQueueLock(this.database, async () => {
      // Another process may have made it while this one waited.
      if ((await this.boss.getQueue(name)) === null)
        await this.boss.createQueue(name, { name, retryLimit: LOST_RETRIES, retryDelay: 0 });
    });
  }
}

/**
 * Runs `fn` holding the lock that makes the processes of the database create and drop queues one
 * at a time (see Queues), with the session that holds it.
 */
export async function withQueueLock<T>(database: string, fn: (session: pg.Client) => Promise<T>): Promise<T> {
  const lock = new pg.Client({ connectionString: database, application_name: 'weft-jobs' });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [QUEUE_CREATION_LOCK]);
    return await fn(lock);
  } finally {
    // Ending the session releases the lock.
    await lock.end().catch(() => {});
  }
}

/** A failure as the engine reports one, for what happened to an operation on its way. */
export function failure(errorType: string, message: string, recoverable: boolean): Outcome {
  return {
    type: 'failed',
    recoverable,
    errorType,
    message,
    causes: [{ type: errorType, message }],
    runtimeProperties: {},
  };
}
