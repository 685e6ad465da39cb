import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type {
  Dispatcher,
  OperationCall,
  Outcome,
  WorkflowCall,
  WorkflowFunction,
} from '../executor/dispatcher.js';
import type { DeploymentModel, OperationModel } from '../model/deployment-model.js';
import type { FromWorker, ToWorker } from './host-protocol.js';
import { ModuleDispatcher, type ModuleDispatcherOptions } from './module-dispatcher.js';
import type { WorkerSettings } from './plugins.js';

/** How long an aborted operation has to end by itself before its worker process is killed. */
const ABORT_GRACE_MS = 1000;

const WORKER = fileURLToPath(new URL('./host-worker.js', import.meta.url));

export interface WorkerOptions {
  /** Worker processes per plugin, at most. Default 8. */
  poolSize?: number;
  /** Heap limit of a worker process, in MB; a plugin that leaks past it fails its task. Default 1024. */
  memoryLimitMb?: number;
  /**
   * Per plugin name, what its plugin.yaml sets: operations one worker runs at once (default 1)
   * and the heap limit (default `memoryLimitMb`).
   */
  plugins?: ReadonlyMap<string, WorkerSettings>;
}

interface Running {
  id: number;
  call: OperationCall;
  resolve: (outcome: Outcome) => void;
}

/** One plugin worker process, running up to `capacity` operations at once. */
const LONGEST_LINE = 300;

function shortLine(line: string): string {
  return line.length > LONGEST_LINE
    ? `${line.slice(0, LONGEST_LINE)}... (${line.length - LONGEST_LINE} more characters)`
    : line;
}

class Worker {
  readonly child: ChildProcess;
  readonly running = new Map<number, Running>();
  private readonly stderr: string[] = [];
  private readonly ready: Promise<void>;

  constructor(
    private readonly memoryLimitMb: number,
    readonly capacity: number,
    private readonly onGone: (worker: Worker) => void,
  ) {
    this.child = fork(WORKER, [], {
      execArgv: [`--max-old-space-size=${memoryLimitMb}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // JSON, what the store keeps anyway: several times quicker than 'advanced' for these messages.
      serialization: 'json',
      // Its own process group, so that killing it on a timeout or cancel ends what the plugin
      // started as well (as the script plugin does for a script's processes).
      detached: true,
    });
    this.ready = new Promise((resolveReady) => {
      this.child.once('message', () => resolveReady());
    });
    // What the plugin prints reaches the engine over IPC (worker-output.ts), each line with its
    // operation. What is left on the streams (Node's own report of a crash) is shown in the logs of
    // the operations it may belong to, cut short: a TypeScript module's source line is the whole
    // compiled module.
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      for (const running of this.running.values()) running.call.log('info', shortLine(line));
    });
    createInterface({ input: this.child.stderr! }).on('line', (full) => {
      const line = shortLine(full);
      this.stderr.push(line);
      if (this.stderr.length > 20) this.stderr.shift();
      for (const running of this.running.values()) running.call.log('warning', line);
    });
    this.child.on('message', (message: FromWorker) => this.receive(message));
    this.child.on('exit', (code, signal) => this.gone(code, signal));
  }

  get full(): boolean {
    return this.running.size >= this.capacity;
  }

  private receive(message: FromWorker): void {
    if (message.type === 'ready') return;
    const running = this.running.get(message.id);
    if (!running) return;
    if (message.type === 'log') running.call.log(message.level, message.message);
    else if (message.type === 'update') {
      running.call.update(message.instanceId, message.runtimeProperties).then(
        () => this.send({ type: 'updated', requestId: message.requestId }),
        (error: Error) =>
          this.send({
            type: 'updated',
            requestId: message.requestId,
            error: error.message,
            errorType: error.name,
          }),
      );
    } else if (message.type === 'result') {
      this.running.delete(message.id);
      running.resolve(message.outcome);
    }
  }

  private send(message: ToWorker): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Runs an operation on this worker, whose slot `claim` already holds. */
  async run(claim: Running, entry: string, fn: string): Promise<Outcome> {
    await this.ready;
    const { id, call } = claim;
    return new Promise<Outcome>((resolveRun) => {
      claim.resolve = resolveRun;
      const { signal: _signal, update: _update, log: _log, ...data } = call;
      this.send({ type: 'run', id, entry, function: fn, call: data });
      // Cancel --force and timeouts fire the operation's own signal first, so that it can end
      // what it started (a script's processes); the worker is killed if it is still at it then.
      call.signal.addEventListener(
        'abort',
        () => {
          this.send({ type: 'abort', id });
          const kill = setTimeout(() => {
            if (this.running.has(id)) this.killGroup();
          }, ABORT_GRACE_MS);
          kill.unref();
        },
        { once: true },
      );
    });
  }

  private gone(code: number | null, signal: NodeJS.Signals | null): void {
    this.onGone(this);
    const tail = this.stderr.slice(-10).join('\n');
    const outOfMemory = /heap out of memory|Allocation failed/i.test(this.stderr.join('\n'));
    // The error that ended the process, as Node printed it (e.g. one thrown from a timer).
    const thrown = [...this.stderr].reverse().find((line) => /^\w*(Error|Exception)\b.*:/.test(line));
    const how = outOfMemory
      ? `ran out of memory (heap limit ${this.memoryLimitMb} MB)`
      : signal
        ? `was killed (${signal})`
        : `exited with code ${code}`;
    const running = [...this.running.values()];
    this.running.clear();
    for (const { call, resolve } of running)
      resolve({
        type: 'failed',
        recoverable: !call.signal.aborted,
        errorType: 'PluginCrash',
        message: `the plugin process ${how} during ${call.operation}${thrown ? `: ${thrown}` : ''}`,
        // V8's dump on running out of memory is noise to a plugin author: its first line says it.
        causes: outOfMemory
          ? [
              {
                type: 'stderr',
                message: this.stderr.find((line) => /out of memory/i.test(line)) ?? 'out of memory',
              },
            ]
          : tail
            ? [{ type: 'stderr', message: thrown ?? tail.split('\n')[0]!, stack: tail }]
            : [],
        runtimeProperties: {},
      });
  }

  /** Kills the worker and every process in its group: what the plugin started and left running. */
  private killGroup(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /**
   * Ends the worker. Operations still running are asked to stop first (a script plugin ends its
   * scripts, which have process groups of their own), and given ABORT_GRACE_MS before the worker's
   * whole group is killed.
   */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.running.size === 0) {
      this.child.kill('SIGKILL');
      return;
    }
    const exited = new Promise<void>((resolveExit) => this.child.once('exit', () => resolveExit()));
    for (const id of this.running.keys()) this.send({ type: 'abort', id });
    const grace = new Promise<void>((resolveGrace) => setTimeout(resolveGrace, ABORT_GRACE_MS).unref());
    await Promise.race([exited, grace]);
    this.killGroup();
  }
}

/**
 * Runs plugin operations in worker processes, a pool per plugin kept across tasks. A plugin
 * that throws, exits, crashes in a timer, runs out of memory or hangs (until its timeout) fails
 * only the tasks its worker runs (one, unless the plugin runs several per worker); its worker is
 * replaced. Custom workflow functions and the resumable flags are read from the plugin modules
 * in this process, which imports a module only when one of them is asked for.
 */
export class WorkerDispatcher implements Dispatcher {
  private readonly modules: ModuleDispatcher;
  private readonly pools = new Map<string, Worker[]>();
  private readonly queues = new Map<string, (() => void)[]>();
  private nextId = 0;
  private closed = false;
  private readonly poolSize: number;
  private readonly memoryLimitMb: number;
  private readonly settings: ReadonlyMap<string, WorkerSettings>;

  constructor(model: DeploymentModel, options: WorkerOptions & ModuleDispatcherOptions = {}) {
    this.modules = new ModuleDispatcher(model, options);
    this.poolSize = options.poolSize ?? 8;
    this.memoryLimitMb = options.memoryLimitMb ?? 1024;
    this.settings = options.plugins ?? new Map();
  }

  /**
   * Checks that the plugin modules exist. They are imported in the worker processes; in this
   * process only when a resumable flag or a custom workflow function is asked for.
   */
  async load(): Promise<void> {
    this.modules.check();
  }

  resumable(model: OperationModel): Promise<boolean> {
    return this.modules.resumable(model);
  }

  workflow(plugin: string, fn: string): Promise<WorkflowFunction | undefined> {
    return this.modules.workflow(plugin, fn);
  }

  /** Workflow scripts run in this process (their runner only starts python3 and answers its ctx). */
  runWorkflow(call: WorkflowCall): Promise<Outcome> {
    return this.modules.runWorkflow(call);
  }

  /**
   * A slot on a worker of the plugin: the least busy one with room, else a new worker while the
   * pool has room, else the next slot to free up.
   */
  private async acquire(plugin: string, claim: Running): Promise<Worker> {
    const pool = this.pools.get(plugin) ?? [];
    this.pools.set(plugin, pool);
    const settings = this.settings.get(plugin);
    const capacity = settings?.operationsPerWorker ?? 1;
    const memoryLimitMb = settings?.memoryLimitMb ?? this.memoryLimitMb;
    for (;;) {
      // Claimed in the same turn it is found, so no other task can take it meanwhile.
      let best: Worker | undefined;
      for (const worker of pool)
        if (!worker.full && (!best || worker.running.size < best.running.size)) best = worker;
      if (best) {
        best.running.set(claim.id, claim);
        return best;
      }
      if (pool.length < this.poolSize) {
        const worker = new Worker(memoryLimitMb, capacity, (gone) => {
          const index = pool.indexOf(gone);
          if (index >= 0) pool.splice(index, 1);
          this.release(plugin);
        });
        pool.push(worker);
        worker.running.set(claim.id, claim);
        return worker;
      }
      await new Promise<void>((resolveTurn) => {
        const queue = this.queues.get(plugin) ?? [];
        queue.push(resolveTurn);
        this.queues.set(plugin, queue);
      });
    }
  }

  private release(plugin: string): void {
    this.queues.get(plugin)?.shift()?.();
  }

  async run(given: OperationCall): Promise<Outcome> {
    const call = this.modules.pluginCall(given);
    const { model } = call;
    const entry = model.plugin ? this.modules.entryOf(model.plugin) : undefined;
    // Plugins without a module are answered (with a clear error) in this process.
    if (!entry || !model.function) return this.modules.run(call);
    if (this.closed)
      return {
        type: 'failed',
        recoverable: true,
        errorType: 'PluginHostClosed',
        message: `${call.operation} was not run: the plugin host has shut down`,
        causes: [],
        runtimeProperties: {},
      };
    const claim: Running = { id: this.nextId++, call, resolve: () => {} };
    const worker = await this.acquire(model.plugin!, claim);
    try {
      return await worker.run(claim, entry, model.function);
    } finally {
      this.release(model.plugin!);
    }
  }

  /** Ends every worker process; no operation starts after. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.pools.values()].flat();
    this.pools.clear();
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
