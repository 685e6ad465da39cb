import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type {
  Dispatcher,
  OperationCall,
  Outcome,
  WorkflowCall,
  WorkflowFunction,
} from '../executor/dispatcher.js';
import { allOperations, type DeploymentModel, type OperationModel } from '../model/deployment-model.js';
import type { FromWorker, ToWorker } from './host-protocol.js';
import { ModuleDispatcher, type ModuleDispatcherOptions } from './module-dispatcher.js';
import type { WorkerSettings } from './plugins.js';

/** How long an aborted operation has to end by itself before its worker process is killed. */
const ABORT_GRACE_MS = 1000;

/**
 * A plugin's pool grows past one worker per processor only when an operation would wait longer
 * than this for a worker (ms): starting a worker costs a process start-up (about 100 ms of
 * processor time), which quick operations never win back.
 */
const GROW_AFTER_MS = 5;

/**
 * How long operations must have been running for the pool to take them for long ones before any
 * has ended (ms): longer than the engine may be kept from reading a result that is in.
 */
const LONG_RUNNING_MS = 250;

/**
 * While a plugin's operations typically run under this (ms), a worker is handed operations ahead
 * of a free slot (QUEUED_PER_SLOT per slot) and queues them: it starts the next as soon as one
 * ends, instead of idling for a round trip through the engine, and results and operations cross
 * the channel several to a message. Quick operations have one worker (see startsNow), which then
 * holds all that the engine runs at once by default (8): with fewer, it waits on the engine
 * between messages. One queued behind an operation that turns out slow is handed back by the
 * worker (host-worker's HAND_BACK_MS) and runs elsewhere.
 */
const QUICK_RUN_MS = 1;
const QUEUED_PER_SLOT = 7;

/** An operation that ends without having started. */
function failedUnstarted(errorType: string, message: string): Outcome {
  return { type: 'failed', recoverable: false, errorType, message, causes: [], runtimeProperties: {} };
}

/** How many of the last operations' times the pool goes by. */
const RUNS_KEPT = 15;

/**
 * How long an operation typically runs (ms): the median of the last ones' times, 0 before there
 * are three (a worker's first operation is not among them: that is mostly warming up). A median:
 * on a loaded machine a quick operation is now and then kept from its processor for a while.
 */
function typicalRun(runs: readonly number[]): number {
  if (runs.length < 3) return 0;
  return [...runs].sort((a, b) => a - b)[runs.length >> 1]!;
}

const WORKER = fileURLToPath(new URL('./host-worker.js', import.meta.url));

/**
 * util-linux's chrt, when it is here and may make a process SCHED_BATCH (looked for once, when a
 * first worker starts). Workers start under it: a worker sleeps between the engine's messages,
 * and Linux, waking it, would run it at once on the engine's own processor, in the middle of the
 * engine's turn. The engine thread was preempted about twice per message it sent (an install of
 * 1,000 x 5 no-op operations: ~630 sends took ~200 ms of its time, 55 ms with batch workers). A
 * batch process is not run ahead of the one that woke it: it takes a free processor, or waits for
 * the engine's turn to end. Elsewhere workers start as plain processes.
 */
let batchLauncher: string | null | undefined;

function chrt(): string | null {
  if (batchLauncher === undefined) {
    const found =
      process.platform === 'linux' && ['/usr/bin/chrt', '/bin/chrt'].find((path) => existsSync(path));
    batchLauncher =
      found && spawnSync(found, ['--batch', '0', found, '--version'], { stdio: 'ignore' }).status === 0
        ? found
        : null;
  }
  return batchLauncher;
}

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
  /** Without an outcome: it was queued on a worker that went away or handed it back before starting it. */
  resolve: (outcome: Outcome | undefined) => void;
  /** When it was sent to its worker (performance.now()), once the worker is up. */
  sentAt?: number;
}

/** A plugin's workers, the operations waiting for one, and how long its operations take. */
interface Pool {
  workers: Worker[];
  waiting: { claim: Running; take: (worker: Worker) => void }[];
  capacity: number;
  memoryLimitMb: number;
  /** How long the last operations ran in their workers (ms), as the workers measured it. */
  runs: number[];
  /** Its operations typically run under QUICK_RUN_MS (judged when one ends, not per look). */
  quick: boolean;
  /** A growth check is due (see WorkerDispatcher.check). */
  checking: boolean;
  /** Since when checks have found that operations would wait too long (performance.now()). */
  slowSince?: number;
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
  /** The operations handed to it, the ones sent in the order they were sent (it starts them so). */
  readonly running = new Map<number, Running>();
  /** Messages to send at the end of the engine's current step (see send). */
  private outbox: ToWorker[] = [];
  /** The process has started and can take operations. */
  up = false;
  /** Operations it ran to their end. */
  private ran = 0;
  private readonly stderr: string[] = [];
  private readonly ready: Promise<void>;

  constructor(
    private readonly memoryLimitMb: number,
    readonly capacity: number,
    private readonly onGone: (worker: Worker) => void,
    private readonly onRan: (ms: number) => void,
    /** Whether it takes operations ahead of a free slot now (QUICK_RUN_MS). */
    private readonly queueing: () => boolean,
  ) {
    const launcher = chrt();
    this.child = fork(WORKER, [String(capacity)], {
      ...(launcher && { execPath: launcher }),
      execArgv: [
        ...(launcher ? ['--batch', '0', process.execPath] : []),
        `--max-old-space-size=${memoryLimitMb}`,
      ],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // JSON, what the store keeps anyway: several times quicker than 'advanced' for these messages.
      serialization: 'json',
      // Its own process group, so that killing it on a timeout or cancel ends what the plugin
      // started as well (as the script plugin does for a script's processes).
      detached: true,
    });
    this.ready = new Promise((resolveReady) => {
      this.child.once('message', () => {
        this.up = true;
        resolveReady();
      });
    });
    // What the plugin prints reaches the engine over IPC (worker-output.ts), each line with its
    // operation. What is left on the streams (Node's own report of a crash) is shown in the logs of
    // the operations it may belong to, cut short: a TypeScript module's source line is the whole
    // compiled module.
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      for (const running of this.started()) running.call.log('info', shortLine(line));
    });
    createInterface({ input: this.child.stderr! }).on('line', (full) => {
      const line = shortLine(full);
      this.stderr.push(line);
      if (this.stderr.length > 20) this.stderr.shift();
      for (const running of this.started()) running.call.log('warning', line);
    });
    this.child.on('message', (messages: FromWorker[]) => {
      for (const message of messages) this.receive(message);
    });
    this.child.on('exit', (code, signal) => this.gone(code, signal));
  }

  get full(): boolean {
    return this.running.size >= this.capacity * (this.queueing() ? 1 + QUEUED_PER_SLOT : 1);
  }

  /**
   * The operations it may have started: the first `capacity` of those sent (it queues the rest and
   * starts them in the order they came, as slots free up).
   */
  private started(): Running[] {
    const started: Running[] = [];
    for (const running of this.running.values()) {
      if (started.length === this.capacity) break;
      if (running.sentAt !== undefined) started.push(running);
    }
    return started;
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
      // The first one's time is mostly warming up (compiling, lazy loading): it says little.
      if (this.ran++ > 0) this.onRan(message.ms);
      running.resolve(message.outcome);
    } else if (message.type === 'handedBack') {
      this.running.delete(message.id);
      // It could not start for that long: the pool's operations are not all quick.
      this.onRan(message.ms);
      running.resolve(undefined);
    }
  }

  /**
   * Messages go out together once the engine's current step is done (every operation and answer
   * it produced for this worker), one write and one wake-up of the worker for them all.
   */
  private send(message: ToWorker): void {
    if (this.outbox.length === 0) process.nextTick(() => this.flush());
    this.outbox.push(message);
  }

  private flush(): void {
    const messages = this.outbox;
    this.outbox = [];
    // A worker that has just died (its exit not seen yet) fails the write (EPIPE): what it held
    // is answered for when its exit is (gone), so the error is not raised here, where nothing
    // would catch it.
    if (this.child.connected) this.child.send(messages, (error) => void error);
  }

  /** Runs an operation on this worker, whose slot `claim` already holds. */
  async run(claim: Running, entry: string, fn: string): Promise<Outcome | undefined> {
    await this.ready;
    const { id, call } = claim;
    return new Promise<Outcome | undefined>((resolveRun) => {
      claim.resolve = resolveRun;
      const { signal: _signal, withdraw: _withdraw, update: _update, log: _log, ...data } = call;
      claim.sentAt = performance.now();
      // Last in the order of those sent, the order the worker starts them in.
      this.running.delete(id);
      this.running.set(id, claim);
      this.send({ type: 'run', id, entry, function: fn, call: data });
      // Cancel --force and timeouts fire the operation's own signal first, so that it can end
      // what it started (a script's processes); the worker is killed if it is still at it then.
      call.signal.addEventListener(
        'abort',
        () => {
          this.send({ type: 'abort', id });
          // Still queued behind another operation, it is not what keeps the worker busy: that
          // one's own abort or timeout decides for the worker.
          const kill = setTimeout(() => {
            if (this.started().includes(claim)) this.killGroup();
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
    const started = new Set(this.started());
    const lost: Running[] = [];
    for (const running of this.running.values()) {
      // Sent and still queued on it: it never started, so another worker runs it.
      if (running.sentAt !== undefined && !started.has(running)) running.resolve(undefined);
      else lost.push(running);
    }
    this.running.clear();
    for (const { call, resolve } of lost)
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
 *
 * A pool starts workers as operations need them: its first at once, more up to one per processor
 * once its operations are known not to be quick, and past that only while operations would wait
 * more than GROW_AFTER_MS for one (up to `poolSize`): quick operations are served by one worker
 * as well as by many, without each start-up's cost.
 */
export class WorkerDispatcher implements Dispatcher {
  private readonly modules: ModuleDispatcher;
  private readonly pools = new Map<string, Pool>();
  /** Workers a pool starts as soon as operations need them. */
  private readonly eager = availableParallelism();
  private nextId = 0;
  private closed = false;
  private readonly poolSize: number;
  private readonly memoryLimitMb: number;
  private readonly settings: ReadonlyMap<string, WorkerSettings>;

  constructor(
    private readonly model: DeploymentModel,
    options: WorkerOptions & ModuleDispatcherOptions = {},
  ) {
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

  private pool(plugin: string): Pool {
    let pool = this.pools.get(plugin);
    if (!pool) {
      const settings = this.settings.get(plugin);
      pool = {
        workers: [],
        waiting: [],
        capacity: settings?.operationsPerWorker ?? 1,
        memoryLimitMb: settings?.memoryLimitMb ?? this.memoryLimitMb,
        checking: false,
        runs: [],
        quick: false,
      };
      this.pools.set(plugin, pool);
    }
    return pool;
  }

  /**
   * A slot on a worker of the plugin: the least busy one with room, else a new worker while the
   * pool has fewer than one per processor, else the next slot to free up (or a worker started
   * because operations wait too long).
   */
  private acquire(plugin: string, claim: Running): Worker | Promise<Worker> {
    const pool = this.pool(plugin);
    // Claimed in the same turn it is found, so no other task can take it meanwhile.
    const free = this.freeWorker(pool);
    if (free) {
      free.running.set(claim.id, claim);
      return free;
    }
    if (this.startsNow(pool)) return this.start(pool, claim);
    return new Promise<Worker>((take) => {
      pool.waiting.push({ claim, take });
      this.check(pool);
    });
  }

  /**
   * Whether an operation that finds no free worker gets one started for it at once: the pool's
   * first, and more up to one per processor once three of its operations have ended and they are
   * not quick. Quick ones are served as well by one worker, and a second costs more than it saves:
   * its start-up, and compiling the same code again (a 5,000-operation install on two processors
   * took 300 ms more of processor time with two). Until three have ended, nothing says which
   * they are: operations that turn out to run long get workers from check() meanwhile.
   */
  private startsNow(pool: Pool): boolean {
    if (pool.workers.length === 0) return true;
    return pool.workers.length < Math.min(this.eager, this.poolSize) && pool.runs.length >= 3 && !pool.quick;
  }

  private freeWorker(pool: Pool): Worker | undefined {
    let best: Worker | undefined;
    for (const worker of pool.workers)
      if (!worker.full && (!best || worker.running.size < best.running.size)) best = worker;
    return best;
  }

  /** Starts a worker for the pool, with `claim` on it. */
  private start(pool: Pool, claim?: Running): Worker {
    const worker = new Worker(
      pool.memoryLimitMb,
      pool.capacity,
      (gone) => {
        const index = pool.workers.indexOf(gone);
        if (index >= 0) pool.workers.splice(index, 1);
        this.serve(pool);
      },
      (ms) => {
        pool.runs.push(ms);
        if (pool.runs.length > RUNS_KEPT) pool.runs.shift();
        pool.quick = pool.runs.length >= 3 && typicalRun(pool.runs) <= QUICK_RUN_MS;
      },
      () => pool.quick,
    );
    pool.workers.push(worker);
    if (claim) worker.running.set(claim.id, claim);
    return worker;
  }

  /**
   * Starts a worker for each of the plugins the deployment's operations use most (one per
   * processor at most), so that they are up when the first operations come: a worker's start-up
   * then overlaps the engine's own (reading the execution, the first commit).
   */
  warmUp(): void {
    const uses = new Map<string, number>();
    for (const operation of allOperations(this.model)) {
      // A script runs as the script plugin's `run`; a plugin operation without a function runs nothing.
      const plugin =
        operation.kind === 'script'
          ? 'script'
          : operation.function !== undefined
            ? operation.plugin
            : undefined;
      if (plugin && this.modules.entryOf(plugin)) uses.set(plugin, (uses.get(plugin) ?? 0) + 1);
    }
    const most = [...uses].sort((a, b) => b[1] - a[1]).slice(0, Math.min(this.eager, this.poolSize));
    for (const [plugin] of most) {
      const pool = this.pool(plugin);
      if (pool.workers.length === 0 && !this.closed) this.start(pool);
    }
  }

  /** Hands free slots to waiting operations; a pool that lost workers starts others for them. */
  private serve(pool: Pool): void {
    while (pool.waiting.length > 0) {
      const worker = this.freeWorker(pool);
      if (!worker && !this.startsNow(pool)) break;
      const { claim, take } = pool.waiting.shift()!;
      if (worker) worker.running.set(claim.id, claim);
      take(worker ?? this.start(pool, claim));
    }
    if (pool.waiting.length > 0) this.check(pool);
  }

  /**
   * While operations wait: starts workers for them when the wait would be longer than
   * GROW_AFTER_MS, judged from how long operations run: the workers' own measure of those that
   * ended, or, when every running one has been at it for LONG_RUNNING_MS, that (the engine may
   * have been too busy for a moment to read results that are in, so a shorter time says
   * nothing). Looked at again every GROW_AFTER_MS while operations wait; workers start when two
   * checks that far apart found so (one slow operation does not make the pool grow).
   */
  private check(pool: Pool): void {
    if (pool.checking || this.closed) return;
    pool.checking = true;
    setImmediate(() => {
      pool.checking = false;
      if (pool.waiting.length === 0 || this.closed) {
        pool.slowSince = undefined;
        return;
      }
      const now = performance.now();
      let up = 0;
      let shortest = Number.POSITIVE_INFINITY;
      for (const worker of pool.workers) {
        if (!worker.up) continue;
        up++;
        for (const running of worker.running.values())
          if (running.sentAt !== undefined) shortest = Math.min(shortest, now - running.sentAt);
      }
      // Workers still starting will take the first waiting operations.
      if (up === pool.workers.length && up > 0) {
        const long = shortest !== Number.POSITIVE_INFINITY && shortest >= LONG_RUNNING_MS;
        const runMs = Math.max(typicalRun(pool.runs), long ? shortest : 0);
        const wait = Math.ceil(pool.waiting.length / (up * pool.capacity)) * runMs;
        if (wait <= GROW_AFTER_MS) pool.slowSince = undefined;
        else pool.slowSince ??= now;
        if (pool.slowSince !== undefined && now - pool.slowSince >= GROW_AFTER_MS)
          while (pool.waiting.length > 0 && pool.workers.length < this.poolSize) {
            const { claim, take } = pool.waiting.shift()!;
            const worker = this.start(pool, claim);
            // A worker that runs several operations takes more of those waiting.
            for (let more = 1; more < pool.capacity && pool.waiting.length > 0; more++) {
              const next = pool.waiting.shift()!;
              worker.running.set(next.claim.id, next.claim);
              next.take(worker);
            }
            take(worker);
          }
      }
      if (pool.waiting.length > 0) setTimeout(() => this.check(pool), GROW_AFTER_MS).unref();
    });
  }

  async run(given: OperationCall): Promise<Outcome> {
    const call = this.modules.pluginCall(given);
    const { model } = call;
    const entry = model.plugin ? this.modules.entryOf(model.plugin) : undefined;
    // Plugins without a module are answered (with a clear error) in this process.
    if (!entry || !model.function) return this.modules.run(call);
    const claim: Running = { id: this.nextId++, call, resolve: () => {} };
    const pool = this.pool(model.plugin!);
    for (;;) {
      if (this.closed)
        return {
          type: 'failed',
          recoverable: true,
          errorType: 'PluginHostClosed',
          message: `${call.operation} was not run: the plugin host has shut down`,
          causes: [],
          runtimeProperties: {},
        };
      const worker = await this.acquire(model.plugin!, claim);
      let outcome: Outcome | undefined;
      try {
        outcome = await worker.run(claim, entry, model.function);
      } finally {
        this.serve(pool);
      }
      if (outcome) return outcome;
      // It was queued on a worker that went away or handed it back before starting it: it waits
      // for another, unless it was cancelled meanwhile.
      if (call.signal.aborted) return failedUnstarted('Cancelled', 'cancelled before it started');
      if (call.withdraw?.aborted)
        return { type: 'withdrawn', message: 'was withdrawn: it had not started', runtimeProperties: {} };
      claim.sentAt = undefined;
    }
  }

  /** Ends every worker process; no operation starts after. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.pools.values()].flatMap((pool) => pool.workers);
    this.pools.clear();
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
