import { mkdirSync } from 'node:fs';
import {
  errorCause,
  NonRecoverableError,
  type OperationContext,
  type OperationFunction,
  OperationRetry,
  RecoverableError,
} from '@weft/sdk';
import type {
  Dispatcher,
  OperationCall,
  Outcome,
  RuntimeProperties,
  WorkflowCall,
  WorkflowFunction,
} from '../executor/dispatcher.js';
import type { OperationModel } from '../model/deployment-model.js';
import type { Json } from '../store/types.js';
import { operationContext } from './operation-context.js';
import { runWorkflowScript, type WorkflowRunner } from './workflow-run.js';

export type InProcessContext = OperationContext;

/** Work directories this process has made (once each, not a system call per operation). */
const made = new Set<string>();

export type InProcessOperation = OperationFunction;

export interface InProcessOptions {
  /** Operation implementations (`plugin.module.function`) that may be re-run after a crash. */
  resumable?: string[];
  workflows?: Record<string, WorkflowFunction>;
  /** What runs workflow scripts (the script plugin's `execute_workflow`). */
  workflowRunner?: WorkflowRunner;
}

/**
 * Runs operations as functions in this process, looked up by their implementation string.
 * Tests and benchmarks use it; plugins run through the plugin host instead.
 */
export class InProcessDispatcher implements Dispatcher {
  constructor(
    private readonly operations: Record<string, InProcessOperation>,
    private readonly options: InProcessOptions = {},
  ) {}

  resumable(model: OperationModel): boolean {
    return this.options.resumable?.includes(model.implementation) ?? false;
  }

  workflow(plugin: string, fn: string): WorkflowFunction | undefined {
    return this.options.workflows?.[`${plugin}.${fn}`];
  }

  runWorkflow(call: WorkflowCall): Promise<Outcome> {
    const runner = this.options.workflowRunner;
    if (!runner)
      return Promise.resolve(errorOutcome(new NonRecoverableError('no workflow script runner'), {}));
    return runWorkflowScript(runner, call);
  }

  async run(call: OperationCall): Promise<Outcome> {
    const fn = this.operations[call.model.implementation];
    if (!made.has(call.plugin.workdir)) {
      mkdirSync(call.plugin.workdir, { recursive: true });
      made.add(call.plugin.workdir);
    }
    const { ctx, runtimeProperties } = operationContext(call);
    if (!fn) {
      return {
        type: 'failed',
        recoverable: false,
        errorType: 'UnknownOperation',
        message: `no in-process function '${call.model.implementation}'`,
        causes: [],
        runtimeProperties: {},
      };
    }
    try {
      const returned = await fn(ctx, call.inputs);
      const outcome: Outcome = { type: 'succeeded', runtimeProperties: runtimeProperties() };
      if (returned !== undefined) outcome.returned = returned as Json;
      return outcome;
    } catch (error) {
      return errorOutcome(error, runtimeProperties());
    }
  }
}

/** How an operation (or a workflow script's runner) that threw ended: retried, failed, or failed for good. */
export function errorOutcome(error: unknown, runtimeProperties: Record<string, RuntimeProperties>): Outcome {
  if (error instanceof OperationRetry) {
    const outcome: Outcome = { type: 'retry', message: error.message, runtimeProperties };
    if (error.after !== undefined) outcome.after = error.after;
    return outcome;
  }
  const failed: Outcome = {
    type: 'failed',
    recoverable: !(error instanceof NonRecoverableError),
    errorType: error instanceof Error ? error.name : typeof error,
    message: error instanceof Error ? error.message : String(error),
    causes:
      error instanceof NonRecoverableError || error instanceof RecoverableError
        ? error.causes
        : [errorCause(error)],
    runtimeProperties,
  };
  if (error instanceof RecoverableError && error.retryAfter !== undefined)
    failed.retryAfter = error.retryAfter;
  return failed;
}
