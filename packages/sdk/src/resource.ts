import { type OperationContext, type OperationFunction, operation } from './context.js';
import { NonRecoverableError } from './errors.js';
import {
  type AttributesSchema,
  checkSchema,
  formatProblem,
  jsonEqual,
  type Problem,
  type PropertiesSchema,
  validateProperties,
} from './schema.js';
import type { Json } from './workflow.js';

/** What happens to the physical resource when its node instance is deleted (Heat's deletion_policy). */
export type DeletionPolicy = 'Delete' | 'Retain' | 'Snapshot';

export type ResourceAction = 'CREATE' | 'UPDATE' | 'DELETE' | 'SUSPEND' | 'RESUME';

/** A resource's state as Heat reports it: the last action and how it went. */
export interface ResourceState {
  action: ResourceAction;
  status: 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';
  reason?: string;
}

/** What a handle* method returns for its check*Complete to poll with; stored in runtime properties, so JSON. */
export type Token = Json | undefined;

/** The resource's new definition, as handleUpdate receives it (Heat's json_snippet). */
export interface ResourceDefinition {
  type: string;
  properties: Record<string, Json>;
}

/** The sections of the definition that changed, with their new values (Heat's templ_diff). */
export interface TemplateDiff {
  properties?: Record<string, Json>;
}

/** Changed properties with their new values; a property that is no longer set is null (Heat's prop_diff). */
export type PropertyDiff = Record<string, Json>;

/** The runtime property holding the resource's bookkeeping (state, properties, poll state). */
export const RESOURCE_STATE_KEY = 'heat';
/** The runtime property holding the resource id. */
export const RESOURCE_ID_KEY = 'resource_id';
/** The node property that may choose the deletion policy per node (Delete, Retain or Snapshot). */
export const DELETION_POLICY_PROPERTY = 'deletion_policy';

/**
 * Thrown by handleUpdate when a change cannot be applied in place: the resource is replaced
 * instead (deleted, then created with the new properties). The default handleUpdate throws it.
 */
export class UpdateReplace extends Error {
  constructor(message = 'the resource must be replaced') {
    super(message);
    this.name = 'UpdateReplace';
  }
}

/** Properties that fail validation: every problem, each as `path: problem`. */
export class PropertiesError extends NonRecoverableError {
  readonly problems: Problem[];
  constructor(subject: string, problems: Problem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`${subject}: ${count}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, {
      causes: problems.map((p) => ({ type: 'PropertyError', message: formatProblem(p) })),
    });
    this.problems = problems;
  }
}

/**
 * A Heat-style resource plug-in. Extend it, declare `static override properties` (with
 * `satisfies PropertiesSchema`) and `static override attributes` (and `static override validate`
 * for checks across properties), implement handleCreate and the handlers the resource supports,
 * then export the operations of {@link resourceOperations}.
 *
 * Each handle* method starts an action and returns a token (JSON); the matching check*Complete
 * is polled with it until it returns true. Between polls the operation ends and the engine runs
 * it again on its retry timer, so a slow resource holds no worker slot, and the token is kept in
 * runtime properties, so polling survives a crash.
 */
export abstract class Resource<P extends object = Record<string, Json>> {
  /** The properties schema (Heat's properties_schema). */
  static properties: PropertiesSchema = {};
  /** Attribute name -> description (Heat's attributes_schema); values come from resolveAttribute. */
  static attributes: AttributesSchema = {};
  /** The deletion policy unless the node's `deletion_policy` property or the operations' options say otherwise. */
  static deletionPolicy: DeletionPolicy = 'Delete';
  /**
   * Seconds between check*Complete polls. Each poll is a retry of the operation, so a resource
   * that takes long needs its operations declared with enough `max_retries` (-1: no limit, with
   * a `timeout`); when retries run out the operation fails saying so.
   */
  static pollInterval = 5;

  /**
   * Checks across properties (Heat's validate), such as "the minimums together must fit in the
   * length": its problems are reported with the schema's, all at once, before create or update
   * does anything. It gets the values as the schema validated them (defaults applied) even when
   * the schema found problems, so check the type of what you read: a value of the wrong type is
   * missing, one that breaks a constraint is there. A throw is reported as a problem too.
   */
  static validate(_properties: Record<string, Json>): Problem[] | Promise<Problem[]> {
    return [];
  }

  readonly ctx: OperationContext;
  /** The validated properties, defaults applied. */
  readonly properties: P;

  constructor(ctx: OperationContext, properties: P) {
    this.ctx = ctx;
    this.properties = properties;
  }

  /** The physical resource's id; kept in the `resource_id` runtime property. */
  get resourceId(): string | null {
    const id = this.ctx.instance.runtimeProperties[RESOURCE_ID_KEY];
    return typeof id === 'string' ? id : null;
  }

  set resourceId(id: string | null) {
    this.ctx.instance.runtimeProperties[RESOURCE_ID_KEY] = id;
  }

  /** The resource's state (last action and its status), if it was ever acted on. */
  get state(): ResourceState | undefined {
    const record = this.ctx.instance.runtimeProperties[RESOURCE_STATE_KEY] as HeatRecord | undefined;
    return record?.state ? { ...record.state } : undefined;
  }

  /** Starts creating the physical resource; set resourceId as soon as it is known. */
  abstract handleCreate(): Token | Promise<Token>;

  checkCreateComplete(_token: Json): boolean | Promise<boolean> {
    return true;
  }

  /** Applies changed updateAllowed properties. The default throws UpdateReplace: the resource is replaced. */
  handleUpdate(
    _snippet: ResourceDefinition,
    _templateDiff: TemplateDiff,
    _propertyDiff: PropertyDiff,
  ): Token | Promise<Token> {
    throw new UpdateReplace(`${this.constructor.name} cannot be updated in place`);
  }

  checkUpdateComplete(_token: Json): boolean | Promise<boolean> {
    return true;
  }

  handleSuspend(): Token | Promise<Token> {
    return undefined;
  }

  checkSuspendComplete(_token: Json): boolean | Promise<boolean> {
    return true;
  }

  handleResume(): Token | Promise<Token> {
    return undefined;
  }

  checkResumeComplete(_token: Json): boolean | Promise<boolean> {
    return true;
  }

  handleDelete(): Token | Promise<Token> {
    return undefined;
  }

  /**
   * Called instead of handleDelete under the Snapshot deletion policy: back the resource up, then
   * delete it. checkDeleteComplete polls its token. Implement it to allow that policy.
   */
  handleSnapshotDelete(_state: ResourceState): Token | Promise<Token> {
    throw new NonRecoverableError(`${this.constructor.name} does not support the Snapshot deletion policy`);
  }

  checkDeleteComplete(_token: Json): boolean | Promise<boolean> {
    return true;
  }

  /** The value of an attribute named in `static attributes`; undefined when unknown (stored as null). */
  resolveAttribute(_name: string): Json | undefined | Promise<Json | undefined> {
    return undefined;
  }
}

/** What {@link resourceOperations} needs of a Resource subclass. */
export interface ResourceClass<R extends Resource<object> = Resource<object>> {
  new (ctx: OperationContext, properties: never): R;
  readonly name: string;
  readonly prototype: R;
  properties: PropertiesSchema;
  attributes: AttributesSchema;
  deletionPolicy: DeletionPolicy;
  pollInterval: number;
  validate(properties: Record<string, Json>): Problem[] | Promise<Problem[]>;
}

export interface ResourceOperationsOptions {
  /** Seconds between polls; default the class's `pollInterval` (5). */
  pollInterval?: number;
  /** Overrides the class's `deletionPolicy`; a node's `deletion_policy` property overrides both. */
  deletionPolicy?: DeletionPolicy;
  /**
   * Node properties the schema does not name (such as `use_external_resource`, which every node
   * type inherits from cloudify.nodes.Root): `ignore` (the default) leaves them out of
   * this.properties and of update's diff; `error` reports each as Heat does. The blueprint
   * validator already rejects properties the node type does not declare.
   */
  unknownProperties?: 'error' | 'ignore';
  /** Write every attribute into runtime properties after create, update and replace. Default true. */
  refreshAttributes?: boolean;
}

/** The operations to export from a plugin module and name in the blueprint's interfaces. */
export interface ResourceOperations {
  /**
   * Validates the properties, handleCreate, then polls checkCreateComplete. `checkProperties`
   * gives the problems create would find with a node's properties (of a node of the given type
   * hierarchy), without creating anything: `weft validate` reports them.
   */
  create: OperationFunction & {
    resumable: boolean;
    checkProperties(properties: Record<string, Json>, typeHierarchy?: string[]): Promise<Problem[]>;
  };
  /** handleDelete (or handleSnapshotDelete, or nothing under Retain), then polls checkDeleteComplete. */
  delete: OperationFunction & { resumable: boolean };
  /**
   * Applies new properties: the `properties` input (the properties to change, laid over those the
   * resource has now), else the node's properties. In place through handleUpdate when every
   * changed property is updateAllowed, else by replacing the resource.
   */
  update: OperationFunction & { resumable: boolean };
  suspend: OperationFunction & { resumable: boolean };
  resume: OperationFunction & { resumable: boolean };
  /** Writes resolveAttribute's value of every attribute (or of the `names` input) into runtime properties. */
  attributes: OperationFunction & { resumable: boolean };
}

type Phase = 'queued' | 'handling' | 'polling';

interface Pending {
  action: ResourceAction;
  phase: Phase;
  token?: Json;
  /** Under DELETE: the policy the deletion started with. */
  policy?: DeletionPolicy;
  /** Under UPDATE: the new properties. */
  properties?: Record<string, Json>;
  /** Part of a replacement: the new properties. */
  replace?: Record<string, Json>;
}

interface HeatRecord {
  state?: ResourceState;
  /** The properties the resource was created (or last updated) with, validated. */
  properties?: Record<string, Json>;
  pending?: Pending;
}

const POLICIES: readonly DeletionPolicy[] = ['Delete', 'Retain', 'Snapshot'];

function parsePolicy(value: Json | undefined): DeletionPolicy | undefined {
  if (typeof value !== 'string') return undefined;
  return POLICIES.find((p) => p.toLowerCase() === value.toLowerCase());
}

const VERB: Record<ResourceAction, string> = {
  CREATE: 'created',
  UPDATE: 'updated',
  DELETE: 'deleted',
  SUSPEND: 'suspended',
  RESUME: 'resumed',
};

const HANDLER: Record<ResourceAction, string> = {
  CREATE: 'handleCreate',
  UPDATE: 'handleUpdate',
  DELETE: 'handleDelete',
  SUSPEND: 'handleSuspend',
  RESUME: 'handleResume',
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The lifecycle operations of a Heat-style resource class, to export from a plugin module:
 *
 * ```ts
 * const ops = resourceOperations(Server);
 * export const { create, update, suspend, resume, attributes } = ops;
 * export const remove = ops.delete; // `delete` is a reserved word: name it in plugin.yaml as remove
 * ```
 *
 * The state kept between runs lives in the `heat` runtime property (state, the properties the
 * resource was created with, and any unfinished action with its token) and the resource id in
 * `resource_id`; attributes are written as runtime properties of their own name, for get_attribute.
 */
export function resourceOperations<R extends Resource<object>>(
  cls: ResourceClass<R>,
  options: ResourceOperationsOptions = {},
): ResourceOperations {
  const name = cls.name;
  const interval = (): number => options.pollInterval ?? cls.pollInterval;
  const schemaProblems = checkSchema(cls.properties);
  for (const attribute of Object.keys(cls.attributes)) {
    if (attribute === RESOURCE_STATE_KEY || attribute === RESOURCE_ID_KEY) {
      schemaProblems.push({ path: `attributes.${attribute}`, message: 'this name is reserved' });
    }
  }
  const supportsSnapshot = cls.prototype.handleSnapshotDelete !== Resource.prototype.handleSnapshotDelete;

  const record = (ctx: OperationContext): HeatRecord => {
    const rp = ctx.instance.runtimeProperties;
    const existing = rp[RESOURCE_STATE_KEY];
    if (existing && typeof existing === 'object' && !Array.isArray(existing)) return existing as HeatRecord;
    const fresh: HeatRecord = {};
    rp[RESOURCE_STATE_KEY] = fresh as unknown as Json;
    return fresh;
  };

  const make = (ctx: OperationContext, properties: Record<string, Json>): R =>
    new (cls as unknown as new (ctx: OperationContext, p: Record<string, Json>) => R)(
      ctx,
      structuredClone(properties),
    );

  const policyOf = (ctx: OperationContext): DeletionPolicy => {
    const fromNode = ctx.node.properties[DELETION_POLICY_PROPERTY];
    if (fromNode !== undefined && fromNode !== null) {
      const parsed = parsePolicy(fromNode);
      if (!parsed) {
        throw new NonRecoverableError(`${name}: deletion_policy must be one of ${POLICIES.join(', ')}`);
      }
      return parsed;
    }
    return options.deletionPolicy ?? cls.deletionPolicy ?? 'Delete';
  };

  /** The class's checks across properties (Resource.validate). */
  const crossChecks = async (values: Record<string, Json>): Promise<Problem[]> => {
    try {
      return await cls.validate(values);
    } catch (error) {
      return [{ path: '', message: `${name}.validate failed: ${messageOf(error)}` }];
    }
  };

  const validate = async (
    ctx: OperationContext,
    given: Record<string, Json>,
  ): Promise<Record<string, Json>> => {
    if (schemaProblems.length > 0) {
      throw new NonRecoverableError(
        `${name} has an invalid properties schema (a plugin bug):\n${schemaProblems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
      );
    }
    const { values, problems } = await problemsWith(given);
    if (problems.length > 0)
      throw new PropertiesError(`invalid properties for ${name} ${ctx.instance.id}`, problems);
    return values;
  };

  /** The properties validated, and every problem with them (the schema's and the class's own checks). */
  const problemsWith = async (
    given: Record<string, Json>,
  ): Promise<{ values: Record<string, Json>; problems: Problem[] }> => {
    const { values, problems } = await validateProperties(cls.properties, given, {
      unknown: options.unknownProperties ?? 'ignore',
      reserved: [DELETION_POLICY_PROPERTY],
    });
    problems.push(...(await crossChecks(structuredClone(values))));
    const policy = given[DELETION_POLICY_PROPERTY];
    const parsed = parsePolicy(policy);
    if (policy !== undefined && policy !== null && !parsed) {
      problems.push({ path: DELETION_POLICY_PROPERTY, message: `must be one of ${POLICIES.join(', ')}` });
    } else if ((parsed ?? options.deletionPolicy ?? cls.deletionPolicy) === 'Snapshot' && !supportsSnapshot) {
      problems.push({
        path: DELETION_POLICY_PROPERTY,
        message: `Snapshot is not supported by ${name} (it has no handleSnapshotDelete)`,
      });
    }
    return { values, problems };
  };

  const refresh = async (ctx: OperationContext, resource: R, names?: string[]): Promise<void> => {
    for (const attribute of names ?? Object.keys(cls.attributes)) {
      const value = await resource.resolveAttribute(attribute);
      ctx.instance.runtimeProperties[attribute] = value === undefined ? null : value;
    }
  };

  /**
   * One handle/check pair: handle once (its token saved before the first poll), then one poll
   * per run of the operation until done; while not done, the operation ends with a retry.
   */
  const run = async (
    ctx: OperationContext,
    action: ResourceAction,
    handle: () => Token | Promise<Token>,
    check: (token: Json) => boolean | Promise<boolean>,
    extra: Omit<Pending, 'action' | 'phase' | 'token'> = {},
  ): Promise<void> => {
    const heat = record(ctx);
    const pending = heat.pending;
    let token: Json;
    if (pending?.action === action && pending.phase === 'polling') {
      token = pending.token ?? null;
    } else {
      if (pending?.action === action && pending.phase === 'handling') {
        ctx.logger.warning(`an earlier ${HANDLER[action]} of ${name} was interrupted; running it again`);
      }
      heat.pending = { ...extra, action, phase: 'handling' };
      heat.state = { action, status: 'IN_PROGRESS' };
      await ctx.instance.update();
      let returned: Token;
      try {
        returned = await handle();
      } catch (error) {
        delete heat.pending;
        heat.state = { action, status: 'FAILED', reason: messageOf(error) };
        throw error;
      }
      token = returned === undefined ? null : returned;
      heat.pending = { ...extra, action, phase: 'polling', token };
      await ctx.instance.update();
    }
    let done: boolean;
    try {
      done = await check(structuredClone(token));
    } catch (error) {
      // A recoverable failure keeps the token: the retried operation polls again.
      if (error instanceof NonRecoverableError) delete heat.pending;
      heat.state = { action, status: 'FAILED', reason: messageOf(error) };
      throw error;
    }
    if (!done) {
      // Each poll is a retry of the operation: when they run out, say so, not "waiting".
      const { retryNumber, maxRetries } = ctx.operation;
      if (maxRetries >= 0 && retryNumber >= maxRetries) {
        heat.state = { action, status: 'FAILED', reason: 'timed out' };
        throw new NonRecoverableError(
          `${name} was not ${VERB[action]} after ${retryNumber + 1} polls ${interval()} s apart: the operation's retries ran out (give it max_retries: -1 and a timeout to poll for longer)`,
        );
      }
      ctx.operation.retry(`waiting for ${name} to be ${VERB[action]}`, interval());
    }
    delete heat.pending;
    heat.state = { action, status: 'COMPLETE' };
  };

  const exists = (heat: HeatRecord): boolean => {
    const s = heat.state;
    if (!s || heat.properties === undefined) return false;
    if (s.action === 'DELETE') return s.status !== 'COMPLETE';
    if (s.action === 'CREATE') return s.status === 'COMPLETE';
    return true;
  };

  /** Deletes the resource per the policy; under `replace`, goes on to create its successor. */
  const remove = async (ctx: OperationContext, replace?: Record<string, Json>): Promise<void> => {
    const heat = record(ctx);
    let policy: DeletionPolicy;
    if (heat.pending?.action === 'DELETE' && heat.pending.policy) {
      policy = heat.pending.policy;
    } else {
      policy = policyOf(ctx);
    }
    const resource = make(ctx, heat.properties ?? {});
    const label = resource.resourceId ? `${name} ${resource.resourceId}` : name;
    if (policy === 'Retain') {
      ctx.logger.info(`retaining ${label} (deletion policy Retain): it is left in place`);
      delete heat.pending;
      heat.state = { action: 'DELETE', status: 'COMPLETE', reason: 'retained' };
      return;
    }
    const initial: ResourceState = heat.state ? { ...heat.state } : { action: 'CREATE', status: 'COMPLETE' };
    const extra: Omit<Pending, 'action' | 'phase' | 'token'> = { policy };
    if (replace) extra.replace = replace;
    if (!(heat.pending?.action === 'DELETE')) {
      ctx.logger.info(
        policy === 'Snapshot'
          ? `deleting ${label} after a snapshot (deletion policy Snapshot)`
          : `deleting ${label}`,
      );
    }
    await run(
      ctx,
      'DELETE',
      () => (policy === 'Snapshot' ? resource.handleSnapshotDelete(initial) : resource.handleDelete()),
      (token) => resource.checkDeleteComplete(token),
      extra,
    );
    ctx.logger.info(`${label} deleted`);
  };

  const create = async (ctx: OperationContext, properties: Record<string, Json>, extra = {}): Promise<R> => {
    const heat = record(ctx);
    heat.properties = properties;
    const resource = make(ctx, properties);
    await run(
      ctx,
      'CREATE',
      () => resource.handleCreate(),
      (token) => resource.checkCreateComplete(token),
      extra,
    );
    ctx.logger.info(`${name} created${resource.resourceId ? ` (resource id ${resource.resourceId})` : ''}`);
    return resource;
  };

  /** Replacement: delete the old resource (per its policy), then create one with the new properties. */
  const replace = async (ctx: OperationContext, properties: Record<string, Json>): Promise<void> => {
    const heat = record(ctx);
    const creating = heat.pending?.action === 'CREATE' && heat.pending.replace !== undefined;
    if (!creating) {
      await remove(ctx, properties);
      // Hand over to the create step in the same save, so a crash cannot delete twice.
      heat.properties = properties;
      heat.pending = { action: 'CREATE', phase: 'queued', replace: properties };
      ctx.instance.runtimeProperties[RESOURCE_ID_KEY] = null;
      await ctx.instance.update();
    }
    const resource = await create(ctx, properties, { replace: properties });
    heat.state = { action: 'UPDATE', status: 'COMPLETE', reason: 'replaced' };
    if (options.refreshAttributes !== false) await refresh(ctx, resource);
    ctx.logger.info(`${name} replaced`);
  };

  const wasStarted = (heat: HeatRecord, action: ResourceAction): boolean =>
    heat.pending?.action === action && heat.pending.replace === undefined;

  const createOp = async (ctx: OperationContext): Promise<void> => {
    const heat = record(ctx);
    if (heat.pending?.action === 'CREATE') {
      const resource = await create(ctx, heat.pending.replace ?? heat.properties ?? {}, {
        ...(heat.pending.replace ? { replace: heat.pending.replace } : {}),
      });
      if (options.refreshAttributes !== false) await refresh(ctx, resource);
      return;
    }
    if (heat.pending) {
      throw new NonRecoverableError(
        `${name} ${ctx.instance.id} has an unfinished ${heat.pending.action.toLowerCase()}; finish it (run that operation again) first`,
      );
    }
    if (exists(heat)) {
      ctx.logger.info(`${name} ${ctx.instance.id} already exists; nothing to create`);
      return;
    }
    const properties = await validate(ctx, ctx.node.properties);
    if (heat.state?.action === 'DELETE') ctx.instance.runtimeProperties[RESOURCE_ID_KEY] = null;
    ctx.logger.info(`creating ${name} ${ctx.instance.id}`);
    const resource = await create(ctx, properties);
    if (options.refreshAttributes !== false) await refresh(ctx, resource);
  };

  const deleteOp = async (ctx: OperationContext): Promise<void> => {
    const heat = record(ctx);
    const pending = heat.pending;
    if (pending && pending.action !== 'DELETE') {
      ctx.logger.warning(`abandoning the unfinished ${pending.action.toLowerCase()} of ${name} to delete it`);
      delete heat.pending;
      if (pending.action === 'CREATE' && pending.replace) {
        // The old resource is gone already; the new one may be half made.
        heat.properties = pending.replace;
      }
    } else if (!pending && (!heat.state || heat.properties === undefined)) {
      ctx.logger.info(`${name} ${ctx.instance.id} was never created; nothing to delete`);
      return;
    } else if (!pending && heat.state?.action === 'DELETE' && heat.state.status === 'COMPLETE') {
      ctx.logger.info(`${name} ${ctx.instance.id} is already deleted`);
      return;
    }
    await remove(ctx);
  };

  const updateOp = async (ctx: OperationContext, inputs: Record<string, Json>): Promise<void> => {
    const heat = record(ctx);
    const pending = heat.pending;
    if (pending?.replace !== undefined) {
      ctx.logger.info(`continuing the replacement of ${name} ${ctx.instance.id}`);
      await replace(ctx, pending.replace);
      return;
    }
    if (pending?.action === 'UPDATE' && pending.properties) {
      await updateInPlace(ctx, pending.properties);
      return;
    }
    if (pending) {
      throw new NonRecoverableError(
        `${name} ${ctx.instance.id} has an unfinished ${pending.action.toLowerCase()}; finish it first`,
      );
    }
    if (!exists(heat))
      throw new NonRecoverableError(`${name} ${ctx.instance.id} cannot be updated: it does not exist`);
    if (heat.state?.action === 'SUSPEND') {
      throw new NonRecoverableError(`${name} ${ctx.instance.id} is suspended; resume it before updating it`);
    }
    // The properties to change, laid over those the resource has now (Heat's template diff).
    const given = inputs?.properties;
    if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
      throw new NonRecoverableError(
        `update's properties input must be a map of the properties to change, not ${Array.isArray(given) ? 'a list' : `a ${typeof given}`}`,
      );
    }
    const raw = given ? { ...(heat.properties ?? ctx.node.properties), ...given } : ctx.node.properties;
    const next = await validate(ctx, raw);
    const diff = propertyDiff(heat.properties ?? {}, next);
    const changed = Object.keys(diff);
    if (changed.length === 0) {
      ctx.logger.info(`${name} ${ctx.instance.id}: no property changed; nothing to update`);
      return;
    }
    const fixed = changed.filter((key) => cls.properties[key]?.updateAllowed !== true);
    if (fixed.length > 0) {
      ctx.logger.warning(
        `replacing ${name} ${ctx.instance.id}: ${fixed.join(', ')} cannot be updated in place; ` +
          'deleting the old resource, then creating a new one',
      );
      await replace(ctx, next);
      return;
    }
    ctx.logger.info(`updating ${name} ${ctx.instance.id} in place: ${changed.join(', ')}`);
    await updateInPlace(ctx, next);
  };

  const propertyDiff = (old: Record<string, Json>, next: Record<string, Json>): PropertyDiff => {
    const diff: PropertyDiff = {};
    for (const key of new Set([...Object.keys(old), ...Object.keys(next)])) {
      if (!jsonEqual(old[key], next[key])) diff[key] = next[key] ?? null;
    }
    return diff;
  };

  /** handleUpdate sees the old properties as this.properties (as in Heat) and the new ones in its arguments. */
  const updateInPlace = async (ctx: OperationContext, next: Record<string, Json>): Promise<void> => {
    const heat = record(ctx);
    const resource = make(ctx, heat.properties ?? {});
    const snippet: ResourceDefinition = { type: ctx.node.type, properties: structuredClone(next) };
    const diff = propertyDiff(heat.properties ?? {}, next);
    try {
      await run(
        ctx,
        'UPDATE',
        () => resource.handleUpdate(snippet, { properties: structuredClone(next) }, diff),
        (token) => resource.checkUpdateComplete(token),
        { properties: next },
      );
    } catch (error) {
      if (!(error instanceof UpdateReplace)) throw error;
      ctx.logger.warning(
        `replacing ${name} ${ctx.instance.id}: ${error.message}; deleting the old resource, then creating a new one`,
      );
      heat.state = { action: 'UPDATE', status: 'IN_PROGRESS' };
      await replace(ctx, next);
      return;
    }
    heat.properties = next;
    ctx.logger.info(`${name} ${ctx.instance.id} updated`);
    if (options.refreshAttributes !== false) await refresh(ctx, make(ctx, next));
  };

  const suspendOp = async (ctx: OperationContext): Promise<void> => {
    const heat = record(ctx);
    if (!wasStarted(heat, 'SUSPEND')) {
      if (heat.pending) {
        throw new NonRecoverableError(`${name} has an unfinished ${heat.pending.action.toLowerCase()}`);
      }
      if (!exists(heat))
        throw new NonRecoverableError(`${name} ${ctx.instance.id} cannot be suspended: it does not exist`);
      if (heat.state?.action === 'SUSPEND' && heat.state.status === 'COMPLETE') {
        ctx.logger.info(`${name} ${ctx.instance.id} is already suspended`);
        return;
      }
      ctx.logger.info(`suspending ${name} ${ctx.instance.id}`);
    }
    const resource = make(ctx, heat.properties ?? {});
    await run(
      ctx,
      'SUSPEND',
      () => resource.handleSuspend(),
      (token) => resource.checkSuspendComplete(token),
    );
    ctx.logger.info(`${name} ${ctx.instance.id} suspended`);
  };

  const resumeOp = async (ctx: OperationContext): Promise<void> => {
    const heat = record(ctx);
    if (!wasStarted(heat, 'RESUME')) {
      if (heat.pending) {
        throw new NonRecoverableError(`${name} has an unfinished ${heat.pending.action.toLowerCase()}`);
      }
      if (!exists(heat))
        throw new NonRecoverableError(`${name} ${ctx.instance.id} cannot be resumed: it does not exist`);
      const s = heat.state;
      if (!s || !(s.action === 'SUSPEND' || (s.action === 'RESUME' && s.status !== 'COMPLETE'))) {
        ctx.logger.info(`${name} ${ctx.instance.id} is not suspended; nothing to resume`);
        return;
      }
      ctx.logger.info(`resuming ${name} ${ctx.instance.id}`);
    }
    const resource = make(ctx, heat.properties ?? {});
    await run(
      ctx,
      'RESUME',
      () => resource.handleResume(),
      (token) => resource.checkResumeComplete(token),
    );
    ctx.logger.info(`${name} ${ctx.instance.id} resumed`);
  };

  const attributesOp = async (ctx: OperationContext, inputs: Record<string, Json>): Promise<void> => {
    const heat = record(ctx);
    const requested = inputs?.names;
    let names: string[] | undefined;
    if (Array.isArray(requested)) {
      names = requested.map(String);
      const unknown = names.filter((n) => !Object.hasOwn(cls.attributes, n));
      if (unknown.length > 0) {
        throw new NonRecoverableError(`${name} has no attribute ${unknown.join(', ')}`);
      }
    }
    if (!exists(heat))
      throw new NonRecoverableError(`${name} ${ctx.instance.id} does not exist: no attributes`);
    await refresh(ctx, make(ctx, heat.properties ?? {}), names);
  };

  /** Leaves no empty bookkeeping behind when an operation had nothing to do. */
  const tidy =
    (fn: (ctx: OperationContext, inputs: Record<string, Json>) => Promise<void>) =>
    async (ctx: OperationContext, inputs: Record<string, Json>): Promise<void> => {
      try {
        await fn(ctx, inputs);
      } finally {
        const heat = ctx.instance.runtimeProperties[RESOURCE_STATE_KEY];
        if (heat && typeof heat === 'object' && Object.keys(heat).length === 0) {
          delete ctx.instance.runtimeProperties[RESOURCE_STATE_KEY];
        }
      }
    };

  return {
    create: Object.assign(operation(tidy(createOp), { resumable: true }), {
      checkProperties: async (properties: Record<string, Json>) =>
        schemaProblems.length > 0
          ? schemaProblems.map((p) => ({
              ...p,
              message: `${name}'s properties schema (a plugin bug): ${p.message}`,
            }))
          : (await problemsWith(properties)).problems,
    }),
    delete: operation(tidy(deleteOp), { resumable: true }),
    update: operation(tidy(updateOp), { resumable: true }),
    suspend: operation(tidy(suspendOp), { resumable: true }),
    resume: operation(tidy(resumeOp), { resumable: true }),
    attributes: operation(tidy(attributesOp), { resumable: true }),
  };
}
