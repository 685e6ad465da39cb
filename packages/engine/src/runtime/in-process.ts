import { mkdirSync } from 'node:fs';
import {
  errorCause,
  type InstanceContext,
  NonRecoverableError,
  type OperationContext,
  type OperationFunction,
  OperationRetry,
  RecoverableError,
} from '@weft/sdk';
import type {
  Dispatcher,
  InstanceView,
  OperationCall,
  Outcome,
  RuntimeProperties,
  WorkflowFunction,
} from '../executor/dispatcher.js';
import type { OperationModel } from '../model/deployment-model.js';
import type { Json } from '../store/types.js';
import { Resources } from './resources.js';

export type InProcessContext = OperationContext;

/** Work directories this process has made (once each, not a system call per operation). */
const made = new Set<string>();

export type InProcessOperation = OperationFunction;

export interface InProcessOptions {
  /** Operation implementations (`plugin.module.function`) that may be re-run after a crash. */
  resumable?: string[];
  workflows?: Record<string, WorkflowFunction>;
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

  async run(call: OperationCall): Promise<Outcome> {
    const fn = this.operations[call.model.implementation];
    const touched = new Map<string, RuntimeProperties>();
    const instanceContext = (view: InstanceView): InstanceContext => {
      const props = structuredClone(view.runtimeProperties);
      touched.set(view.id, props);
      const update = (changes?: RuntimeProperties) => {
        if (changes) Object.assign(props, changes);
        return call.update(view.id, props);
      };
      return { ...view, runtimeProperties: props, update };
    };
    const own = instanceContext(call.instance);
    if (!made.has(call.plugin.workdir)) {
      mkdirSync(call.plugin.workdir, { recursive: true });
      made.add(call.plugin.workdir);
    }
    // Templates see the ctx with Cloudify's names too (`ctx.instance.runtime_properties`).
    const resources = new Resources(call.blueprintDir, () => ({
      deployment: { id: call.deploymentId },
      blueprint: { id: call.blueprintId, dir: call.blueprintDir },
      execution_id: call.executionId,
      node: { ...call.node },
      instance: {
        id: own.id,
        runtime_properties: own.runtimeProperties,
        runtimeProperties: own.runtimeProperties,
      },
      plugin: call.plugin,
    }));
    const ctx: InProcessContext = {
      plugin: { ...call.plugin },
      getResource: (path) => resources.get(path),
      getResourceAndRender: (path, variables) => resources.getAndRender(path, variables),
      renderTemplate: (text, variables) => resources.render(text, variables),
      downloadResource: (path, target) => resources.download(path, target),
      downloadResourceAndRender: (path, target, variables) =>
        resources.downloadAndRender(path, target, variables),
      deployment: { id: call.deploymentId },
      execution: { id: call.executionId, workflow: call.workflow },
      blueprint: { id: call.blueprintId, dir: call.blueprintDir },
      node: call.node,
      instance: own,
      operation: {
        name: call.operation,
        retryNumber: call.retryNumber,
        maxRetries: call.maxRetries,
        retry: (message, afterSeconds) => {
          throw new OperationRetry(message, afterSeconds);
        },
      },
      logger: {
        debug: (m) => call.log('debug', m),
        info: (m) => call.log('info', m),
        warning: (m) => call.log('warning', m),
        error: (m) => call.log('error', m),
      },
      signal: call.signal,
    };
    if (call.host) ctx.host = { node: call.host.node, instance: instanceContext(call.host.instance) };
    if (call.relationship) {
      const { source, target, side } = call.relationship;
      ctx.source = {
        node: source.node,
        instance: side === 'source' ? own : instanceContext(source.instance),
      };
      ctx.target = {
        node: target.node,
        instance: side === 'target' ? own : instanceContext(target.instance),
      };
    }
    const runtimeProperties = () => Object.fromEntries(touched);
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
      if (error instanceof OperationRetry) {
        const outcome: Outcome = {
          type: 'retry',
          message: error.message,
          runtimeProperties: runtimeProperties(),
        };
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
        runtimeProperties: runtimeProperties(),
      };
      if (error instanceof RecoverableError && error.retryAfter !== undefined)
        failed.retryAfter = error.retryAfter;
      return failed;
    }
  }
}
