import {
  type InstanceContext,
  type Json,
  type NodeContext,
  type OperationContext,
  runtimePropertiesOverLimit,
} from '@weft/sdk';
import { Callable, CtxRequestError, MapRef, Namespace } from './ctx-request.js';

/** How a script asked its operation to end, whatever its exit code. */
export type Stop =
  | { kind: 'retry'; message: string; after?: number }
  | { kind: 'abort'; message: string }
  /** A Python script raised RecoverableError: a failed attempt, retried. */
  | { kind: 'error'; message: string; after?: number };

/** What a script leaves behind through ctx besides runtime properties. */
export interface ScriptState {
  stop?: Stop;
  returned?: Json;
  /** The script already called returns, abort_operation or retry_operation. */
  ended?: boolean;
}

const ONCE = 'ctx may only abort or return once';

/** returns, abort_operation and retry_operation end the script's work: a second one aborts (as Cloudify). */
function endOnce(state: ScriptState): void {
  if (state.ended) {
    state.stop = { kind: 'abort', message: ONCE };
    throw new CtxRequestError(ONCE);
  }
  state.ended = true;
}

function nodeNamespace(node: NodeContext): Namespace {
  return new Namespace({
    id: node.id,
    name: node.name,
    type: node.type,
    type_hierarchy: node.typeHierarchy,
    properties: new MapRef(node.properties, 'node properties', false),
  });
}

/**
 * Runtime properties a write would take over the size limit: the write is refused (the ctx call
 * fails), and the operation fails with that error however the script ends, as the engine would
 * refuse to store them anyway.
 */
function sizeCheck(ctx: OperationContext, state: ScriptState, instanceId: string) {
  return (value: Record<string, Json>) => {
    const error = runtimePropertiesOverLimit(instanceId, value, ctx.limits.runtimePropertiesBytes);
    if (!error) return;
    state.stop = { kind: 'abort', message: error.message };
    throw error;
  };
}

function instanceNamespace(
  instance: InstanceContext,
  check: (value: Record<string, Json>) => void,
): Namespace {
  return new Namespace({
    id: instance.id,
    index: instance.index,
    host_ip: instance.hostIp ?? null,
    runtime_properties: new MapRef(instance.runtimeProperties, 'runtime properties', true, check),
    relationships: instance.relationships.map((r) => ({
      type: r.type,
      type_hierarchy: r.typeHierarchy,
      target: {
        node: {
          id: r.target.node.id,
          name: r.target.node.name,
          type: r.target.node.type,
          type_hierarchy: r.target.node.typeHierarchy,
          properties: r.target.node.properties,
        },
        instance: { id: r.target.instance.id, runtime_properties: r.target.instance.runtimeProperties },
      },
    })),
    update: new Callable('update', [], async () => {
      await instance.update();
      return null;
    }),
  });
}

const text = (value: Json | undefined): string =>
  value === undefined || value === null ? '' : String(value);

function seconds(value: Json | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new CtxRequestError(`retry_after must be a number of seconds, got ${JSON.stringify(value)}`);
  return n;
}

function variables(value: Json | undefined): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw new CtxRequestError(
      `template_variables must be a map (give it as @'{"template_variables": {...}}')`,
    );
  return value;
}

/**
 * The ctx a script reaches through the `ctx` command and the Python module, with Cloudify's
 * names: node, instance, deployment, blueprint, operation, logger, plugin, resources, source and
 * target (relationship operations), and the script-only returns / retry_operation / abort_operation.
 */
/** Where downloaded resources go, when not to this machine (a remote host): returns the path written. */
export type Download = (
  path: string,
  target: string | undefined,
  variables: Record<string, unknown> | undefined,
  render: boolean,
) => Promise<string>;

export function ctxTree(
  ctx: OperationContext,
  state: ScriptState,
  inputs: Record<string, Json>,
  download: Download = (path, target, vars, render) =>
    render ? ctx.downloadResourceAndRender(path, target, vars) : ctx.downloadResource(path, target),
): Namespace {
  const retry = new Callable('retry', ['message', 'retry_after'], ([message, after]) => {
    const stop: Stop = { kind: 'retry', message: text(message) };
    const wait = seconds(after);
    if (wait !== undefined) stop.after = wait;
    state.stop = stop;
    return null;
  });
  const log = (level: 'debug' | 'info' | 'warning' | 'error') =>
    new Callable(
      level,
      ['message', 'arg1', 'arg2', 'arg3', 'arg4', 'arg5'],
      (parts) => {
        ctx.logger[level](parts.map(text).join(' '));
        return null;
      },
      1,
    );
  const members: Record<string, Namespace | MapRef | Callable | Json> = {
    type: ctx.source ? 'relationship-instance' : 'node-instance',
    execution_id: ctx.execution.id,
    workflow_id: ctx.execution.workflow,
    tenant_name: 'default_tenant',
    node: nodeNamespace(ctx.node),
    instance: instanceNamespace(ctx.instance, sizeCheck(ctx, state, ctx.instance.id)),
    deployment: new Namespace({ id: ctx.deployment.id }),
    blueprint: new Namespace({ id: ctx.blueprint.id }),
    operation: new Namespace({
      name: ctx.operation.name,
      retry_number: ctx.operation.retryNumber,
      max_retries: ctx.operation.maxRetries,
      inputs: new MapRef(inputs, 'operation inputs', false),
      retry,
    }),
    logger: new Namespace({
      debug: log('debug'),
      info: log('info'),
      warning: log('warning'),
      warn: log('warning'),
      error: log('error'),
      critical: log('error'),
    }),
    plugin: new Namespace({
      name: ctx.plugin.name,
      package_name: ctx.plugin.packageName ?? null,
      package_version: ctx.plugin.packageVersion ?? null,
      prefix: ctx.plugin.prefix ?? null,
      workdir: ctx.plugin.workdir,
    }),
    download_resource: new Callable(
      'download_resource',
      ['resource_path', 'target_path'],
      ([path, target]) => download(text(path), target ? text(target) : undefined, undefined, false),
      1,
    ),
    download_resource_and_render: new Callable(
      'download_resource_and_render',
      ['resource_path', 'target_path', 'template_variables'],
      ([path, target, vars]) =>
        download(text(path), target ? text(target) : undefined, variables(vars), true),
      1,
    ),
    get_resource: new Callable(
      'get_resource',
      ['resource_path'],
      async ([path]) => (await ctx.getResource(text(path))).toString('utf8'),
      1,
    ),
    get_resource_and_render: new Callable(
      'get_resource_and_render',
      ['resource_path', 'template_variables'],
      ([path, vars]) => ctx.getResourceAndRender(text(path), variables(vars)),
      1,
    ),
    returns: new Callable(
      'returns',
      ['value'],
      ([value]) => {
        endOnce(state);
        state.returned = value ?? null;
        return null;
      },
      1,
    ),
    retry_operation: new Callable('retry_operation', ['message', 'retry_after'], (args) => {
      endOnce(state);
      retry.implementation(args);
      return state.stop;
    }),
    abort_operation: new Callable('abort_operation', ['message'], ([message]) => {
      endOnce(state);
      state.stop = { kind: 'abort', message: text(message) };
      return state.stop;
    }),
    // Used by the Python runner when a script raises RecoverableError.
    _recoverable: new Callable('_recoverable', ['message', 'retry_after'], ([message, after]) => {
      const stop: Stop = { kind: 'error', message: text(message) };
      const wait = seconds(after);
      if (wait !== undefined) stop.after = wait;
      state.stop = stop;
      return null;
    }),
  };
  for (const side of ['source', 'target'] as const) {
    const end = ctx[side];
    if (end)
      members[side] = new Namespace({
        node: nodeNamespace(end.node),
        instance: instanceNamespace(end.instance, sizeCheck(ctx, state, end.instance.id)),
      });
  }
  return new Namespace(members);
}
