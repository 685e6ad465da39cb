import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resources } from '@weft/engine';
import type {
  InstanceContext,
  Json,
  NodeContext,
  OperationContext,
  PluginInfo,
  RelationshipContext,
} from '@weft/sdk';
import { OperationRetry } from '@weft/sdk';

/** The node and instance at one end of a relationship, for {@link MockContextOptions.relationship}. */
export interface MockEndOptions {
  /** The node's id. Default: `nodeName`. */
  nodeId?: string;
  /** The node's name (its node template). Default: `nodeId`, else `source_node` / `target_node`. */
  nodeName?: string;
  /** The node's type. Default: `cloudify.nodes.Root`. */
  nodeType?: string;
  /** The type and its ancestors, the type last. Default: `cloudify.nodes.Root` then `nodeType`. */
  typeHierarchy?: string[];
  /** The node's properties (copied). Default: `{}`. */
  properties?: Record<string, Json>;
  /** The instance's runtime properties when the operation starts (copied). Default: `{}`. */
  runtimeProperties?: Record<string, Json>;
  /** The instance's id. Default: `<nodeName>_1`. */
  instanceId?: string;
  /** The instance's 1-based position among the node's instances. Default: 1. */
  index?: number;
  /** The instance's lifecycle state. Default: `uninitialized`. */
  state?: string;
  /** The id of the Compute instance this one runs on. Default: null. */
  hostId?: string | null;
  /** The id of the instance this one is contained in. Default: null. */
  containedIn?: string | null;
  /** ctx.instance.hostIp: the IP address of the Compute host. Default: none. */
  hostIp?: string;
  /** ctx.instance.relationships. Default: none. */
  relationships?: RelationshipContext[];
}

/** What {@link mockContext} builds the context from. Every option has a default. */
export interface MockContextOptions extends MockEndOptions {
  /** ctx.deployment.id. Default: `test_deployment`. */
  deploymentId?: string;
  /** ctx.execution.id. Default: `test_execution`. */
  executionId?: string;
  /** ctx.execution.workflow: the workflow the operation runs in. Default: `install`. */
  workflow?: string;
  /** ctx.blueprint.dir: the blueprint's directory, where resources are read. Default: the current directory. */
  blueprintDir?: string;
  /** ctx.blueprint.id. Default: `test_blueprint`. */
  blueprintId?: string;
  /** ctx.plugin. Default: name `plugin` and a new temporary work directory. */
  plugin?: Partial<PluginInfo>;
  /**
   * ctx.operation.name, the full operation name. Default: `cloudify.interfaces.lifecycle.create`,
   * or `cloudify.interfaces.relationship_lifecycle.establish` with `relationship`.
   */
  operation?: string;
  /** ctx.operation.retryNumber: 0 on the first run. Default: 0. */
  retryNumber?: number;
  /** ctx.operation.maxRetries: -1 for unlimited. Default: 5 (as the engine's task_retries). */
  maxRetries?: number;
  /** ctx.signal: fires when the operation is cancelled. Default: one that {@link MockRecord.abort} fires. */
  signal?: AbortSignal;
  /**
   * Makes it a relationship operation: ctx.source and ctx.target are set from these ends. The
   * end on `side` is the one the operation runs on: ctx.node and ctx.instance are that end, and
   * the top-level node and instance options fill in what that end does not give.
   */
  relationship?: {
    source?: MockEndOptions;
    target?: MockEndOptions;
    /** The end the operation runs on. Default: `source`. */
    side?: 'source' | 'target';
  };
}

/** One `ctx.logger` call. */
export interface MockLog {
  level: 'debug' | 'info' | 'warning' | 'error';
  message: string;
}

/** One `instance.update()` call: the instance's runtime properties at that moment (a copy). */
export interface MockUpdate {
  instanceId: string;
  runtimeProperties: Record<string, Json>;
}

/** What a mock context recorded, in `ctx.mock`. */
export interface MockRecord {
  /** Every logger call, in order. */
  readonly logs: MockLog[];
  /** Every `update()` of ctx.instance (or, in relationship operations, of either end), in order. */
  readonly updates: MockUpdate[];
  /** Set when ctx.operation.retry() was called (the last call); undefined otherwise. */
  retried: { message: string; afterSeconds: number | undefined } | undefined;
  /** ctx.instance's runtime properties as they are now (the live object, not a copy). */
  readonly runtimeProperties: Record<string, Json>;
  /** Messages of the logs at `level`, or of all of them. */
  messages(level?: MockLog['level']): string[];
  /** Fires ctx.signal, as a cancel or a timeout would (only when no `signal` option was given). */
  abort(reason?: unknown): void;
}

/** An OperationContext that also records what the operation did. */
export type MockOperationContext = OperationContext & { mock: MockRecord };

const ROOT = 'cloudify.nodes.Root';

function end(
  options: MockEndOptions,
  fallbackName: string,
  onUpdate: (instance: InstanceContext) => void,
): { node: NodeContext; instance: InstanceContext } {
  const name = options.nodeName ?? options.nodeId ?? fallbackName;
  const type = options.nodeType ?? ROOT;
  const node: NodeContext = {
    id: options.nodeId ?? name,
    name,
    type,
    typeHierarchy: options.typeHierarchy ? [...options.typeHierarchy] : type === ROOT ? [ROOT] : [ROOT, type],
    properties: structuredClone(options.properties ?? {}),
  };
  const instance: InstanceContext = {
    id: options.instanceId ?? `${name}_1`,
    node: name,
    index: options.index ?? 1,
    state: options.state ?? 'uninitialized',
    hostId: options.hostId ?? null,
    containedIn: options.containedIn ?? null,
    relationships: structuredClone(options.relationships ?? []),
    runtimeProperties: structuredClone(options.runtimeProperties ?? {}),
    update: async (changes) => {
      if (changes) Object.assign(instance.runtimeProperties, changes);
      onUpdate(instance);
    },
  };
  if (options.hostIp !== undefined) instance.hostIp = options.hostIp;
  return { node, instance };
}

function without<T extends object>(value: T, keys: string[]): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([k, v]) => !keys.includes(k) && v !== undefined),
  ) as Partial<T>;
}

const CONTEXT_ONLY = [
  'deploymentId',
  'executionId',
  'workflow',
  'blueprintDir',
  'blueprintId',
  'plugin',
  'operation',
  'retryNumber',
  'maxRetries',
  'signal',
  'relationship',
];

/**
 * A complete OperationContext for calling an operation function directly in a unit test, with
 * no engine, store or deployment. It records logs, `update()` calls and `retry()` in `ctx.mock`:
 *
 * ```ts
 * const ctx = mockContext({ nodeName: 'web', properties: { port: 8080 } });
 * await start(ctx, {});
 * assert.equal(ctx.mock.runtimeProperties.pid, 1234);
 * ```
 *
 * As in the engine, ctx.operation.retry() throws OperationRetry (from @weft/sdk), and the
 * runtime properties given are copied, so the options object is never changed.
 */
export function mockContext(options: MockContextOptions = {}): MockOperationContext {
  const logs: MockLog[] = [];
  const updates: MockUpdate[] = [];
  const onUpdate = (instance: InstanceContext) => {
    updates.push({ instanceId: instance.id, runtimeProperties: structuredClone(instance.runtimeProperties) });
  };
  const controller = new AbortController();
  const relationship = options.relationship;
  const own = without(options, CONTEXT_ONLY) as MockEndOptions;
  let self: { node: NodeContext; instance: InstanceContext };
  let source: { node: NodeContext; instance: InstanceContext } | undefined;
  let target: { node: NodeContext; instance: InstanceContext } | undefined;
  if (relationship) {
    const side = relationship.side ?? 'source';
    source = end(
      side === 'source' ? { ...own, ...without(relationship.source ?? {}, []) } : (relationship.source ?? {}),
      'source_node',
      onUpdate,
    );
    target = end(
      side === 'target' ? { ...own, ...without(relationship.target ?? {}, []) } : (relationship.target ?? {}),
      'target_node',
      onUpdate,
    );
    self = side === 'source' ? source : target;
  } else {
    self = end(own, 'test_node', onUpdate);
  }
  const log =
    (level: MockLog['level']) =>
    (message: string): void => {
      logs.push({ level, message: String(message) });
    };
  const mock: MockRecord = {
    logs,
    updates,
    retried: undefined,
    get runtimeProperties() {
      return ctx.instance.runtimeProperties;
    },
    messages: (level) => logs.filter((l) => level === undefined || l.level === level).map((l) => l.message),
    abort: (reason) => controller.abort(reason ?? new Error('cancelled')),
  };
  const blueprintDir = options.blueprintDir ?? process.cwd();
  const plugin: PluginInfo = {
    name: 'plugin',
    ...options.plugin,
    workdir: options.plugin?.workdir ?? mkdtempSync(join(tmpdir(), 'weft-mock-workdir-')),
  };
  // Templates see the same names as under the engine (`ctx.instance.runtime_properties` too).
  const resources = new Resources(blueprintDir, () => ({
    deployment: ctx.deployment,
    node: ctx.node,
    instance: {
      id: ctx.instance.id,
      runtime_properties: ctx.instance.runtimeProperties,
      runtimeProperties: ctx.instance.runtimeProperties,
    },
    plugin,
  }));
  const ctx: MockOperationContext = {
    plugin,
    getResource: (path) => resources.get(path),
    getResourceAndRender: (path, variables) => resources.getAndRender(path, variables),
    renderTemplate: (text, variables) => resources.render(text, variables),
    downloadResource: (path, target) => resources.download(path, target),
    downloadResourceAndRender: (path, target, variables) =>
      resources.downloadAndRender(path, target, variables),
    deployment: { id: options.deploymentId ?? 'test_deployment' },
    execution: { id: options.executionId ?? 'test_execution', workflow: options.workflow ?? 'install' },
    blueprint: { id: options.blueprintId ?? 'test_blueprint', dir: blueprintDir },
    node: self.node,
    instance: self.instance,
    operation: {
      name:
        options.operation ??
        (relationship
          ? 'cloudify.interfaces.relationship_lifecycle.establish'
          : 'cloudify.interfaces.lifecycle.create'),
      retryNumber: options.retryNumber ?? 0,
      maxRetries: options.maxRetries ?? 5,
      retry(message: string, afterSeconds?: number): never {
        mock.retried = { message, afterSeconds };
        throw new OperationRetry(message, afterSeconds);
      },
    },
    logger: {
      debug: log('debug'),
      info: log('info'),
      warning: log('warning'),
      error: log('error'),
    },
    signal: options.signal ?? controller.signal,
    mock,
  };
  if (source && target) {
    ctx.source = source;
    ctx.target = target;
  }
  return ctx;
}
