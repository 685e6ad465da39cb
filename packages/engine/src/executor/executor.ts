import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConflictError,
  type ErrorCause,
  isPrototypeKey,
  LimitError,
  type Limits,
  prototypeKeyReason,
  type RunningNode,
  runtimePropertiesOverLimit,
  WeftError,
  type WorkflowTaskOutcome,
  type WorkflowTaskRequest,
} from '@weft/sdk';
import { openDeployment } from '../deployment/sealed-deployment.js';
import { hasRuntimeCall } from '../dsl/functions.js';
import type { Value, ValueMap } from '../dsl/yaml-source.js';
import {
  blueprintName,
  type DeploymentModel,
  hiddenValues,
  modelOf,
  type NodeModel,
  type OperationModel,
} from '../model/deployment-model.js';
import type { RelationshipInstance } from '../model/plan.js';
import { credentialsIn } from '../secrets/credentials.js';
import { openSealed, type Sealer, sealValues } from '../secrets/sealed.js';
import type {
  Batch,
  DeploymentRecord,
  EventRecord,
  ExecutionRecord,
  InstanceState,
  Json,
  NodeInstanceRecord,
  Store,
  TaskRecord,
} from '../store/types.js';
import { operationName } from '../workflows/custom.js';
import type {
  Dispatcher,
  InstanceView,
  LogLevel,
  NodeView,
  OperationCall,
  Outcome,
  RunOutcome,
  RuntimeProperties,
} from './dispatcher.js';
import { checkResult, effectiveLimits, limitFailure } from './limits.js';
import { Masker } from './masker.js';
import { applyChanges, changedKeys } from './runtime-properties.js';
import { type RuntimeLookups, RuntimeValueError, resolveRuntime } from './runtime-values.js';

export interface ExecutorOptions {
  store: Store;
  dispatcher: Dispatcher;
  /** Operations running at once (state changes do not count). Default 8, as Cloudify's local pool. */
  concurrency?: number;
  /** Decrypted secrets, read when an execution starts. */
  secrets?: () => Promise<Map<string, Value>>;
  /**
   * Seals the strings of runtime properties that hold a secret before they are stored, and
   * opens them when an execution is loaded (secrets/sealed.ts). Without it they are stored as
   * they are.
   */
  sealer?: Sealer;
  /** Called with every event once it is stored. */
  onEvent?: (event: EventRecord) => void;
  /** How often a running execution checks whether it was cancelled (ms). */
  cancelPollMs?: number;
  /** Where plugins' per-deployment work directories go (default: the system's temporary directory). */
  workdir?: string;
  /** The longest event message (a log line) stored, in bytes (default {@link DEFAULT_MAX_EVENT_BYTES}). */
  maxEventBytes?: number;
  /** The most stored of what an operation hands back (default: the SDK's DEFAULT_LIMITS). */
  limits?: Partial<Limits>;
}

/** 64 KiB: a log line longer than this is kept cut, with a marker saying how much was dropped. */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024;

/** `text` cut to at most `maxBytes` bytes of UTF-8, ending with a marker when anything was dropped. */
export function capText(text: string, maxBytes: number): string {
  // Most messages are short: only a string that could be over the limit is measured.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const kept = bytes
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  const dropped = bytes.length - Buffer.byteLength(kept, 'utf8');
  return `${kept}... [${dropped} more bytes dropped: over the ${maxBytes}-byte limit for one message; WEFT_MAX_LOG_BYTES raises it]`;
}

export interface RunOptions {
  /** Run again the tasks a crash interrupted even when their operations are not resumable. */
  retryInFlight?: boolean;
  /**
   * Aborted when the user interrupts the run (Ctrl-C): no new task starts, the running operations
   * finish, and the execution ends `interrupted`.
   */
  interrupt?: AbortSignal;
  /**
   * Aborted when the user insists (a second Ctrl-C): the running operations are aborted and
   * abandoned as they are, in flight, so that a resume decides whether they may run again.
   */
  interruptNow?: AbortSignal;
  /**
   * The execution's tasks as just read from the store, when the caller has them (they are not read
   * again); the executor changes them as it runs.
   */
  tasks?: TaskRecord[];
}

/**
 * What an interrupted execution keeps in its error, besides the message: interrupted by the user
 * (Ctrl-C), or because the store stopped taking its changes (a full disk, a database gone).
 */
export interface InterruptedError {
  message: string;
  byUser: boolean;
  /** The tasks abandoned while running, and whether each may simply run again. */
  tasks: number[];
  notResumable: number[];
}

/** Defaults for task_retries / task_retry_interval, as Cloudify's local `cfy install`. */
export const DEFAULT_TASK_RETRIES = 5;
export const DEFAULT_TASK_RETRY_INTERVAL = 3;

export class ExecutionStateError extends WeftError {
  static override readonly code = 'execution_state';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'ExecutionStateError';
  }
}

/** A workflow script asked for something that cannot be: the script gets the message as an error. */
export class WorkflowRequestError extends WeftError {
  static override readonly code = 'workflow_request';
  constructor(message: string) {
    super(message);
    this.name = 'WorkflowRequestError';
  }
}

/** The time as an ISO string; formatted once per millisecond (a batch asks for it thousands of times). */
let lastMs = 0;
let lastIso = '';
const now = (): string => {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
};

/**
 * How long a change that nothing waits for (a task shown started, a log line, the success of a
 * task that nothing waits on yet) may wait to go out with the next commit (ms), so that while
 * changes come quickly a commit carries many. One that comes when no commit is being written and
 * none ended this long ago goes out at once: a change that comes alone (a log line of a long
 * operation, which a live event stream waits for) is not held back. What must be stored before
 * something else happens is committed at once.
 */
export const COMMIT_WINDOW_MS = 20;

/** The most operations sent ahead of a free slot, in multiples of the concurrency. */
const MAX_AHEAD = 8;

interface InstanceEntry {
  record: NodeInstanceRecord;
  /** The version last written to the store. */
  persistedVersion: number;
  /** Runtime properties waiting to be written with the next batch. */
  dirty: boolean;
}

type Stop = 'failure' | 'cancel' | 'force' | 'interrupt' | 'interrupt-now';

/** Runs one execution's task graph to its end: parallel, retried, persisted, cancellable, resumable. */
export class Executor {
  private readonly running = new Set<ExecutionRun>();

  constructor(private readonly options: ExecutorOptions) {}

  /**
   * Makes the executions this executor runs read their status now (a cancel was just stored)
   * instead of at their next poll.
   */
  async checkCancel(): Promise<void> {
    await Promise.all([...this.running].map((run) => run.checkCancel()));
  }

  async run(executionId: string, runOptions: RunOptions = {}): Promise<ExecutionRecord> {
    const { store } = this.options;
    const execution = await store.getExecution(executionId);
    if (!execution) throw new ExecutionStateError(`execution '${executionId}' not found`);
    if (execution.status === 'terminated') {
      throw new ExecutionStateError(`execution ${executionId} (${execution.workflow}) has already finished`);
    }
    const stored = await store.getDeployment(execution.deploymentId);
    if (!stored) throw new ExecutionStateError(`deployment '${execution.deploymentId}' not found`);
    // Operations get the values of hidden inputs as given, not sealed.
    const deployment = openDeployment(stored, this.options.sealer);
    let secrets: Map<string, Value>;
    try {
      secrets = this.options.secrets ? await this.options.secrets() : new Map<string, Value>();
    } catch (error) {
      // Without its secrets the execution cannot run; it fails clearly instead of hanging pending.
      const message = `cannot read secrets: ${(error as Error).message}`;
      const endedAt = now();
      await store.applyBatch({
        execution: { id: executionId, status: 'failed', error: { message, causes: [], task: null }, endedAt },
      });
      return { ...execution, status: 'failed', error: { message, causes: [], task: null }, endedAt };
    }
    const [tasks, instances] = await Promise.all([
      runOptions.tasks ?? store.listTasks(executionId),
      store.listInstances(deployment.id),
    ]);
    const run = new ExecutionRun(this.options, execution, deployment, tasks, instances, secrets);
    this.running.add(run);
    try {
      return await run.start(runOptions);
    } finally {
      this.running.delete(run);
    }
  }
}

/** A FIFO of task ids with O(1) shift. */
class Queue {
  private items: number[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(id: number): void {
    this.items.push(id);
  }

  peek(): number | undefined {
    return this.items[this.head];
  }

  shift(): number | undefined {
    const id = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return id;
  }
}

class ExecutionRun {
  private readonly store: Store;
  private readonly model: DeploymentModel;
  private readonly concurrency: number;
  private readonly byId: TaskRecord[];
  private readonly dependents: number[][];
  private readonly waitingOn: number[];
  private readonly instances = new Map<string, InstanceEntry>();
  private readonly instancesByNode = new Map<string, NodeInstanceRecord[]>();
  /** Where plugins' work directories go (tmpdir() reads the environment: once, not per operation). */
  private readonly workdirBase: string;
  /** Whether a node's properties hold run-time calls, by node name (looked at once). */
  private readonly runtimeCallsIn = new Map<string, boolean>();
  private readonly masker = new Masker();
  /** The credentials found in runtime properties so far (see learnCredentials). */
  private readonly credentials = new Set<string>();
  private readonly ready = new Queue();
  private pumping = false;
  /** Operations whose 'sent' state is being written. */
  private sending = 0;
  /**
   * How many operations may be sent (their 'sent' state written) ahead of a free slot: twice as
   * many as the slots took between the last two commits, so that while operations end faster
   * than commits are written, the slots do not wait on commits and a commit carries many. At
   * least the concurrency, at most MAX_AHEAD times it. Those are what a crash leaves looking in
   * flight though they never started: operations that would have started within about two
   * commits' time.
   */
  private ahead: number;
  /** Operations started since the last commit began. */
  private startedSinceFlush = 0;
  /** Operations sent and waiting for a free slot, with what starts each. */
  private readonly waitingForSlot = new Queue();
  private readonly dispatchers = new Map<number, { model: OperationModel; start: () => Promise<void> }>();
  private scheduled = false;
  /** The commit of changes nothing waits for, due within COMMIT_WINDOW_MS. */
  private deferred: NodeJS.Timeout | undefined;
  /** When the last commit ended (Date.now()). */
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  private readonly inFlight = new Map<number, AbortController>();
  /** The operations in flight, to withdraw on a plain cancel those their dispatcher has not started. */
  private readonly withdrawals = new Map<number, AbortController>();
  /** Tasks in flight when the execution stopped, not run since (their calls re-attach). */
  private readonly resumedInFlight = new Set<number>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private running = 0;
  private inCallbacks = false;
  /** Tasks not yet done; the execution has succeeded when it reaches 0. */
  private remaining = 0;
  private readonly dirtyInstances = new Set<InstanceEntry>();
  private stop: Stop | undefined;
  /**
   * A cancel without rollback (Heat's `stack cancel --no-rollback`): the instances whose tasks
   * were under way when it came; theirs run to their end (polls and retries included), no other
   * task starts, and the run ends cancelled.
   */
  private draining: Set<string> | undefined;
  private failure: { taskId: number; message: string; causes: ErrorCause[] } | undefined;
  private batch: Batch = {};
  /**
   * The batch's change of each task and state of each instance, by id: a later change in the same
   * batch replaces an earlier one (the commit stores only where they ended).
   */
  private batchTasks = new Map<number, NonNullable<Batch['tasks']>[number]>();
  private batchStates = new Map<string, NonNullable<Batch['instanceStates']>[number]>();
  private afterCommit: (() => void)[] = [];
  private flushing: Promise<void> | undefined;
  private finished = false;
  private resolveDone!: (execution: ExecutionRecord) => void;
  private rejectDone!: (error: unknown) => void;
  private cancelPoll: NodeJS.Timeout | undefined;
  private readonly taskRetries: number;
  private readonly taskRetryInterval: number;
  private readonly ignoreFailure: boolean;
  /** Operations abandoned while running by an interrupt, with whether they are resumable. */
  private readonly abandoned: { task: TaskRecord; resumable: boolean }[] = [];
  /** When the execution first started (kept across resumes), for the record it ends with. */
  private startedAt: string | null = null;
  /** A workflow script's execution: the script (task 0); every other task is one it asked for. */
  private readonly workflowTask: TaskRecord | undefined;
  /** Workflow scripts running (they hold no operation slot). */
  private workflowsRunning = 0;
  /**
   * Tasks an earlier run of the workflow script asked for, in order, that its run now has not
   * asked for again yet: the script runs again from the start after a crash, and its n-th request
   * is its earlier n-th one when it is the same (a finished task then gives its stored result).
   */
  private readonly unclaimed: number[] = [];
  private claimed = 0;
  /** What waits for tasks the workflow script asked for, by task id. */
  private readonly waiters = new Map<number, ((outcome: WorkflowTaskOutcome) => void)[]>();
  /** Why the store stopped taking this run's changes; from then on nothing more is written. */
  private storeError: Error | undefined;
  private readonly limits: Limits;
  /** ctx.blueprint.id, the same for every operation. */
  private readonly blueprintId: string;

  constructor(
    private readonly options: ExecutorOptions,
    private readonly execution: ExecutionRecord,
    private readonly deployment: DeploymentRecord,
    tasks: TaskRecord[],
    instances: NodeInstanceRecord[],
    private readonly secrets: Map<string, Value>,
  ) {
    this.store = options.store;
    this.workdirBase = options.workdir ?? join(tmpdir(), 'weft-work');
    this.model = modelOf(deployment.model);
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.limits = effectiveLimits(options.limits);
    this.blueprintId = blueprintName(this.model.blueprint.baseDir);
    this.ahead = this.concurrency;
    this.byId = [];
    for (const task of tasks) this.byId[task.id] = task;
    this.workflowTask = this.byId[0]?.kind === 'workflow' ? this.byId[0] : undefined;
    this.dependents = this.byId.map(() => []);
    this.waitingOn = this.byId.map(() => 0);
    for (const task of tasks) {
      for (const dep of task.dependsOn) {
        this.dependents[dep]?.push(task.id);
      }
    }
    for (const record of instances) {
      // What was stored sealed stays a secret: masked, and sealed again when written (a hidden
      // value of a previous version, which this run's model no longer holds, included).
      if (options.sealer)
        record.runtimeProperties = openSealed(record.runtimeProperties, options.sealer, (text) =>
          this.masker.add(text),
        ) as RuntimeProperties;
      this.learnCredentials(record.runtimeProperties);
      this.instances.set(record.id, { record, persistedVersion: record.version, dirty: false });
      const list = this.instancesByNode.get(record.node) ?? [];
      list.push(record);
      this.instancesByNode.set(record.node, list);
    }
    const params = execution.parameters;
    this.taskRetries = typeof params.task_retries === 'number' ? params.task_retries : DEFAULT_TASK_RETRIES;
    this.taskRetryInterval =
      typeof params.task_retry_interval === 'number'
        ? params.task_retry_interval
        : DEFAULT_TASK_RETRY_INTERVAL;
    // An update's (or rollback's) ignore_failure is on the tasks that uninstall, not on the whole
    // execution: as Cloudify, a failing install or update operation still fails the update.
    this.ignoreFailure =
      params.ignore_failure === true && execution.workflow !== 'update' && execution.workflow !== 'rollback';
    for (const value of secrets.values()) this.masker.add(value);
    for (const value of hiddenValues(deployment)) this.masker.add(value);
  }

  start(runOptions: RunOptions): Promise<ExecutionRecord> {
    const done = new Promise<ExecutionRecord>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.begin(runOptions).catch((error) => this.rejectDone(error));
    return done;
  }

  private async begin(runOptions: RunOptions): Promise<void> {
    const resuming = this.execution.status !== 'pending';
    // Tasks a crash left running: run them again only when that is safe (or asked for).
    const interrupted: TaskRecord[] = [];
    for (const task of this.byId) {
      if (!task) continue;
      if (task.state === 'sent' || task.state === 'started') {
        const model = task.kind === 'operation' ? this.operationModel(task) : undefined;
        const { dispatcher } = this.options;
        const safe =
          !model ||
          runOptions.retryInFlight ||
          dispatcher.reattaches === true ||
          (await dispatcher.resumable?.(model)) === true;
        if (model && dispatcher.reattaches) this.resumedInFlight.add(task.id);
        if (safe) this.setTask(task, { state: 'pending' });
        else interrupted.push(task);
      } else if (resuming && !this.isChild(task) && (task.state === 'failed' || task.state === 'cancelled')) {
        // Resuming a failed or cancelled execution tries its failed tasks again.
        this.setTask(task, { state: 'pending', attempt: 0, error: null, notBefore: null });
      }
    }
    if (interrupted.length > 0) {
      const names = interrupted.map(
        (t) =>
          `${t.instanceId} ${t.operation}${t.relationship ? ` (${(t.relationship as { side: string }).side} side)` : ''}`,
      );
      const message = `${interrupted.length} task(s) were running when the execution was interrupted and their operations are not resumable: ${names.join('; ')}. Resume with --retry-in-flight to run them again.`;
      this.batch.execution = {
        id: this.execution.id,
        status: 'interrupted',
        error: { message, tasks: interrupted.map((t) => t.id) },
      };
      this.event({ type: 'workflow_interrupted', level: 'error', message });
      this.finished = true;
      await this.flush();
      this.resolveDone({
        ...this.execution,
        status: 'interrupted',
        error: { message, tasks: interrupted.map((t) => t.id) },
      });
      return;
    }
    this.startedAt = this.execution.startedAt ?? now();
    this.batch.execution = {
      id: this.execution.id,
      status: 'started',
      startedAt: this.startedAt,
      endedAt: null,
      error: null,
    };
    this.event({
      type: resuming ? 'workflow_resumed' : 'workflow_started',
      level: 'info',
      message: `${resuming ? 'Resuming' : 'Starting'} '${this.execution.workflow}' workflow execution`,
    });
    for (const task of this.byId) {
      if (!task) continue;
      // What the workflow script asked for before runs again only when it asks again.
      if (this.isChild(task)) {
        this.unclaimed.push(task.id);
        continue;
      }
      if (!this.isDone(task)) this.remaining++;
      let waiting = 0;
      for (const dep of task.dependsOn) if (!this.isDone(this.byId[dep]!)) waiting++;
      this.waitingOn[task.id] = waiting;
    }
    for (const task of this.byId) {
      if (!task || this.isChild(task) || this.isDone(task) || this.waitingOn[task.id]! > 0) continue;
      if (task.state === 'rescheduled') this.arm(task);
      else this.ready.push(task.id);
    }
    this.cancelPoll = setInterval(() => void this.checkCancel(), this.options.cancelPollMs ?? 250);
    this.cancelPoll.unref();
    for (const [signal, now] of [
      [runOptions.interrupt, false],
      [runOptions.interruptNow, true],
    ] as const) {
      if (signal?.aborted) this.interrupt(now);
      else signal?.addEventListener('abort', () => this.interrupt(now), { once: true });
    }
    // The 'started' status goes out with the first tasks' changes, in one commit.
    this.commit();
    this.pump();
    this.maybeFinish();
  }

  /** A task the workflow script asked for. */
  private isChild(task: TaskRecord): boolean {
    return this.workflowTask !== undefined && task.id !== this.workflowTask.id;
  }

  private isDone(task: TaskRecord): boolean {
    return (
      task.state === 'succeeded' || ((this.ignoreFailure || task.ignoreFailure) && task.state === 'failed')
    );
  }

  private setTask(task: TaskRecord, patch: Partial<TaskRecord>): void {
    Object.assign(task, patch, { updatedAt: now() });
    const change = {
      executionId: task.executionId,
      id: task.id,
      state: task.state,
      attempt: task.attempt,
      notBefore: task.notBefore,
      error: task.error,
      result: task.result,
    };
    const queued = this.batchTasks.get(task.id);
    if (queued) Object.assign(queued, change);
    else {
      (this.batch.tasks ??= []).push(change);
      this.batchTasks.set(task.id, change);
    }
  }

  private setInstanceState(id: string, state: InstanceState): void {
    const queued = this.batchStates.get(id);
    if (queued) queued.state = state;
    else {
      const change = { id, state };
      (this.batch.instanceStates ??= []).push(change);
      this.batchStates.set(id, change);
    }
  }

  private event(
    fields: Partial<EventRecord> & Pick<EventRecord, 'type' | 'level' | 'message'>,
    task?: TaskRecord,
  ): void {
    const event: EventRecord = {
      executionId: this.execution.id,
      deploymentId: this.deployment.id,
      node: task?.node || null,
      instanceId: task?.instanceId || null,
      operation: task?.operation ?? null,
      taskId: task?.id ?? null,
      data: null,
      timestamp: now(),
      ...fields,
      // Masked before it is cut: a secret crossing the cut is still recognised whole.
      message: capText(
        this.masker.mask(fields.message),
        this.options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      ),
    };
    if (event.data !== null) event.data = this.masker.maskJson(event.data);
    (this.batch.events ??= []).push(event);
  }

  /** Writes everything queued in one transaction; then runs what waited for it. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    const batch = this.batch;
    const callbacks = this.afterCommit;
    this.batch = {};
    this.batchTasks = new Map();
    this.batchStates = new Map();
    this.ahead = Math.min(
      this.concurrency * MAX_AHEAD,
      Math.max(this.concurrency, this.startedSinceFlush * 2, this.ahead >> 1),
    );
    this.startedSinceFlush = 0;
    this.afterCommit = [];
    for (const entry of this.dirtyInstances) {
      const { sealer } = this.options;
      (batch.runtimeProperties ??= []).push({
        id: entry.record.id,
        runtimeProperties: sealer
          ? (sealValues(
              entry.record.runtimeProperties,
              sealer,
              (value) => typeof value === 'string' && this.masker.reveals(value),
            ) as RuntimeProperties)
          : entry.record.runtimeProperties,
        expectedVersion: entry.persistedVersion,
      });
      entry.persistedVersion += 1;
      entry.record.version = entry.persistedVersion;
      entry.dirty = false;
    }
    this.dirtyInstances.clear();
    // After a failed write the store holds an older state than this run's: writing later changes
    // on top of it could store a result without what led to it. What was lost, a resume redoes.
    if (this.storeError) return Promise.resolve();
    if (
      !batch.newTasks &&
      !batch.tasks &&
      !batch.events &&
      !batch.execution &&
      !batch.instanceStates &&
      !batch.runtimeProperties
    ) {
      this.runCallbacks(callbacks);
      return Promise.resolve();
    }
    this.flushing = this.store.applyBatch(batch).then(
      () => {
        this.flushing = undefined;
        this.lastCommitAt = Date.now();
        if (batch.events && this.options.onEvent) for (const e of batch.events) this.options.onEvent(e);
        this.runCallbacks(callbacks);
      },
      (error) => {
        this.flushing = undefined;
        this.storeFailed(error);
      },
    );
    return this.flushing;
  }

  /** Runs what waited for a commit; whether the run is over is judged once all of them ran. */
  private runCallbacks(callbacks: (() => void)[]): void {
    this.inCallbacks = true;
    try {
      for (const callback of callbacks) callback();
    } finally {
      this.inCallbacks = false;
    }
    this.pump();
    this.maybeFinish();
  }

  /** Queues a commit and runs `then` once what is queued now is stored. */
  private commit(then?: () => void): void {
    if (then) this.afterCommit.push(then);
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.deferred) {
      clearTimeout(this.deferred);
      this.deferred = undefined;
    }
    // After the current phase of the event loop: every timer or I/O callback due now adds to the
    // same commit.
    setImmediate(() => void this.drain());
  }

  /**
   * Queues a change that nothing waits for: it is committed at once when no commit is being
   * written and the last one ended COMMIT_WINDOW_MS ago or more, else with the next commit, due
   * within COMMIT_WINDOW_MS.
   */
  private commitSoon(): void {
    if (this.scheduled || this.deferred) return;
    // Wall-clock time, kept within the window should the clock be set back.
    const wait = this.flushing
      ? COMMIT_WINDOW_MS
      : Math.min(COMMIT_WINDOW_MS, this.lastCommitAt + COMMIT_WINDOW_MS - Date.now());
    if (wait <= 0) this.commit();
    else
      this.deferred = setTimeout(() => {
        this.deferred = undefined;
        this.commit();
      }, wait);
  }

  /** Writes what is queued once the flush in progress (if any) is done; one drain at a time. */
  private async drain(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => {});
    this.scheduled = false;
    if (this.afterCommit.length > 0 || this.hasQueued()) await this.flush().catch(() => {});
    this.maybeFinish();
  }

  private hasQueued(): boolean {
    const b = this.batch;
    return (
      !!(b.newTasks || b.tasks || b.events || b.execution || b.instanceStates) || this.dirtyInstances.size > 0
    );
  }

  /**
   * Starts what is ready. State changes run at once; operations while a slot is free. Unlocking
   * never waits for a commit: what depends on a task can only act outside (dispatch) after a
   * later commit, and batches are written in order, so the task's result is stored first.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.fillSlots();
      while (this.ready.size > 0 && !this.stop) {
        const task = this.byId[this.ready.peek()!]!;
        if (this.draining && !this.draining.has(task.instanceId)) {
          // Not started by a cancel without rollback: it stays pending.
          this.ready.shift();
          continue;
        }
        if (task.kind !== 'operation') {
          this.ready.shift();
          if (task.kind === 'state') this.runStateTask(task);
          else if (task.kind === 'event') this.runEventTask(task);
          else this.startWorkflow(task);
          continue;
        }
        // Up to `ahead` more than the concurrency are being sent (their 'sent' state written) or
        // running, so commits carry many tasks; at most `concurrency` run at once.
        if (this.running + this.sending + this.waitingForSlot.size >= this.concurrency + this.ahead) break;
        this.ready.shift();
        this.startOperation(task);
      }
    } finally {
      this.pumping = false;
    }
  }

  private runStateTask(task: TaskRecord): void {
    this.enterTargetState(task);
    this.setTask(task, { state: 'succeeded' });
    this.commitSoon();
    this.unlock(task);
  }

  /**
   * Moves the task's instance to the task's target state: a state task's, or an operation's that
   * took the state step after it (set as the operation ends, in the commit that stores its end).
   */
  private enterTargetState(task: TaskRecord): void {
    if (!task.targetState) return;
    const entry = this.instances.get(task.instanceId);
    if (!entry) return;
    const state = task.targetState as InstanceState;
    entry.record.state = state;
    this.setInstanceState(task.instanceId, state);
  }

  private unlock(task: TaskRecord): void {
    this.remaining--;
    this.settle(task);
    for (const next of this.dependents[task.id] ?? []) {
      const left = --this.waitingOn[next]!;
      if (left === 0) {
        const nextTask = this.byId[next]!;
        // Not run: a task it waited on (of a workflow script's graph) failed.
        if (nextTask.state === 'cancelled' && this.isChild(nextTask)) continue;
        if (nextTask.state === 'rescheduled') this.arm(nextTask);
        else if (!this.isDone(nextTask)) this.ready.push(next);
      }
    }
    this.pump();
    this.maybeFinish();
  }

  /** A rescheduled task waits on a timer, holding no slot. */
  private arm(task: TaskRecord): void {
    const delay = Math.max(0, (task.notBefore ?? 0) - Date.now());
    const timer = setTimeout(() => {
      this.timers.delete(task.id);
      if (this.stop) return this.maybeFinish();
      this.ready.push(task.id);
      this.pump();
    }, delay);
    this.timers.set(task.id, timer);
  }

  /** An event a workflow script sends (a task, so that it keeps its place in the script's graph). */
  private runEventTask(task: TaskRecord): void {
    const event = (task.inputs ?? {}) as { message?: string; type?: string };
    this.event(
      {
        type: event.type || 'workflow_event',
        level: 'info',
        message: String(event.message ?? ''),
        taskId: task.id,
      },
      task.instanceId ? task : undefined,
    );
    this.setTask(task, { state: 'succeeded' });
    this.commitSoon();
    this.unlock(task);
  }

  /** A workflow script starts once its 'started' state is stored; it holds no operation slot. */
  private startWorkflow(task: TaskRecord): void {
    const controller = new AbortController();
    this.inFlight.set(task.id, controller);
    this.workflowsRunning++;
    this.setTask(task, { state: 'started' });
    this.event({ type: 'task_started', level: 'info', message: `workflow script ${task.operation}` }, task);
    this.commit(() => void this.runWorkflowScript(task, controller));
  }

  private async runWorkflowScript(task: TaskRecord, controller: AbortController): Promise<void> {
    const { dispatcher } = this.options;
    const failed = (errorType: string, message: string): RunOutcome => ({
      type: 'failed',
      recoverable: false,
      errorType,
      message,
      causes: [],
      runtimeProperties: {},
    });
    let outcome: Outcome;
    if (this.stop === 'force' || this.stop === 'interrupt-now') controller.abort(new Error('cancelled'));
    try {
      outcome = dispatcher.runWorkflow
        ? await dispatcher.runWorkflow({
            deploymentId: this.deployment.id,
            blueprintId: this.blueprintId,
            blueprintDir: this.model.blueprint.baseDir,
            plugin: { name: 'script', workdir: join(this.workdirBase, this.deployment.id, 'script') },
            executionId: this.execution.id,
            workflow: this.execution.workflow,
            taskId: task.id,
            script: task.operation ?? '',
            parameters: this.execution.parameters as Record<string, Json>,
            signal: controller.signal,
            log: (level, message) => {
              this.event({ type: 'log', level, message }, task);
              this.commitSoon();
            },
            nodes: async () => this.runningNodes(),
            submit: (requests) => this.submit(requests),
            wait: (taskId) => this.waitFor(taskId),
            updateInstance: (id, update) => this.updateInstance(id, update),
          })
        : failed('PluginError', 'workflow scripts need the script plugin, which is not here');
    } catch (error) {
      outcome = failed(
        error instanceof Error ? error.name : 'Error',
        (error as Error).message ?? String(error),
      );
    }
    this.inFlight.delete(task.id);
    this.workflowsRunning--;
    this.dropUnclaimed();
    if (controller.signal.aborted && this.stop === 'interrupt-now') {
      // Abandoned while running; a workflow script may always run again (see `claim`).
      this.abandoned.push({ task, resumable: true });
      this.commit(() => this.maybeFinish());
      return;
    }
    if (outcome.type !== 'succeeded' && this.stop && this.stop !== 'failure') {
      // Stopped by the user: what it waited for did not run. A resume runs the script again.
      this.setTask(task, { state: 'cancelled' });
      this.event({ type: 'task_cancelled', level: 'warning', message: `${task.operation} stopped` }, task);
      this.commit(() => this.maybeFinish());
      return;
    }
    // A workflow is not retried (as in Cloudify): it decides itself what to try again. (Nothing
    // withdraws a script, which runs here.)
    this.finishOperation(
      task,
      outcome.type === 'retry'
        ? failed('OperationRetry', outcome.message)
        : outcome.type === 'withdrawn'
          ? failed('Cancelled', outcome.message)
          : outcome,
    );
  }

  /** The deployment's nodes and instances as a workflow script sees them now. */
  private runningNodes(): RunningNode[] {
    return Object.values(this.model.nodes).map((node) => ({
      id: node.name,
      type: node.type,
      typeHierarchy: node.typeHierarchy,
      properties: node.properties as Record<string, Json>,
      operations: node.declaredOperations,
      instances: (this.instancesByNode.get(node.name) ?? []).map((record) => ({
        id: record.id,
        node: record.node,
        state: record.state,
        version: record.version,
        hostId: record.hostId,
        runtimeProperties: structuredClone(record.runtimeProperties),
        relationships: ((record.relationships ?? []) as unknown as RelationshipInstance[]).map((r) => ({
          type: r.type,
          typeHierarchy: r.hierarchy,
          targetId: r.targetId,
          targetNode: r.target,
          index: r.index,
        })),
      })),
    }));
  }

  /** ctx.update_node_instance of a workflow script: written now; the instance's version after it. */
  private async updateInstance(
    instanceId: string,
    update: { runtimeProperties?: Record<string, Json>; state?: string; version?: number },
  ): Promise<number> {
    const entry = this.instances.get(instanceId);
    if (!entry) throw new WorkflowRequestError(`no node instance '${instanceId}'`);
    if (update.version !== undefined && update.version !== entry.record.version)
      throw new ConflictError(
        `node instance ${instanceId} is at version ${entry.record.version}, not ${update.version}: it changed since it was read (refresh_node_instances reads it again)`,
      );
    if (update.runtimeProperties) {
      const tooLarge = runtimePropertiesOverLimit(
        instanceId,
        update.runtimeProperties,
        this.limits.runtimePropertiesBytes,
      );
      if (tooLarge) throw tooLarge;
      entry.record.runtimeProperties = structuredClone(update.runtimeProperties);
      this.learnCredentials(entry.record.runtimeProperties);
      entry.dirty = true;
      this.dirtyInstances.add(entry);
    }
    if (update.state) {
      entry.record.state = update.state as InstanceState;
      this.setInstanceState(instanceId, update.state as InstanceState);
    }
    await new Promise<void>((resolve) => this.commit(resolve));
    return entry.record.version;
  }

  /** A workflow script's request as a task (without its place in the graph); null when there is nothing to run. */
  private taskFor(request: WorkflowTaskRequest): Omit<TaskRecord, 'id' | 'dependsOn' | 'updatedAt'> | null {
    const base = {
      executionId: this.execution.id,
      relationship: null,
      ignoreFailure: false,
      state: 'pending' as const,
      attempt: 0,
      notBefore: null,
      error: null,
      result: null,
    };
    if (request.kind === 'event') {
      const instance = request.instanceId ? this.instances.get(request.instanceId)?.record : undefined;
      if (request.instanceId && !instance)
        throw new WorkflowRequestError(`no node instance '${request.instanceId}'`);
      const event: Record<string, Json> = { message: request.message };
      if (request.eventType) event.type = request.eventType;
      return {
        ...base,
        kind: 'event',
        instanceId: instance?.id ?? '',
        node: instance?.node ?? '',
        operation: null,
        targetState: null,
        inputs: event,
      };
    }
    const instance = this.instances.get(request.instanceId)?.record;
    if (!instance) throw new WorkflowRequestError(`no node instance '${request.instanceId}'`);
    if (request.kind === 'state')
      return {
        ...base,
        kind: 'state',
        instanceId: instance.id,
        node: instance.node,
        operation: null,
        targetState: request.state,
        inputs: null,
      };
    const node = this.model.nodes[instance.node]!;
    let full: string | undefined;
    let model: OperationModel | undefined;
    let relationship: Json = null;
    if (request.relationship) {
      const { index, side } = request.relationship;
      const rel = ((instance.relationships ?? []) as unknown as RelationshipInstance[]).find(
        (r) => r.index === index,
      );
      if (!rel) throw new WorkflowRequestError(`${instance.id} has no relationship ${index}`);
      const template = node.relationships[index]!;
      const ops = side === 'source' ? template.sourceOperations : template.targetOperations;
      full = Object.hasOwn(ops, request.operation)
        ? request.operation
        : Object.keys(ops).find((name) => name.endsWith(`.${request.operation}`));
      model = full ? ops[full] : undefined;
      relationship = {
        side,
        sourceId: instance.id,
        targetId: rel.targetId,
        targetNode: rel.target,
        type: rel.type,
        index,
      };
    } else {
      full = operationName(node, request.operation);
      model = full ? node.operations[full] : undefined;
    }
    // As Cloudify: an operation the node does not declare, or declares without an implementation, is a no-op.
    if (!full || !model) return null;
    const kwargs = request.kwargs ?? {};
    const clash = Object.keys(kwargs).filter((k) => Object.hasOwn(model.inputs, k));
    if (clash.length > 0 && !request.allowKwargsOverride)
      throw new WorkflowRequestError(
        `Duplicate definition of ${clash.join(', ')} in operation properties and in kwargs. To allow redefinition, pass "allow_kwargs_override" to "execute_operation"`,
      );
    return {
      ...base,
      kind: 'operation',
      instanceId: instance.id,
      node: instance.node,
      operation: full,
      targetState: null,
      relationship,
      inputs: Object.keys(kwargs).length > 0 ? kwargs : null,
    };
  }

  /** Adds what a workflow script asks for to the execution; the ids once they are stored. */
  private async submit(requests: WorkflowTaskRequest[]): Promise<(number | null)[]> {
    if (this.stop || this.finished)
      throw new WorkflowRequestError(
        `the execution is stopping (${this.stop ?? 'ended'}): no task can be added`,
      );
    const ids: (number | null)[] = [];
    for (const [index, request] of requests.entries()) {
      const dependsOn: number[] = [];
      for (const d of request.dependsOn ?? []) {
        if (!Number.isInteger(d) || d < 0 || d >= index)
          throw new WorkflowRequestError(
            `task ${index} of the request depends on ${d}, which is not before it`,
          );
        const id = ids[d];
        if (id !== null && id !== undefined && !dependsOn.includes(id)) dependsOn.push(id);
      }
      const spec = this.taskFor(request);
      if (!spec) {
        ids.push(null);
        continue;
      }
      const claimed = this.claim(spec, dependsOn);
      if (claimed !== undefined) {
        ids.push(claimed);
        continue;
      }
      const task: TaskRecord = { ...spec, id: this.byId.length, dependsOn, updatedAt: now() };
      this.byId.push(task);
      this.dependents.push([]);
      this.waitingOn.push(0);
      for (const dep of dependsOn) this.dependents[dep]!.push(task.id);
      (this.batch.newTasks ??= []).push(task);
      this.activate(task);
      ids.push(task.id);
    }
    // Stored before the script relies on them.
    await new Promise<void>((resolve) => this.commit(resolve));
    return ids;
  }

  /** The task an earlier run of the script asked for at this point, when it is the same request. */
  private claim(
    spec: Omit<TaskRecord, 'id' | 'dependsOn' | 'updatedAt'>,
    dependsOn: number[],
  ): number | undefined {
    if (this.claimed >= this.unclaimed.length) return undefined;
    const earlier = this.byId[this.unclaimed[this.claimed]!]!;
    const same =
      earlier.kind === spec.kind &&
      earlier.instanceId === spec.instanceId &&
      earlier.operation === spec.operation &&
      earlier.targetState === spec.targetState &&
      JSON.stringify(earlier.relationship) === JSON.stringify(spec.relationship) &&
      JSON.stringify(earlier.inputs) === JSON.stringify(spec.inputs) &&
      JSON.stringify(earlier.dependsOn) === JSON.stringify(dependsOn);
    if (!same) {
      // The script took another way this time: what it asked for before is not run.
      this.dropUnclaimed();
      return undefined;
    }
    this.claimed++;
    if (!this.isDone(earlier)) {
      if (earlier.state === 'failed' || earlier.state === 'cancelled')
        this.setTask(earlier, { state: 'pending', attempt: 0, error: null, notBefore: null });
      this.activate(earlier);
    }
    return earlier.id;
  }

  private awaitingClaim(task: TaskRecord): boolean {
    const at = this.unclaimed.indexOf(task.id);
    return at >= 0 && at >= this.claimed;
  }

  /** Tasks an earlier run asked for that this run did not: cancelled, never run. */
  private dropUnclaimed(): void {
    for (const id of this.unclaimed.slice(this.claimed)) {
      const task = this.byId[id]!;
      if (this.isDone(task) || task.state === 'cancelled') continue;
      this.setTask(task, {
        state: 'cancelled',
        error: { message: 'not asked for again when the workflow script ran again' },
      });
    }
    this.claimed = this.unclaimed.length;
    this.commit();
  }

  /** A task the workflow script asked for joins the run: it runs when what it depends on is done. */
  private activate(task: TaskRecord): void {
    const deps = task.dependsOn.map((d) => this.byId[d]!);
    const broken = deps.find((d) => d.state === 'failed' || d.state === 'cancelled');
    if (broken) {
      this.skip(task, broken);
      return;
    }
    this.remaining++;
    const waiting = deps.filter((d) => !this.isDone(d)).length;
    this.waitingOn[task.id] = waiting;
    if (waiting > 0) return;
    if (task.state === 'rescheduled') this.arm(task);
    else this.ready.push(task.id);
    this.pump();
  }

  /** Not run, because a task it depends on failed; not counted as remaining. */
  private skip(task: TaskRecord, because: TaskRecord): void {
    this.setTask(task, {
      state: 'cancelled',
      error: {
        type: 'DependencyFailed',
        message: `not run: ${because.operation ?? because.kind} of ${because.instanceId} did not succeed`,
      },
    });
    this.settle(task);
    this.skipDependents(task);
  }

  /** The tasks that wait on a failed one (in a workflow script's graph) will not run. */
  private skipDependents(task: TaskRecord): void {
    for (const next of this.dependents[task.id] ?? []) {
      const dependent = this.byId[next]!;
      // One of an earlier run's that the script has not asked for again is judged when it does.
      if (this.awaitingClaim(dependent)) continue;
      if (dependent.state !== 'pending' && dependent.state !== 'rescheduled') continue;
      this.remaining--;
      this.skip(dependent, task);
    }
  }

  /** How a task the workflow script asked for ended, once it has. */
  private outcomeOf(task: TaskRecord): WorkflowTaskOutcome | undefined {
    if (task.state === 'succeeded') return { ok: true, result: task.result };
    if (task.state !== 'failed' && task.state !== 'cancelled') return undefined;
    const error = (task.error ?? {}) as { type?: string; message?: string };
    return {
      ok: false,
      errorType: error.type ?? (task.state === 'cancelled' ? 'Cancelled' : 'Error'),
      message: `${task.operation ?? task.kind} on ${task.instanceId} ${task.state === 'cancelled' ? 'was not run' : 'failed'}: ${error.message ?? task.state}`,
    };
  }

  private waitFor(taskId: number): Promise<WorkflowTaskOutcome> {
    const task = this.byId[taskId];
    if (!task || !this.isChild(task))
      return Promise.reject(new WorkflowRequestError(`no task ${taskId} was asked for by this workflow`));
    const outcome = this.outcomeOf(task);
    if (outcome) return Promise.resolve(outcome);
    if (this.stop) return Promise.resolve(this.stoppedOutcome());
    return new Promise((resolve) => {
      const list = this.waiters.get(taskId) ?? [];
      list.push(resolve);
      this.waiters.set(taskId, list);
    });
  }

  /** Tells what waits for the task how it ended, once that is stored. */
  private settle(task: TaskRecord): void {
    const list = this.waiters.get(task.id);
    const outcome = list && this.outcomeOf(task);
    if (!list || !outcome) return;
    this.waiters.delete(task.id);
    this.commit(() => {
      for (const resolve of list) resolve(outcome);
    });
  }

  private stoppedOutcome(): WorkflowTaskOutcome {
    const why =
      { failure: 'failed', cancel: 'cancelled', force: 'cancelled' }[this.stop as string] ?? 'interrupted';
    return { ok: false, errorType: 'ExecutionStopped', message: `the execution was ${why}` };
  }

  private releaseWaiters(): void {
    const outcome = this.stoppedOutcome();
    for (const list of this.waiters.values()) for (const resolve of list) resolve(outcome);
    this.waiters.clear();
  }

  private operationModel(task: TaskRecord): OperationModel | undefined {
    const node = this.model.nodes[task.node];
    if (!node || !task.operation) return undefined;
    const rel = task.relationship as { side: 'source' | 'target'; index: number } | null;
    if (rel) {
      const relModel = node.relationships[rel.index];
      const ops = rel.side === 'source' ? relModel?.sourceOperations : relModel?.targetOperations;
      return ops?.[task.operation];
    }
    return node.operations[task.operation];
  }

  /**
   * A node as an operation sees it. Properties holding run-time calls (get_secret,
   * get_attribute) are evaluated now, for the given instance of the node (SELF), as Cloudify
   * evaluates them when ctx.node.properties is read; throws RuntimeValueError when one cannot be.
   */
  private nodeView(node: NodeModel, instanceId: string): NodeView {
    let runtime = this.runtimeCallsIn.get(node.name);
    if (runtime === undefined) {
      runtime = hasRuntimeCall(node.properties as ValueMap);
      this.runtimeCallsIn.set(node.name, runtime);
    }
    const properties = (
      runtime ? resolveRuntime(node.properties as ValueMap, this.lookups(instanceId, null)) : node.properties
    ) as Record<string, Json>;
    // What a hidden property evaluates to (a concat with a secret, an attribute) is a secret too.
    for (const name of node.hiddenProperties ?? []) this.masker.add(properties[name] as Value);
    return { id: node.name, name: node.name, type: node.type, typeHierarchy: node.typeHierarchy, properties };
  }

  private instanceView(record: NodeInstanceRecord): InstanceView {
    const view: InstanceView = {
      id: record.id,
      node: record.node,
      index: record.index,
      state: record.state,
      hostId: record.hostId,
      containedIn: record.containedIn,
      relationships: ((record.relationships ?? []) as unknown as RelationshipInstance[]).map((r) => {
        const target = this.instances.get(r.targetId)?.record;
        const targetNode = this.model.nodes[r.target];
        return {
          type: r.type,
          typeHierarchy: r.hierarchy,
          target: {
            node: targetNode
              ? this.nodeView(targetNode, r.targetId)
              : { id: r.target, name: r.target, type: '', typeHierarchy: [], properties: {} },
            instance: { id: r.targetId, runtimeProperties: structuredClone(target?.runtimeProperties ?? {}) },
          },
        };
      }),
      runtimeProperties: structuredClone(record.runtimeProperties),
    };
    const hostIp = this.hostIp(record);
    if (hostIp !== undefined) view.hostIp = hostIp;
    return view;
  }

  /** Cloudify's host_ip: the `ip` runtime property of the instance's Compute host, else its node's `ip`. */
  private hostIp(record: NodeInstanceRecord): string | undefined {
    const host = record.hostId ? this.instances.get(record.hostId)?.record : undefined;
    if (!host) return undefined;
    const ip = host.runtimeProperties.ip ?? this.model.nodes[host.node]?.properties.ip;
    return typeof ip === 'string' && ip !== '' ? ip : undefined;
  }

  private lookups(instanceId: string, rel: { sourceId: string; targetId: string } | null): RuntimeLookups {
    const self = this.instances.get(instanceId)?.record;
    const view = (record: NodeInstanceRecord) => ({
      id: record.id,
      index: record.index,
      runtimeProperties: record.runtimeProperties as ValueMap,
      properties: (this.model.nodes[record.node]?.properties ?? {}) as ValueMap,
    });
    return {
      instanceFor: (entity) => {
        const id =
          entity === 'SELF'
            ? instanceId
            : entity === 'SOURCE'
              ? rel?.sourceId
              : entity === 'TARGET'
                ? rel?.targetId
                : undefined;
        if (id) {
          const record = this.instances.get(id)?.record;
          return record ? view(record) : `no instance for ${entity}`;
        }
        const candidates = this.instancesByNode.get(entity) ?? [];
        if (candidates.length === 1) return view(candidates[0]!);
        if (candidates.length === 0) return `node '${entity}' has no instances`;
        // Several: the one this instance has a relationship with, as Cloudify resolves it.
        const related = (self?.relationships as RelationshipInstance[] | undefined)?.find(
          (r) => r.target === entity,
        );
        const record = related ? this.instances.get(related.targetId)?.record : undefined;
        if (record) return view(record);
        return `node '${entity}' has ${candidates.length} instances and none is related to ${instanceId}`;
      },
      secret: (name) => this.secrets.get(name),
    };
  }

  private startOperation(task: TaskRecord): void {
    const model = this.operationModel(task);
    const node = this.model.nodes[task.node];
    const entry = this.instances.get(task.instanceId);
    const rel = task.relationship as {
      side: 'source' | 'target';
      sourceId: string;
      targetId: string;
      type: string;
    } | null;
    if (!model || !node || !entry) {
      this.finishOperation(task, {
        type: 'failed',
        recoverable: false,
        errorType: 'MissingOperation',
        message: `operation ${task.operation} of ${task.instanceId} is not in the deployment`,
        causes: [],
        runtimeProperties: {},
      });
      return;
    }
    let inputs: Record<string, Json>;
    try {
      const given = (task.inputs ?? {}) as ValueMap;
      inputs = resolveRuntime({ ...model.inputs, ...given }, this.lookups(task.instanceId, rel)) as Record<
        string,
        Json
      >;
    } catch (error) {
      this.finishOperation(task, {
        type: 'failed',
        recoverable: false,
        errorType: error instanceof RuntimeValueError ? 'RuntimeValueError' : 'Error',
        message: (error as Error).message,
        causes: [],
        runtimeProperties: {},
      });
      return;
    }
    this.setTask(task, { state: 'sent' });
    this.sending++;
    const sent = () => {
      this.sending--;
      this.waitingForSlot.push(task.id);
      this.dispatchers.set(task.id, {
        model,
        start: () => this.dispatch(task, model, node, entry, rel, inputs),
      });
      this.fillSlots();
    };
    // While the operations already sent keep every slot busy for a while, this one goes out with
    // a later commit (fillSlots commits at once when a slot would be left waiting).
    if (this.waitingForSlot.size < this.concurrency) this.commit(sent);
    else {
      this.afterCommit.push(sent);
      this.commitSoon();
    }
  }

  /** Dispatches sent tasks while fewer than `concurrency` operations run. */
  private fillSlots(): void {
    let started = false;
    while (this.waitingForSlot.size > 0 && this.running < this.concurrency) {
      const id = this.waitingForSlot.shift()!;
      const { model, start } = this.dispatchers.get(id)!;
      this.dispatchers.delete(id);
      const task = this.byId[id]!;
      if (this.stop) {
        // Sent but never started: it did not run, so it goes back to pending.
        this.setTask(task, { state: 'pending' });
        this.commit();
        continue;
      }
      this.running++;
      this.setTask(task, { state: 'started' });
      this.event(
        {
          type: 'task_started',
          level: 'info',
          message: `${task.operation}${task.attempt > 0 ? ` [retry ${task.attempt}${this.maxRetries(model) >= 0 ? `/${this.maxRetries(model)}` : ''}]` : ''}`,
          data: { attempt: task.attempt, implementation: model.implementation },
        },
        task,
      );
      started = true;
      this.startedSinceFlush++;
      void start();
    }
    // A free slot waits for operations whose 'sent' state is not stored yet.
    if (this.running < this.concurrency && this.sending > 0 && !this.stop) this.commit();
    // Stored (and reported) soon, not only with whatever commits next: a quiet operation shows as running.
    else if (started) this.commitSoon();
  }

  private pluginInfo(model: OperationModel): OperationCall['plugin'] {
    const name = model.plugin ?? 'script';
    const declared = this.model.plugins[name];
    const info: OperationCall['plugin'] = {
      name,
      workdir: join(this.workdirBase, this.deployment.id, name),
    };
    if (declared?.packageName) info.packageName = declared.packageName;
    if (declared?.packageVersion) info.packageVersion = declared.packageVersion;
    return info;
  }

  private maxRetries(model: OperationModel): number {
    return model.maxRetries ?? this.taskRetries;
  }

  private async dispatch(
    task: TaskRecord,
    model: OperationModel,
    node: NodeModel,
    entry: InstanceEntry,
    rel: { side: 'source' | 'target'; sourceId: string; targetId: string; type: string } | null,
    inputs: Record<string, Json>,
  ): Promise<void> {
    const controller = new AbortController();
    this.inFlight.set(task.id, controller);
    if (this.stop === 'force') controller.abort(new Error('cancelled'));
    const withdrawal = new AbortController();
    this.withdrawals.set(task.id, withdrawal);
    const snapshots = new Map<string, RuntimeProperties>();
    const viewOf = (record: NodeInstanceRecord) => {
      const view = this.instanceView(record);
      snapshots.set(record.id, structuredClone(record.runtimeProperties));
      return view;
    };
    let outcome: Outcome;
    const timeoutMs = model.timeout ? model.timeout * 1000 : undefined;
    let timer: NodeJS.Timeout | undefined;
    // Once the task's outcome is decided (a forced cancel or a timeout does not wait for an
    // operation that ignores its signal), what the operation still saves is refused: the next
    // execution (a delete taking the stack over, the retry) may be working on the same instances.
    let settled = false;
    try {
      const call: OperationCall = {
        deploymentId: this.deployment.id,
        blueprintId: this.blueprintId,
        blueprintDir: this.model.blueprint.baseDir,
        plugin: this.pluginInfo(model),
        executionId: this.execution.id,
        workflow: this.execution.workflow,
        taskId: task.id,
        operation: task.operation!,
        model,
        inputs,
        node: this.nodeView(node, entry.record.id),
        instance: viewOf(entry.record),
        retryNumber: task.attempt,
        ...(this.resumedInFlight.delete(task.id) ? { reattach: true } : {}),
        maxRetries: this.maxRetries(model),
        signal: controller.signal,
        withdraw: withdrawal.signal,
        limits: this.limits,
        update: (instanceId, props) =>
          settled
            ? Promise.reject(
                new Error(
                  `${task.operation} on ${task.instanceId} was cancelled or timed out: what it saves now is not stored`,
                ),
              )
            : this.saveNow(instanceId, props, snapshots),
        log: (level: LogLevel, message: string) => {
          this.event({ type: 'log', level, message }, task);
          this.commitSoon();
        },
      };
      if (rel) {
        const source = this.instances.get(rel.sourceId)?.record;
        const target = this.instances.get(rel.targetId)?.record;
        const sourceNode = source ? this.model.nodes[source.node] : undefined;
        const targetNode = target ? this.model.nodes[target.node] : undefined;
        if (source && target && sourceNode && targetNode) {
          const own = rel.side === 'source' ? call.instance : viewOf(target);
          const other = rel.side === 'source' ? viewOf(target) : call.instance;
          if (rel.side === 'target') call.instance = own;
          call.relationship = {
            side: rel.side,
            type: rel.type,
            source: {
              node: this.nodeView(sourceNode, source.id),
              instance: rel.side === 'source' ? own : viewOf(source),
            },
            target: {
              node: this.nodeView(targetNode, target.id),
              instance: rel.side === 'target' ? own : other,
            },
          };
          if (rel.side === 'target') call.node = this.nodeView(targetNode, target.id);
        }
      }
      const hostRecord = call.instance.containedIn
        ? this.instances.get(call.instance.containedIn)?.record
        : undefined;
      const hostNode = hostRecord ? this.model.nodes[hostRecord.node] : undefined;
      if (hostRecord && hostNode)
        call.host = { node: this.nodeView(hostNode, hostRecord.id), instance: viewOf(hostRecord) };
      const running = this.options.dispatcher.run(call);
      // A forced cancel does not wait for an operation that ignores its signal.
      const cancelled = new Promise<Outcome>((resolve) => {
        const onAbort = () => {
          if (this.stop === 'force' || this.stop === 'interrupt-now') {
            resolve({
              type: 'failed',
              recoverable: false,
              errorType: 'Cancelled',
              message: 'cancelled',
              causes: [],
              runtimeProperties: {},
            });
          }
        };
        if (controller.signal.aborted) onAbort();
        else controller.signal.addEventListener('abort', onAbort, { once: true });
      });
      if (timeoutMs) {
        const timedOut = new Promise<Outcome>((resolve) => {
          timer = setTimeout(() => {
            controller.abort(new Error('timeout'));
            resolve({
              type: 'failed',
              recoverable: model.timeoutRecoverable === true,
              errorType: 'TimeoutError',
              message: `operation timed out after ${model.timeout} s`,
              causes: [],
              runtimeProperties: {},
            });
          }, timeoutMs);
        });
        outcome = await Promise.race([running, timedOut, cancelled]);
      } else outcome = await Promise.race([running, cancelled]);
    } catch (error) {
      outcome = {
        type: 'failed',
        // A property that cannot be evaluated (a missing secret) will not be by retrying.
        recoverable: !(error instanceof RuntimeValueError),
        errorType: error instanceof Error ? error.name : 'Error',
        message: error instanceof Error ? error.message : String(error),
        causes: [],
        runtimeProperties: {},
      };
    } finally {
      settled = true;
      if (timer) clearTimeout(timer);
      this.inFlight.delete(task.id);
      this.withdrawals.delete(task.id);
    }
    if (outcome.type === 'withdrawn') {
      // It never started: back to pending, as a task sent but not started when a cancel came.
      this.setTask(task, { state: 'pending' });
      this.event(
        { type: 'task_cancelled', level: 'warning', message: `${task.operation} ${outcome.message}` },
        task,
      );
      this.running--;
      this.commit(() => this.maybeFinish());
      return;
    }
    if (controller.signal.aborted && this.stop === 'interrupt-now') {
      // Abandoned while running: stored as in flight, for a resume to judge (its changes are dropped).
      const resumable = (await this.options.dispatcher.resumable?.(model)) === true;
      this.abandoned.push({ task, resumable });
      this.running--;
      this.commit(() => this.maybeFinish());
      return;
    }
    if (controller.signal.aborted && this.stop === 'force') {
      this.mergeRuntimeProperties(outcome.runtimeProperties, snapshots);
      this.setTask(task, { state: 'cancelled' });
      this.event({ type: 'task_cancelled', level: 'warning', message: `${task.operation} cancelled` }, task);
      this.running--;
      this.commit(() => this.maybeFinish());
      return;
    }
    const conflict = this.mergeRuntimeProperties(outcome.runtimeProperties, snapshots);
    // Too much to store fails the operation whatever it said; a conflict fails only a success.
    if (conflict instanceof LimitError) outcome = limitFailure(conflict);
    else if (conflict && outcome.type === 'succeeded') {
      outcome = {
        type: 'failed',
        recoverable: true,
        errorType: 'ConflictError',
        message: conflict,
        causes: [],
        runtimeProperties: {},
      };
    }
    this.running--;
    this.finishOperation(task, outcome, model);
    // The freed slot is used at once, not after the next commit.
    this.pump();
  }

  /**
   * Credentials an operation left in runtime properties (a provider's SSH password) are secrets
   * from then on: masked in later events and logs, and sealed when stored.
   */
  private learnCredentials(runtimeProperties: RuntimeProperties): void {
    for (const value of credentialsIn(runtimeProperties))
      if (!this.credentials.has(value)) {
        this.credentials.add(value);
        this.masker.add(value);
      }
  }

  /** ctx.instance.update(): merge now and wait until it is stored. */
  private async saveNow(
    instanceId: string,
    props: RuntimeProperties,
    snapshots: Map<string, RuntimeProperties>,
  ): Promise<void> {
    const conflict = this.mergeRuntimeProperties({ [instanceId]: props }, snapshots);
    if (conflict instanceof LimitError) throw conflict;
    if (conflict) throw new ConflictError(conflict);
    // Later changes are measured from what is now saved.
    snapshots.set(instanceId, structuredClone(props));
    await new Promise<void>((resolve) => this.commit(resolve));
  }

  /**
   * Applies what an operation changed in runtime properties onto the current values. Changes
   * made meanwhile by other operations to other keys are kept; a change to the same key by both
   * is a conflict (its message is returned) and nothing is applied; so are runtime properties
   * that would be over their size limit (the LimitError is returned).
   */
  private mergeRuntimeProperties(
    touched: Record<string, RuntimeProperties>,
    snapshots: Map<string, RuntimeProperties>,
  ): string | LimitError | undefined {
    for (const [instanceId, props] of Object.entries(touched)) {
      const entry = this.instances.get(instanceId);
      const before = snapshots.get(instanceId);
      if (!entry || !before) continue;
      const ours = changedKeys(before, props);
      if (ours.length === 0) continue;
      // Set on the stored map, such a key would change its prototype instead of holding a value.
      const unsafe = ours.find(isPrototypeKey);
      if (unsafe !== undefined) return `runtime properties of ${instanceId}: ${prototypeKeyReason(unsafe)}`;
      const theirs = new Set(changedKeys(before, entry.record.runtimeProperties));
      const clash = ours.filter((k) => theirs.has(k));
      if (clash.length > 0) {
        return `update conflict: runtime properties ${clash.map((k) => `'${k}'`).join(', ')} of ${instanceId} were changed by another operation at the same time`;
      }
      const merged = applyChanges(entry.record.runtimeProperties, props, ours);
      const tooLarge = runtimePropertiesOverLimit(instanceId, merged, this.limits.runtimePropertiesBytes);
      if (tooLarge) return tooLarge;
      entry.record.runtimeProperties = merged;
      this.learnCredentials(merged);
      entry.dirty = true;
      this.dirtyInstances.add(entry);
      snapshots.set(instanceId, structuredClone(props));
    }
    return undefined;
  }

  private finishOperation(task: TaskRecord, given: RunOutcome, model?: OperationModel): void {
    const outcome = checkResult(given, this.limits.resultBytes);
    if (outcome.type === 'succeeded') {
      this.setTask(task, { state: 'succeeded', error: null, result: outcome.returned ?? null });
      this.event(
        {
          type: 'task_succeeded',
          level: 'info',
          message: `${task.operation} succeeded`,
          // What a workflow script gave ctx.returns: its execution's result.
          ...(task.kind === 'workflow' &&
            outcome.returned !== undefined && { data: { result: outcome.returned } }),
        },
        task,
      );
      this.enterTargetState(task);
      // What depends on it is sent only with a later commit, which stores this first.
      this.commitSoon();
      this.unlock(task);
      return;
    }
    const max = model ? this.maxRetries(model) : 0;
    const canRetry = (outcome.type === 'retry' || outcome.recoverable) && (max < 0 || task.attempt < max);
    const message = this.masker.mask(outcome.message);
    const causes =
      outcome.type === 'failed'
        ? (this.masker.maskJson(outcome.causes as unknown as Json) as unknown as ErrorCause[])
        : [];
    const error: Json =
      outcome.type === 'failed'
        ? { type: outcome.errorType, message, causes: causes as unknown as Json }
        : { type: 'OperationRetry', message, causes: [] };
    if (canRetry && !this.stop) {
      const after = outcome.type === 'retry' ? outcome.after : outcome.retryAfter;
      const delay = (after ?? model?.retryInterval ?? this.taskRetryInterval) * 1000;
      const attempt = task.attempt + 1;
      this.setTask(task, { state: 'rescheduled', attempt, notBefore: Date.now() + delay, error });
      const of = max >= 0 ? `/${max}` : '';
      this.event(
        {
          type: 'task_rescheduled',
          level: outcome.type === 'retry' ? 'info' : 'warning',
          message: `${task.operation} ${outcome.type === 'retry' ? 'asked to be retried' : 'failed'}: ${message} [retry ${attempt}${of} in ${delay / 1000} s]`,
          data: error,
        },
        task,
      );
      this.commit(() => {
        this.arm(task);
        this.pump();
      });
      return;
    }
    this.setTask(task, { state: 'failed', error });
    this.event(
      { type: 'task_failed', level: 'error', message: `${task.operation} failed: ${message}`, data: error },
      task,
    );
    // The workflow script that asked for it is told, and decides.
    if (this.isChild(task)) {
      this.remaining--;
      this.settle(task);
      this.skipDependents(task);
      this.commit(() => this.maybeFinish());
      return;
    }
    if (this.ignoreFailure || task.ignoreFailure) {
      this.enterTargetState(task);
      this.commit();
      this.unlock(task);
      return;
    }
    if (!this.failure) this.failure = { taskId: task.id, message, causes };
    if (!this.stop) {
      this.stop = 'failure';
      // Nothing new starts: operations handed to a dispatcher that has not started them (a job
      // no worker has taken, say one waiting for an agent that is down) are given up, as a plain
      // cancel gives them up, instead of running after the run is known to fail; a resume runs them.
      for (const withdrawal of this.withdrawals.values()) withdrawal.abort(new Error('failed'));
    }
    this.commit(() => this.maybeFinish());
  }

  /**
   * The user stops the run: nothing new starts (a failure already stopping it goes on as a
   * failure); `now` also aborts the running operations and leaves them in flight.
   */
  private interrupt(now: boolean): void {
    if (this.finished || this.stop === 'force') return;
    if (now) {
      this.stop = 'interrupt-now';
      for (const controller of this.inFlight.values()) controller.abort(new Error('interrupted'));
    } else if (!this.stop) this.stop = 'interrupt';
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.maybeFinish();
  }

  /** Reads the execution's status and stops as a cancel asks (every `cancelPollMs`, or when told). */
  async checkCancel(): Promise<void> {
    if (this.finished || this.stop === 'force') return;
    const current = await this.store.getExecution(this.execution.id).catch(() => undefined);
    if (!current) return;
    if (current.status === 'force_cancelling') {
      this.stop = 'force';
      for (const controller of this.inFlight.values()) controller.abort(new Error('cancelled'));
    } else if (current.status === 'cancelling' && current.cancelRequest?.rollback === false) {
      if (!this.stop && !this.draining) this.drainOnCancel();
      return;
    } else if (current.status === 'cancelling' && !this.stop) {
      this.stop = 'cancel';
      for (const withdrawal of this.withdrawals.values()) withdrawal.abort(new Error('cancelled'));
    } else return;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.maybeFinish();
  }

  /** A cancel without rollback: what is under way goes on to its end, nothing else starts. */
  private drainOnCancel(): void {
    this.draining = new Set(
      this.byId.filter((task) => task.state !== 'pending' && task.instanceId).map((task) => task.instanceId),
    );
    this.pump();
    this.maybeFinish();
  }

  /**
   * The store failed to take a batch: the run stops as a second Ctrl-C stops it (nothing new
   * starts, running operations are aborted and left in flight), writing nothing more but its end.
   */
  private storeFailed(error: unknown): void {
    if (this.storeError) return;
    this.storeError = error instanceof Error ? error : new Error(String(error));
    // Tasks sent but waiting for the commit that failed never started.
    this.sending = 0;
    this.afterCommit = [];
    this.stop = 'interrupt-now';
    for (const controller of this.inFlight.values()) controller.abort(new Error('the state store failed'));
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.maybeFinish();
  }

  private interruptedError(): InterruptedError {
    const name = ({ task }: { task: TaskRecord }) =>
      task.kind === 'workflow'
        ? `workflow script ${task.operation}`
        : `${task.instanceId} ${task.operation?.split('.').pop()}`;
    const again = this.abandoned.filter((a) => a.resumable);
    const not = this.abandoned.filter((a) => !a.resumable);
    let message = this.storeError
      ? `the state store failed: ${this.storeError.message}`
      : 'interrupted by the user';
    if (again.length > 0)
      message += `; stopped while running, resumable (runs again on resume): ${again.map(name).join(', ')}`;
    if (not.length > 0)
      message += `; stopped while running, not resumable: ${not.map(name).join(', ')} (they may have done part of their work: resume with --retry-in-flight to run them again)`;
    return {
      message,
      byUser: !this.storeError,
      tasks: this.abandoned.map((a) => a.task.id),
      notResumable: not.map((a) => a.task.id),
    };
  }

  private maybeFinish(): void {
    // A workflow script waiting for a task that will not run now is told so.
    if (this.stop && this.waiters.size > 0) this.releaseWaiters();
    if (
      this.finished ||
      this.inCallbacks ||
      this.running > 0 ||
      this.workflowsRunning > 0 ||
      this.sending > 0 ||
      this.flushing ||
      this.afterCommit.length > 0
    )
      return;
    if (this.waitingForSlot.size > 0) {
      if (!this.stop) return;
      this.fillSlots();
      if (this.hasQueued()) {
        this.commit();
        return;
      }
    }
    const complete = this.remaining === 0;
    if (!complete && !this.stop && (this.ready.size > 0 || this.timers.size > 0)) return;
    // What was under way when a cancel without rollback came has finished.
    if (this.draining && !this.stop) this.stop = 'cancel';
    if (!complete && !this.stop) {
      // Nothing can run and not everything is done: dependencies that can never finish.
      this.stop = 'failure';
      this.failure ??= {
        taskId: -1,
        message: 'no task can run: the remaining tasks wait on tasks that will not finish',
        causes: [],
      };
    }
    this.finished = true;
    if (this.cancelPoll) clearInterval(this.cancelPoll);
    if (this.deferred) clearTimeout(this.deferred);
    for (const timer of this.timers.values()) clearTimeout(timer);
    let status: ExecutionRecord['status'];
    let error: Json = null;
    // Cancelled, it stays cancelled when what was under way was all that was left, as Cloudify's
    // graph raises the cancel at its next turn whatever is left.
    if (complete && !this.draining && this.stop !== 'cancel') status = 'terminated';
    else if (this.stop === 'interrupt' || this.stop === 'interrupt-now') {
      status = 'interrupted';
      error = this.interruptedError() as unknown as Json;
    } else if (this.stop === 'cancel' || this.stop === 'force' || this.draining) status = 'cancelled';
    else {
      status = 'failed';
      const task = this.failure && this.failure.taskId >= 0 ? this.byId[this.failure.taskId] : undefined;
      error = {
        message: this.failure?.message ?? 'failed',
        causes: (this.failure?.causes ?? []) as unknown as Json,
        task: task
          ? { id: task.id, instance: task.instanceId, node: task.node, operation: task.operation }
          : null,
      };
    }
    const endedAt = now();
    if (this.storeError) {
      this.endAfterStoreFailure(this.interruptedError(), endedAt);
      return;
    }
    this.batch.execution = { id: this.execution.id, status, error, endedAt };
    const word = status === 'terminated' ? 'succeeded' : status;
    this.event({
      type: `workflow_${word}`,
      level:
        status === 'terminated'
          ? 'info'
          : status === 'cancelled' || status === 'interrupted'
            ? 'warning'
            : 'error',
      message:
        status === 'failed' || status === 'interrupted'
          ? `'${this.execution.workflow}' workflow execution ${word}: ${(error as { message: string }).message}`
          : `'${this.execution.workflow}' workflow execution ${word}`,
    });
    void this.flush().then(() => {
      // The last batch itself may be the one the store refused.
      if (this.storeError) this.endAfterStoreFailure(this.interruptedError(), now());
      else
        this.resolveDone({
          ...this.execution,
          startedAt: this.startedAt ?? this.execution.startedAt,
          status,
          error,
          endedAt,
        });
    });
  }

  /**
   * Ends a run the store failed under: one attempt to record it as interrupted (a database back
   * after a lost connection takes it; a full disk may not, and the execution then stays 'started',
   * which a resume treats as after a crash). Either way, what was stored before stays as it was.
   */
  private endAfterStoreFailure(error: InterruptedError, endedAt: string): void {
    const end = {
      id: this.execution.id,
      status: 'interrupted' as const,
      error: error as unknown as Json,
      endedAt,
    };
    void this.store
      .applyBatch({ execution: end })
      .catch(() => {})
      .then(() =>
        this.resolveDone({
          ...this.execution,
          startedAt: this.startedAt ?? this.execution.startedAt,
          ...end,
        }),
      );
  }
}
