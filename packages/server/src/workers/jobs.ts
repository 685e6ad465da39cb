/**
 * What the server and its workers agree on: the queues operations go to, what a job carries and
 * what a finished one holds, and the notification channels. Jobs live in pg-boss (its own schema
 * of the server's database).
 */
import type { DeploymentModel, OperationCall, Outcome } from '@weft/engine';
import PgBoss from 'pg-boss';

/** The queue of operations run by `central_deployment_agent`: any worker started without --queue. */
export const SHARED_QUEUE = 'central_deployment_agent';

export const CHANNELS = {
  /** Payload: the queue a job was put on (workers of that queue fetch at once). */
  queued: 'weft_job_queued',
  /** Payload: {queue, id} of a job completed (the server reads its output). */
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

/** The operation's call without what only lives in the server process (signal, callbacks). */
export type CallData = Omit<OperationCall, 'signal' | 'update' | 'log'>;

export interface OperationJob {
  tenant: string;
  deploymentId: string;
  /** A hash of the deployment model the execution runs: workers cache what they built from it. */
  modelHash: string;
  /** The CallData as JSON, sealed with the secret key: its inputs may hold secrets' values. */
  call: string;
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
 * The queue an operation runs on: the shared one, or for `host_agent` the queue named by the id of
 * the Compute instance its instance runs on. A message when it has none.
 */
export function queueOf(call: CallData, model: DeploymentModel): { queue: string } | { problem: string } {
  const executor = executorOf(call, model);
  if (executor !== 'host_agent') return { queue: SHARED_QUEUE };
  const host = call.instance.hostId;
  if (!host)
    return {
      problem: `${call.operation} runs on host_agent, but ${call.instance.id} is not on a Compute host`,
    };
  return { queue: host };
}

/**
 * A pg-boss instance on the database. `maintenanceSeconds`: how often expired leases are looked
 * for (by whichever process's turn it is): a lost worker's job is taken again that long after its
 * lease ends, at most.
 */
export async function openBoss(database: string, maintenanceSeconds: number): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: database,
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

/** Creates queues once per process (creating one that exists is a no-op in pg-boss). */
export class Queues {
  private readonly made = new Map<string, Promise<void>>();

  constructor(private readonly boss: PgBoss) {}

  ensure(name: string): Promise<void> {
    let made = this.made.get(name);
    if (!made) {
      made = this.boss.createQueue(name, { name, retryLimit: LOST_RETRIES, retryDelay: 0 });
      this.made.set(name, made);
      made.catch(() => this.made.delete(name));
    }
    return made;
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
