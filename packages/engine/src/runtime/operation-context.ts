import {
  DEFAULT_LIMITS,
  type InstanceContext,
  isPrototypeKey,
  type Limits,
  type NodeContext,
  NonRecoverableError,
  type OperationContext,
  OperationRetry,
  type PluginInfo,
  prototypeKeyReason,
} from '@weft/sdk';
import type { InstanceView, LogLevel, RuntimeProperties, Side } from '../executor/dispatcher.js';
import { Resources } from './resources.js';

/**
 * What an operation's ctx is made of, wherever the operation runs: in the engine (an
 * OperationCall is one), in a plugin worker, or in a unit test's mock context.
 */
export interface OperationContextSource {
  deploymentId: string;
  /** The blueprint's name (its directory's), as Cloudify's ctx.blueprint.id. */
  blueprintId: string;
  blueprintDir: string;
  plugin: PluginInfo;
  executionId: string;
  workflow: string;
  /** Full operation name, e.g. `cloudify.interfaces.lifecycle.create`. */
  operation: string;
  retryNumber: number;
  /** -1 for unlimited. */
  maxRetries: number;
  signal: AbortSignal;
  /** ctx.limits (default: {@link DEFAULT_LIMITS}). */
  limits?: Limits;
  /** The node and instance the operation runs for (for relationship operations: its own side). */
  node: NodeContext;
  instance: InstanceView;
  /** Relationship operations: both ends (the own side's instance is `instance`). */
  relationship?: { side: 'source' | 'target'; source: Side; target: Side };
  /** The instance the operation's instance is contained in, when it has one. */
  host?: Side;
  /** ctx.instance.update() of any instance the ctx shows: saves its runtime properties now. */
  update(instanceId: string, runtimeProperties: RuntimeProperties): Promise<void>;
  log(level: LogLevel, message: string): void;
  /** Told of ctx.operation.retry() before it throws OperationRetry. */
  onRetry?(message: string, afterSeconds: number | undefined): void;
}

export interface BuiltContext {
  ctx: OperationContext;
  /** The runtime properties of every instance the ctx shows, by id, as the operation left them. */
  runtimeProperties(): Record<string, RuntimeProperties>;
}

/**
 * The one ctx operations get, built from its source: the engine's in-process dispatcher and
 * the testing kit's mockContext both make theirs here. Runtime properties are copies, changed
 * freely by the operation; update() merges its changes and hands them to `source.update`.
 */
export function operationContext(source: OperationContextSource): BuiltContext {
  const touched = new Map<string, RuntimeProperties>();
  const instanceContext = (view: InstanceView): InstanceContext => {
    const props = structuredClone(view.runtimeProperties);
    touched.set(view.id, props);
    const update = (changes?: RuntimeProperties) => {
      if (changes) {
        // A plain object given by the plugin; its keys become keys of the saved properties.
        const unsafe = Object.keys(changes).find(isPrototypeKey);
        if (unsafe !== undefined)
          throw new NonRecoverableError(`ctx.instance.update: ${prototypeKeyReason(unsafe)}`);
        Object.assign(props, changes);
      }
      return source.update(view.id, props);
    };
    return { ...view, runtimeProperties: props, update };
  };
  const own = instanceContext(source.instance);
  // Templates see the ctx with Cloudify's names too (`ctx.instance.runtime_properties`).
  const resources = new Resources(source.blueprintDir, () => ({
    deployment: { id: source.deploymentId },
    blueprint: { id: source.blueprintId, dir: source.blueprintDir },
    execution_id: source.executionId,
    node: { ...source.node },
    instance: {
      id: own.id,
      runtime_properties: own.runtimeProperties,
      runtimeProperties: own.runtimeProperties,
    },
    plugin: source.plugin,
  }));
  const ctx: OperationContext = {
    plugin: { ...source.plugin },
    getResource: (path) => resources.get(path),
    getResourceAndRender: (path, variables) => resources.getAndRender(path, variables),
    renderTemplate: (text, variables) => resources.render(text, variables),
    downloadResource: (path, target) => resources.download(path, target),
    downloadResourceAndRender: (path, target, variables) =>
      resources.downloadAndRender(path, target, variables),
    deployment: { id: source.deploymentId },
    execution: { id: source.executionId, workflow: source.workflow },
    blueprint: { id: source.blueprintId, dir: source.blueprintDir },
    node: source.node,
    instance: own,
    operation: {
      name: source.operation,
      retryNumber: source.retryNumber,
      maxRetries: source.maxRetries,
      retry: (message, afterSeconds) => {
        source.onRetry?.(message, afterSeconds);
        throw new OperationRetry(message, afterSeconds);
      },
    },
    logger: {
      debug: (m) => source.log('debug', m),
      info: (m) => source.log('info', m),
      warning: (m) => source.log('warning', m),
      error: (m) => source.log('error', m),
    },
    signal: source.signal,
    limits: { ...(source.limits ?? DEFAULT_LIMITS) },
  };
  if (source.host) ctx.host = { node: source.host.node, instance: instanceContext(source.host.instance) };
  if (source.relationship) {
    const { source: from, target: to, side } = source.relationship;
    ctx.source = { node: from.node, instance: side === 'source' ? own : instanceContext(from.instance) };
    ctx.target = { node: to.node, instance: side === 'target' ? own : instanceContext(to.instance) };
  }
  return { ctx, runtimeProperties: () => Object.fromEntries(touched) };
}
