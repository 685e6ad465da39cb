/**
 * `weft worker --server URL` with a host agent's token (WEFT_AGENT_TOKEN): the agent of one host,
 * on that host, with no database URL and no secret key. It takes its host's jobs from the server
 * over HTTP (a long poll, woken when one is queued there), runs them as any worker does
 * (running.ts), sends their log lines as they are written, renews their leases and reports their
 * outcomes through the server, and reads its deployment's blueprint and the uploaded plugins
 * from it. A job cancelled on the server is learnt at once: the agent keeps a request open per
 * running job that the server answers on a cancel (the lease renewals learn it too, later). A
 * token refused (revoked) stops the agent.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DeploymentModel, Json, Outcome } from '@weft/engine';
import { ServerPlugins, type StoredPlugins } from '../plugins.js';
import type { AgentScope, StoredPluginRecord } from '../store/access.js';
import { withLocalBlueprint } from './blueprints.js';
import { JobLoop } from './job-loop.js';
import { type AgentJob, describeQueue, failure, hostQueue, type LogLine } from './jobs.js';
import { holdLease, PreparedModels, runJob } from './running.js';
import type { RunningWorker } from './worker.js';

/** How long one ask for jobs waits on the server for one to be queued. */
const LONG_POLL_SECONDS = 20;

/** How long one watch of a running job waits on the server for it to be cancelled. */
const WATCH_SECONDS = 20;

/** How long to wait before asking again after the server could not be reached. */
const RETRY_MS = 2_000;

export interface AgentOptions {
  /** The server's URL (its API is under /api/v1). */
  server: string;
  /** A host agent's token (POST /deployments/:id/agents made it). */
  token: string;
  /** Operations run at once. Default 8. */
  concurrency?: number;
  /** Plugin work directories, blueprint copies, unpacked uploaded plugins. */
  stateDir: string;
  pluginDirs: string[];
}

export interface RunningAgent extends RunningWorker {
  scope: AgentScope;
  /** Resolves with why, when the agent stopped by itself (its token was refused). */
  stopped: Promise<string>;
}

/** The server refused the token: the agent stops rather than asking again. */
class Refused extends Error {}

class AgentClient {
  constructor(
    private readonly server: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await fetch(`${this.server.replace(/\/+$/, '')}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
    const text = await response.text();
    const answer: unknown = text ? JSON.parse(text) : null;
    const message = () => (answer as { message?: string } | null)?.message ?? `${response.status}`;
    if (response.status === 401 || response.status === 403)
      throw new Refused(`the server refused this agent's token: ${message()}`);
    if (!response.ok)
      throw new Error(`${method} ${path}: the server answered ${response.status}: ${message()}`);
    return answer as T;
  }
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const client = new AgentClient(options.server, options.token);
  const scope = await client.request<AgentScope>('GET', '/agent');
  return new AgentWorker(options, client, scope);
}

class AgentWorker implements RunningAgent {
  readonly name = `${hostname()}:${process.pid}`;
  readonly queues: string[];
  readonly stopped: Promise<string>;
  private stop!: (why: string) => void;
  private readonly loop: JobLoop<AgentJob>;
  private readonly models: PreparedModels;
  /** Ends the long poll in flight when the agent stops. */
  private readonly polling = new AbortController();
  private givingBack = false;
  private readonly running = new Set<AbortController>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: AgentOptions,
    private readonly client: AgentClient,
    readonly scope: AgentScope,
  ) {
    this.queues = [describeQueue(hostQueue(scope.tenant, scope.host))];
    this.stopped = new Promise((resolve) => (this.stop = resolve));
    const stored: StoredPlugins = {
      listPlugins: () => client.request<StoredPluginRecord[]>('GET', '/agent/plugins'),
      getPluginArchive: async (name) => {
        const got = await client.request<{ sha256: string; archive: string }>(
          'GET',
          `/agent/plugins/${encodeURIComponent(name)}`,
        );
        return { sha256: got.sha256, archive: Buffer.from(got.archive, 'base64') };
      },
    };
    this.models = new PreparedModels(
      new ServerPlugins(join(options.stateDir, 'plugins'), options.pluginDirs, stored),
    );
    this.loop = new JobLoop<AgentJob>(
      (count) => this.fetch(count),
      (job, error) => this.giveBack(job, error.message),
      options.concurrency ?? 8,
      (job) => this.take(job),
      0,
    );
  }

  private async fetch(count: number): Promise<AgentJob[]> {
    try {
      return await this.client.request<AgentJob[]>(
        'POST',
        '/agent/jobs',
        { max: count, waitSeconds: LONG_POLL_SECONDS },
        this.polling.signal,
      );
    } catch (error) {
      if (error instanceof Refused) {
        this.stop(error.message);
        void this.close();
      } else if (!this.polling.signal.aborted)
        // Unreachable: asked again a little later rather than at once.
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      return [];
    }
  }

  private async giveBack(job: AgentJob, message: string): Promise<void> {
    await this.client.request('POST', `/agent/jobs/${job.id}/give-back`, {
      retryCount: job.retryCount,
      message: `agent ${this.name}: ${message}`,
    });
  }

  private async take(job: AgentJob): Promise<void> {
    const logs: LogLine[] = [];
    const controller = new AbortController();
    this.running.add(controller);
    const release = holdLease(
      job.expireInSeconds,
      async () =>
        (
          await this.client.request<{ held: boolean }>('POST', `/agent/jobs/${job.id}/lease`, {
            retryCount: job.retryCount,
          })
        ).held,
      controller,
    );
    const watching = this.watch(job, controller);
    try {
      let outcome: Outcome;
      try {
        const prepared = await this.models.get(job.deploymentId, job, () => this.deployment());
        // Sent as written, one after the other (the server passes them on in order); a line that
        // does not arrive is sent again with the outcome, as every line is.
        let sending = Promise.resolve();
        const log = (level: LogLine['level'], message: string) => {
          const line = { attempt: job.retryCount, n: logs.length, level, message };
          logs.push({ level, message });
          sending = sending.then(() =>
            this.client.request('POST', `/agent/jobs/${job.id}/log`, line).then(
              () => {},
              () => {},
            ),
          );
        };
        const workDir = join(this.options.stateDir, 'work', this.scope.tenant);
        outcome = await runJob(prepared, job.call, job.retryCount, workDir, controller.signal, log);
      } catch (error) {
        outcome = failure('WorkerError', `agent ${this.name}: ${(error as Error).message}`, true);
      }
      if (this.givingBack) {
        await this.giveBack(job, 'stopped').catch(() => {});
        return;
      }
      await this.client
        .request('POST', `/agent/jobs/${job.id}/complete`, { attempt: job.retryCount, outcome, logs })
        // Not reported: its lease ends and it is handed out again, as if this agent were lost.
        .catch(() => {});
    } finally {
      watching.abort();
      release();
      this.running.delete(controller);
    }
  }

  /**
   * Keeps a request open on the server that it answers when the job is cancelled (or is not this
   * agent's any more), asked again after each quiet answer: the operation is aborted then, at
   * once, rather than at the next lease renewal. Returns what ends the watch.
   */
  private watch(job: AgentJob, controller: AbortController): AbortController {
    const watching = new AbortController();
    const body = { retryCount: job.retryCount, waitSeconds: WATCH_SECONDS };
    void (async () => {
      while (!watching.signal.aborted && !controller.signal.aborted) {
        try {
          const { held } = await this.client.request<{ held: boolean }>(
            'POST',
            `/agent/jobs/${job.id}/watch`,
            body,
            watching.signal,
          );
          if (!held && !watching.signal.aborted) {
            controller.abort(new Error('its job was taken back (cancelled, or given to another worker)'));
            return;
          }
        } catch (error) {
          // Refused: the agent stops (its poll learns so). Unreachable: the lease renewals still
          // learn of a cancel; asked again a little later.
          if (error instanceof Refused || watching.signal.aborted) return;
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    })();
    return watching;
  }

  /** The deployment's model, with its blueprint's files written here from what the server sends. */
  private async deployment(): Promise<DeploymentModel> {
    const got = await this.client.request<{
      blueprintId: string;
      model: Json;
      files: Record<string, string>;
    }>('GET', '/agent/deployment');
    const files = Object.fromEntries(
      Object.entries(got.files).map(([path, base64]) => [
        path,
        new Uint8Array(Buffer.from(base64, 'base64')),
      ]),
    );
    const deployment = { id: this.scope.deployment, blueprintId: got.blueprintId, model: got.model };
    // The blueprint's directory is the server's: where it is not on this host, the files sent are.
    return withLocalBlueprint(
      { getBlueprint: async () => ({ files }) },
      deployment,
      join(this.options.stateDir, 'blueprints', this.scope.tenant),
    );
  }

  /**
   * Stops taking jobs, lets running operations finish for a while, then gives their jobs back to
   * the server (another agent of the host takes them) and ends the plugin processes.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop('stopped');
      const finished = this.loop.stop();
      this.polling.abort();
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([finished, new Promise((resolve) => (grace = setTimeout(resolve, 10_000)))]);
      clearTimeout(grace);
      this.givingBack = true;
      for (const controller of this.running) controller.abort(new Error('the agent stopped'));
      await finished;
      await this.models.close();
    })();
    return this.closing;
  }
}
