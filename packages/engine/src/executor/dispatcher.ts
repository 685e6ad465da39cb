import type {
  ErrorCause,
  InstanceContext,
  Limits,
  NodeContext,
  WorkflowFunction,
  WorkflowRunContext,
} from '@weft/sdk';
import type { OperationModel } from '../model/deployment-model.js';
import type { Json } from '../store/types.js';

export type RuntimeProperties = Record<string, Json>;

/** What an operation is told about its node: the SDK's NodeContext. */
export type NodeView = NodeContext;

/** An instance as sent to an operation (a copy: the executor saves what the operation changed). */
export type InstanceView = Omit<InstanceContext, 'update'>;

export interface Side {
  node: NodeView;
  instance: InstanceView;
}

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/** One operation to run, with everything its ctx is made of. */
export interface OperationCall {
  deploymentId: string;
  /** The blueprint's name (its directory's), as Cloudify's ctx.blueprint.id. */
  blueprintId: string;
  blueprintDir: string;
  /** The plugin the operation belongs to, with its per-deployment work directory. */
  plugin: { name: string; packageName?: string; packageVersion?: string; prefix?: string; workdir: string };
  executionId: string;
  workflow: string;
  taskId: number;
  /** Full operation name, e.g. `cloudify.interfaces.lifecycle.create`. */
  operation: string;
  model: OperationModel;
  /** Operation inputs with every function evaluated (secrets included). */
  inputs: Record<string, Json>;
  /** The node and instance the operation runs for (for relationship operations: its own side). */
  node: NodeView;
  instance: InstanceView;
  /** Relationship operations: both ends. */
  relationship?: { side: 'source' | 'target'; type: string; source: Side; target: Side };
  /** The instance the operation's instance is contained in, when it has one. */
  host?: Side;
  retryNumber: number;
  /**
   * The operation was in flight when the execution stopped (its process died) and this is its
   * first run since: a dispatcher that sent it elsewhere (a queue) attaches to it where it still
   * runs, or takes the outcome it reached, rather than starting it again.
   */
  reattach?: boolean;
  /** -1 for unlimited. */
  maxRetries: number;
  /** Aborted on `cancel --force` and on timeout. */
  signal: AbortSignal;
  /**
   * Aborted on a plain cancel, which starts no new operation and lets running ones end: a
   * dispatcher holding the operation queued, not started yet (a job no worker has taken), gives
   * it up then and resolves with `withdrawn`; one already running goes on to its end.
   */
  withdraw?: AbortSignal;
  /** What the engine stores at most of what the operation hands back (ctx.limits). */
  limits: Limits;
  /** ctx.instance.update(): saves these runtime properties now (they are also saved at the end). */
  update(instanceId: string, runtimeProperties: RuntimeProperties): Promise<void>;
  log(level: LogLevel, message: string): void;
}

export type Outcome =
  | { type: 'succeeded'; runtimeProperties: Record<string, RuntimeProperties>; returned?: Json }
  /** ctx.operation.retry(): run again after `after` seconds; counts against max_retries. */
  | { type: 'retry'; message: string; after?: number; runtimeProperties: Record<string, RuntimeProperties> }
  | {
      type: 'failed';
      recoverable: boolean;
      errorType: string;
      message: string;
      causes: ErrorCause[];
      retryAfter?: number;
      runtimeProperties: Record<string, RuntimeProperties>;
    }
  /** Given up before it started (`OperationCall.withdraw`): it did not run. */
  | { type: 'withdrawn'; message: string; runtimeProperties: Record<string, RuntimeProperties> };

/** How an operation or a workflow script that ran ended. */
export type RunOutcome = Exclude<Outcome, { type: 'withdrawn' }>;

/**
 * A workflow script to run (task 0 of its execution), with what its runner's WorkflowRunContext
 * is made of: `nodes`, `submit` and `wait` are the executor's.
 */
export interface WorkflowCall
  extends Pick<
    WorkflowRunContext,
    'parameters' | 'script' | 'signal' | 'nodes' | 'submit' | 'wait' | 'updateInstance'
  > {
  deploymentId: string;
  blueprintId: string;
  blueprintDir: string;
  plugin: OperationCall['plugin'];
  executionId: string;
  workflow: string;
  taskId: number;
  log(level: LogLevel, message: string): void;
}

/** Runs operations. Plugins, scripts and in-process functions are all dispatchers. */
export interface Dispatcher {
  run(call: OperationCall): Promise<Outcome>;
  /** Whether an operation may run again after a crash that interrupted it. */
  resumable?(model: OperationModel): boolean | Promise<boolean>;
  /**
   * Operations run outside the executor's process and outlive it: one in flight when the
   * execution stopped is found again (`OperationCall.reattach`), so resuming never runs it twice.
   */
  readonly reattaches?: boolean;
  /** Workflow functions declared by plugins (custom workflows). */
  workflow?(plugin: string, fn: string): WorkflowFunction | undefined | Promise<WorkflowFunction | undefined>;
  /** Runs a workflow script (`workflows: NAME: scripts/x.py`) through the script plugin. */
  runWorkflow?(call: WorkflowCall): Promise<Outcome>;
}

export type { WorkflowFunction };
