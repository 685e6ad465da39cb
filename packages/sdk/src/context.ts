import type { Limits } from './limits.js';
import type { Json } from './workflow.js';

export interface NodeContext {
  id: string;
  name: string;
  type: string;
  /** The type and its ancestors, the type last. */
  typeHierarchy: string[];
  properties: Record<string, Json>;
}

export interface InstanceContext {
  id: string;
  node: string;
  /** 1-based position among the node's instances. */
  index: number;
  state: string;
  /** The Compute instance this one runs on, if any. */
  hostId: string | null;
  /** The instance this one is contained in, if any. */
  containedIn: string | null;
  /**
   * The IP address of the Compute instance this one runs on (or of this one, when it is a
   * Compute): its `ip` runtime property, else its node's `ip` property.
   */
  hostIp?: string;
  /** This instance's relationships, in the order the blueprint declares them. */
  relationships: RelationshipContext[];
  /** Change freely, nested values included: what changed is saved when the operation ends. */
  runtimeProperties: Record<string, Json>;
  /** Merges `changes` (when given) into the runtime properties, then saves them now. */
  update(changes?: Record<string, Json>): Promise<void>;
}

export interface RelationshipContext {
  /** The relationship type, e.g. `cloudify.relationships.connected_to`. */
  type: string;
  /** The type and its ancestors, the type last. */
  typeHierarchy: string[];
  /**
   * The target: its node, and its instance as the operation started (runtime properties are a
   * copy: to change them, use a relationship operation's ctx.target).
   */
  target: { node: NodeContext; instance: { id: string; runtimeProperties: Record<string, Json> } };
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

export interface PluginInfo {
  /** The plugin's name in the blueprint (the prefix of `plugin.function`). */
  name: string;
  packageName?: string;
  packageVersion?: string;
  /** Where the plugin's code is installed. */
  prefix?: string;
  /** A directory for this deployment and plugin, created on first use; not migrated or backed up. */
  workdir: string;
}

/** What an operation receives as its first argument. */
export interface OperationContext {
  plugin: PluginInfo;
  /** A resource of the blueprint (a path relative to its directory), as bytes. */
  getResource(path: string): Promise<Buffer>;
  /** A resource rendered as a Jinja-style template with `ctx` and the given variables. */
  getResourceAndRender(path: string, variables?: Record<string, unknown>): Promise<string>;
  /**
   * Renders text as a Jinja2 template (with `ctx` and the variables), as Cloudify's templates are
   * written: Python's None/True/False, `d.items()`, `s.upper()`, filters such as tojson.
   */
  renderTemplate(text: string, variables?: Record<string, unknown>): string;
  /** Copies a resource to `target` (default: a new temporary directory); returns the path written. */
  downloadResource(path: string, target?: string): Promise<string>;
  /** Renders a resource (when it holds `{{`, `{%` or `{#`) and writes it to `target`; returns the path. */
  downloadResourceAndRender(
    path: string,
    target?: string,
    variables?: Record<string, unknown>,
  ): Promise<string>;
  deployment: { id: string };
  execution: { id: string; workflow: string };
  /** The blueprint's name (its directory's name) and the directory its resources are read from. */
  blueprint: { id: string; dir: string };
  node: NodeContext;
  instance: InstanceContext;
  /** The instance this one is contained in (its host), when it has one. */
  host?: { node: NodeContext; instance: InstanceContext };
  /** Relationship operations: both ends. */
  source?: { node: NodeContext; instance: InstanceContext };
  target?: { node: NodeContext; instance: InstanceContext };
  operation: {
    /** Full name, e.g. `cloudify.interfaces.lifecycle.create`. */
    name: string;
    /** 0 on the first run. */
    retryNumber: number;
    /** -1 for unlimited. */
    maxRetries: number;
    /** Ends the operation; it runs again after `afterSeconds` (counts against maxRetries). */
    retry(message: string, afterSeconds?: number): never;
  };
  logger: Logger;
  /** Fires when the operation is cancelled or times out. */
  signal: AbortSignal;
  /** The most the engine stores of what the operation hands back; over them, it fails (LimitError). */
  limits: Limits;
}

export type OperationFunction<Inputs = Record<string, Json>> = (
  ctx: OperationContext,
  inputs: Inputs,
) => unknown;

export interface OperationOptions {
  /** Safe to run again after a crash that interrupted it (it must be idempotent). */
  resumable?: boolean;
}

/** Declares an operation: `export const create = operation(async (ctx, inputs) => {...}, { resumable: true })`. */
export function operation<Inputs = Record<string, Json>>(
  fn: OperationFunction<Inputs>,
  options: OperationOptions = {},
): OperationFunction<Inputs> & { resumable: boolean } {
  return Object.assign((ctx: OperationContext, inputs: Inputs) => fn(ctx, inputs), {
    resumable: options.resumable === true,
  });
}
