/**
 * What a `weft worker` does with a job it holds, whether it took it from pg-boss (on the database)
 * or from the server (a host agent with a token): the deployment's plugin host built once per
 * model, the operation run there, and the job's lease renewed while it runs.
 */
import { join } from 'node:path';
import type { DeploymentModel, Json, OperationCall, Outcome, WorkerDispatcher } from '@weft/engine';
import type { ServerPlugins } from '../plugins.js';
import { type CallData, failure, LOST_RETRIES, type LogLine } from './jobs.js';

/** What a deployment's jobs run with on this machine, built once per model. */
export interface Prepared {
  model: DeploymentModel;
  dispatcher: WorkerDispatcher;
  running: number;
}

/** The plugin hosts of the deployments' models this worker runs jobs of. */
export class PreparedModels {
  private readonly prepared = new Map<string, Promise<Prepared>>();

  constructor(private readonly plugins: ServerPlugins) {}

  /**
   * The deployment's model (`load`: its blueprint on this machine) and a plugin host for it, built
   * once per model: a job of an execution that runs another model (after an update) gets its own,
   * and the idle hosts of the deployment's older models are ended then.
   */
  get(
    deploymentKey: string,
    job: { modelHash: string; uploadsHash: string },
    load: () => Promise<DeploymentModel>,
  ): Promise<Prepared> {
    const prefix = `${deploymentKey}\u0000`;
    const key = `${prefix}${job.modelHash}\u0000${job.uploadsHash}`;
    let prepared = this.prepared.get(key);
    if (prepared) return prepared;
    prepared = (async () => {
      const model = await load();
      // The uploaded plugins as the server ran the execution with them: unpacked from where they
      // are stored when this machine has other versions (or none).
      if (this.plugins.uploadsHash() !== job.uploadsHash) await this.plugins.sync();
      const dispatcher = this.plugins.workerDispatcher(model);
      await dispatcher.load();
      return { model, dispatcher, running: 0 };
    })();
    for (const [other, older] of this.prepared)
      if (other.startsWith(prefix))
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

  /** Ends every plugin host. */
  async close(): Promise<void> {
    const prepared = await Promise.allSettled(this.prepared.values());
    await Promise.all(
      prepared.flatMap((p) => (p.status === 'fulfilled' ? [p.value.dispatcher.close()] : [])),
    );
  }
}

/**
 * Runs the job's operation in its plugin host. A job taken again after its holder was lost runs
 * again only if its operation is resumable (and not too many times); otherwise it is reported
 * lost, for the execution's retry policy to judge.
 */
export async function runJob(
  prepared: Prepared,
  data: CallData,
  retryCount: number,
  workDir: string,
  signal: AbortSignal,
  log: (level: LogLine['level'], message: string) => void,
): Promise<Outcome> {
  if (retryCount > 0) {
    const resumable = await prepared.dispatcher.resumable(data.model);
    if (!resumable || retryCount >= LOST_RETRIES)
      return failure(
        'WorkerLost',
        `worker lost while running ${data.operation}${resumable ? ` (${retryCount} times)` : ''}`,
        true,
      );
    log('warning', `the worker running ${data.operation} was lost; running it again`);
  }
  // The operation's timeout is the executor's, which cancels the job then; this is a backstop
  // for a cancel that does not arrive.
  const timeout = data.model.timeout;
  const timed = timeout ? AbortSignal.any([signal, AbortSignal.timeout(timeout * 1000)]) : signal;
  const updates = new Map<string, Record<string, Json>>();
  prepared.running++;
  try {
    const call: OperationCall = {
      ...data,
      blueprintDir: prepared.model.blueprint.baseDir,
      plugin: { ...data.plugin, workdir: join(workDir, data.deploymentId, data.plugin.name) },
      signal: timed,
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
    prepared.running--;
  }
}

/**
 * Renews a job's lease (`renew`: true while it is still this worker's) a few times per lease
 * while its operation runs. The operation is aborted when the job is no longer this worker's
 * (cancelled, or handed out again) or when the lease could not be renewed before it ended (the
 * queue unreachable): another worker may hold the job by then. Returns what stops the renewals.
 */
export function holdLease(
  expireInSeconds: number,
  renew: () => Promise<boolean>,
  controller: AbortController,
): () => void {
  const leaseMs = expireInSeconds * 1000;
  let heldUntil = Date.now() + leaseMs;
  let renewing = false;
  const beat = setInterval(
    async () => {
      if (renewing) return;
      if (Date.now() >= heldUntil) {
        controller.abort(new Error(`its lease of ${expireInSeconds} s ended before it could be renewed`));
        return;
      }
      renewing = true;
      const asked = Date.now();
      try {
        if (await renew()) heldUntil = asked + leaseMs;
        else controller.abort(new Error('its job was taken back (cancelled, or given to another worker)'));
      } catch {
        // Unreachable queue: tried again at the next beat, until the lease ends.
      } finally {
        renewing = false;
      }
    },
    Math.max(200, leaseMs / 3),
  );
  return () => clearInterval(beat);
}
