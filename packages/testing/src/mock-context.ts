import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type OperationContextSource, operationContext } from '@weft/engine';
import type { Json, NodeContext, OperationContext, PluginInfo, RelationshipContext } from '@weft/sdk';

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
  /** ctx.host: the instance this one is contained in (node name default `host_node`). Default: none. */
  host?: MockEndOptions;
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

/** One end's node and instance, from the options and their defaults. */
type Side = NonNullable<OperationContextSource['host']>;

function end(options: MockEndOptions, fallbackName: string): Side {
  const name = options.nodeName ?? options.nodeId ?? fallbackName;
  const type = options.nodeType ?? ROOT;
  const node: NodeContext = {
    id: options.nodeId ?? name,
    name,
    type,
    typeHierarchy: options.typeHierarchy ? [...options.typeHierarchy] : type === ROOT ? [ROOT] : [ROOT, type],
    properties: structuredClone(options.properties ?? {}),
  };
  const instance: Side['instance'] = {
    id: options.instanceId ?? `${name}_1`,
    node: name,
    index: options.index ?? 1,
    state: options.state ?? 'uninitialized',
    hostId: options.hostId ?? null,
    containedIn: options.containedIn ?? null,
    relationships: structuredClone(options.relationships ?? []),
    runtimeProperties: options.runtimeProperties ?? {},
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
  'host',
];

/** The operation's own end and, for a relationship operation, both ends. */
function ends(options: MockContextOptions): {
  self: Side;
  relationship?: OperationContextSource['relationship'];
} {
  const own = without(options, CONTEXT_ONLY) as MockEndOptions;
  const relationship = options.relationship;
  if (!relationship) return { self: end(own, 'test_node') };
  const side = relationship.side ?? 'source';
  const source = end(
    side === 'source' ? { ...own, ...without(relationship.source ?? {}, []) } : (relationship.source ?? {}),
    'source_node',
  );
  const target = end(
    side === 'target' ? { ...own, ...without(relationship.target ?? {}, []) } : (relationship.target ?? {}),
    'target_node',
  );
  return { self: side === 'source' ? source : target, relationship: { side, source, target } };
}

/**
 * A complete OperationContext for calling an operation function directly in a unit test, with
 * no engine, store or deployment: the engine's own ctx (operationContext), built from the
 * options. It records logs, `update()` calls and `retry()` in `ctx.mock`:
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
  const controller = new AbortController();
  const { self, relationship } = ends(options);
  const source: OperationContextSource = {
    deploymentId: options.deploymentId ?? 'test_deployment',
    blueprintId: options.blueprintId ?? 'test_blueprint',
    blueprintDir: options.blueprintDir ?? process.cwd(),
    plugin: {
      name: 'plugin',
      ...options.plugin,
      workdir: options.plugin?.workdir ?? mkdtempSync(join(tmpdir(), 'weft-mock-workdir-')),
    },
    executionId: options.executionId ?? 'test_execution',
    workflow: options.workflow ?? 'install',
    operation:
      options.operation ??
      (relationship
        ? 'cloudify.interfaces.relationship_lifecycle.establish'
        : 'cloudify.interfaces.lifecycle.create'),
    retryNumber: options.retryNumber ?? 0,
    maxRetries: options.maxRetries ?? 5,
    signal: options.signal ?? controller.signal,
    node: self.node,
    instance: self.instance,
    update: async (instanceId, runtimeProperties) => {
      updates.push({ instanceId, runtimeProperties: structuredClone(runtimeProperties) });
    },
    log: (level, message) => {
      logs.push({ level, message: String(message) });
    },
    onRetry: (message, afterSeconds) => {
      mock.retried = { message, afterSeconds };
    },
  };
  if (relationship) source.relationship = relationship;
  if (options.host) source.host = end(options.host, 'host_node');
  const { ctx } = operationContext(source);
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
  return Object.assign(ctx, { mock });
}
