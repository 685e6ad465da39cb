import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Dispatcher, OperationCall, Outcome, WorkflowFunction } from '../executor/dispatcher.js';
import type { DeploymentModel, OperationModel } from '../model/deployment-model.js';
import type { FromWorker, ToWorker } from './host-protocol.js';
import { ModuleDispatcher, type ModuleDispatcherOptions } from './module-dispatcher.js';

const WORKER = fileURLToPath(new URL('./host-worker.js', import.meta.url));

export interface WorkerOptions {
  /** Worker processes per plugin, at most (each runs one operation at a time). Default 8. */
  poolSize?: number;
  /** Heap limit of a worker process, in MB; a plugin that leaks past it fails its task. Default 1024. */
  memoryLimitMb?: number;
}

interface Running {
  id: number;
  call: OperationCall;
  resolve: (outcome: Outcome) => void;
}

/** One plugin worker process. */
class Worker {
  readonly child: ChildProcess;
  running: Running | undefined;
  private readonly stderr: string[] = [];
  private readonly ready: Promise<void>;

  constructor(
    memoryLimitMb: number,
    private readonly onGone: (worker: Worker) => void,
  ) {
    this.child = fork(WORKER, [], {
      execArgv: [`--max-old-space-size=${memoryLimitMb}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.ready = new Promise((resolveReady) => {
      this.child.once('message', () => resolveReady());
    });
    // What the plugin prints is shown in the logs of the operation it belongs to.
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.running?.call.log('info', line));
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 20) this.stderr.shift();
      this.running?.call.log('warning', line);
    });
    this.child.on('message', (message: FromWorker) => this.receive(message));
    this.child.on('exit', (code, signal) => this.gone(code, signal));
  }

  private receive(message: FromWorker): void {
    const running = this.running;
    if (!running || message.type === 'ready' || message.id !== running.id) return;
    if (message.type === 'log') running.call.log(message.level, message.message);
    else if (message.type === 'update') {
      running.call.update(message.instanceId, message.runtimeProperties).then(
        () => this.send({ type: 'updated', requestId: message.requestId }),
        (error: Error) => this.send({ type: 'updated', requestId: message.requestId, error: error.message }),
      );
    } else if (message.type === 'result') {
      this.running = undefined;
      running.resolve(message.outcome);
    }
  }

  private send(message: ToWorker): void {
    if (this.child.connected) this.child.send(message);
  }

  async run(id: number, entry: string, fn: string, call: OperationCall): Promise<Outcome> {
    await this.ready;
    return new Promise<Outcome>((resolveRun) => {
      this.running = { id, call, resolve: resolveRun };
      const { signal: _signal, update: _update, log: _log, ...data } = call;
      this.send({ type: 'run', id, entry, function: fn, call: data });
      // Cancel --force and timeouts end the process, and with it the operation.
      call.signal.addEventListener('abort', () => this.child.kill('SIGKILL'), { once: true });
    });
  }

  private gone(code: number | null, signal: NodeJS.Signals | null): void {
    this.onGone(this);
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    const tail = this.stderr.slice(-10).join('\n');
    const outOfMemory = /heap out of memory|Allocation failed/i.test(this.stderr.join('\n'));
    // The error that ended the process, as Node printed it (e.g. one thrown from a timer).
    const thrown = [...this.stderr].reverse().find((line) => /^\w*(Error|Exception)\b.*:/.test(line));
    const how = outOfMemory
      ? 'ran out of memory'
      : signal
        ? `was killed (${signal})`
        : `exited with code ${code}`;
    running.resolve({
      type: 'failed',
      recoverable: !running.call.signal.aborted,
      errorType: 'PluginCrash',
      message: `the plugin process ${how} during ${running.call.operation}${thrown ? `: ${thrown}` : ''}`,
      causes: tail ? [{ type: 'stderr', message: thrown ?? tail.split('\n')[0]!, stack: tail }] : [],
      runtimeProperties: {},
    });
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * Runs plugin operations in worker processes, a pool per plugin kept across tasks. A plugin
 * that throws, exits, crashes in a timer, runs out of memory or hangs (until its timeout) fails
 * only its own task; its worker is replaced. Custom workflow functions and the resumable flags
 * are read from the plugin modules in this process.
 */
export class WorkerDispatcher implements Dispatcher {
  private readonly modules: ModuleDispatcher;
  private readonly pools = new Map<string, Worker[]>();
  private readonly queues = new Map<string, (() => void)[]>();
  private nextId = 0;
  private readonly poolSize: number;
  private readonly memoryLimitMb: number;

  constructor(model: DeploymentModel, options: WorkerOptions & ModuleDispatcherOptions = {}) {
    this.modules = new ModuleDispatcher(model, options);
    this.poolSize = options.poolSize ?? 8;
    this.memoryLimitMb = options.memoryLimitMb ?? 1024;
  }

  load(): Promise<void> {
    return this.modules.load();
  }

  resumable(model: OperationModel): boolean {
    return this.modules.resumable(model);
  }

  workflow(plugin: string, fn: string): WorkflowFunction | undefined {
    return this.modules.workflow(plugin, fn);
  }

  /** An idle worker of the plugin, a new one while the pool has room, or the next to free up. */
  private async acquire(plugin: string, claim: Running): Promise<Worker> {
    const pool = this.pools.get(plugin) ?? [];
    this.pools.set(plugin, pool);
    for (;;) {
      // Claimed in the same turn it is found, so no other task can take it meanwhile.
      const idle = pool.find((w) => !w.running);
      if (idle) {
        idle.running = claim;
        return idle;
      }
      if (pool.length < this.poolSize) {
        const worker = new Worker(this.memoryLimitMb, (gone) => {
          const index = pool.indexOf(gone);
          if (index >= 0) pool.splice(index, 1);
          this.release(plugin);
        });
        pool.push(worker);
        worker.running = claim;
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

  async run(call: OperationCall): Promise<Outcome> {
    const { model } = call;
    const entry = model.plugin ? this.modules.entryOf(model.plugin) : undefined;
    // Scripts and plugins without a module are answered (with a clear error) in this process.
    if (model.kind === 'script' || !entry || !model.function) return this.modules.run(call);
    const id = this.nextId++;
    const worker = await this.acquire(model.plugin!, { id, call, resolve: () => {} });
    try {
      return await worker.run(id, entry, model.function, call);
    } finally {
      this.release(model.plugin!);
    }
  }

  /** Ends every worker process. */
  close(): void {
    for (const pool of this.pools.values()) for (const worker of pool) worker.stop();
    this.pools.clear();
  }
}
