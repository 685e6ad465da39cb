import { type OperationContext, operation } from './context.js';
import { NonRecoverableError } from './errors.js';
import {
  type AbandonedResource,
  ADOPT_KEY,
  DELETION_POLICY_PROPERTY,
  type DeletionPolicy,
  PropertiesError,
  type PropertyDiff,
  RESOURCE_ID_KEY,
  RESOURCE_STATE_KEY,
  RESTORE_KEY,
  RESTRICTED_ACTIONS_PROPERTY,
  Resource,
  type ResourceAction,
  type ResourceClass,
  type ResourceDefinition,
  type ResourceOperations,
  type ResourceOperationsOptions,
  type ResourceState,
  type Token,
  type UpdatePreview,
  UpdateReplace,
} from './resource.js';
import { BEGIN_UPDATE_INPUT, REPLACED_BY_INPUT } from './resource-keys.js';
import {
  dropEmptyRecord,
  type HeatRecord,
  heatRecord,
  type Pending,
  resourceExists,
} from './resource-record.js';
import { checkSchema, formatProblem, jsonEqual, type Problem, validateProperties } from './schema.js';
import type { Json } from './workflow.js';

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
  ADOPT: 'adopted',
  SNAPSHOT: 'snapshotted',
  CHECK: 'checked',
};

const HANDLER: Record<ResourceAction, string> = {
  CREATE: 'handleCreate',
  UPDATE: 'handleUpdate',
  DELETE: 'handleDelete',
  SUSPEND: 'handleSuspend',
  RESUME: 'handleResume',
  ADOPT: 'handleAdopt',
  SNAPSHOT: 'handleSnapshot',
  CHECK: 'handleCheck',
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Changed properties with their new values; one no longer set is null. */
function propertyDiff(old: Record<string, Json>, next: Record<string, Json>): PropertyDiff {
  const diff: PropertyDiff = {};
  for (const key of new Set([...Object.keys(old), ...Object.keys(next)])) {
    if (!jsonEqual(old[key], next[key])) diff[key] = next[key] ?? null;
  }
  return diff;
}

/** The problems with a class's own schemas: a broken properties schema, reserved attribute names. */
function schemaProblemsOf(cls: ResourceClass): Problem[] {
  const problems = checkSchema(cls.properties);
  for (const attribute of Object.keys(cls.attributes)) {
    if (attribute === RESOURCE_STATE_KEY || attribute === RESOURCE_ID_KEY) {
      problems.push({ path: `attributes.${attribute}`, message: 'this name is reserved' });
    }
  }
  return problems;
}

/** What a handle/check pair of an action is run with. */
interface ActionSteps {
  handle: () => Token | Promise<Token>;
  check: (token: Json) => boolean | Promise<boolean>;
  /** Kept in the pending record with the action. */
  extra?: Omit<Pending, 'action' | 'phase' | 'token'>;
}

/** The lifecycle of one Resource class: each operation of {@link resourceOperations} is a method. */
class ResourceLifecycle<R extends Resource<object>> {
  private readonly name: string;
  private readonly schemaProblems: Problem[];
  private readonly supportsSnapshot: boolean;
  private readonly supportsCheck: boolean;
  private readonly updatesInPlace: boolean;

  constructor(
    private readonly cls: ResourceClass<R>,
    private readonly options: ResourceOperationsOptions,
  ) {
    this.name = cls.name;
    this.schemaProblems = schemaProblemsOf(cls);
    this.supportsSnapshot = cls.prototype.handleSnapshotDelete !== Resource.prototype.handleSnapshotDelete;
    this.supportsCheck = cls.prototype.handleCheck !== Resource.prototype.handleCheck;
    this.updatesInPlace = cls.prototype.handleUpdate !== Resource.prototype.handleUpdate;
  }

  private get pollInterval(): number {
    return this.options.pollInterval ?? this.cls.pollInterval;
  }

  private instantiate(ctx: OperationContext, properties: Record<string, Json>): R {
    const Class = this.cls as unknown as new (ctx: OperationContext, p: Record<string, Json>) => R;
    return new Class(ctx, structuredClone(properties));
  }

  // Properties -----------------------------------------------------------------------------------

  /** The problems create would find with a node's properties (for `weft validate`). */
  async checkProperties(properties: Record<string, Json>): Promise<Problem[]> {
    if (this.schemaProblems.length > 0) {
      return this.schemaProblems.map((p) => ({
        ...p,
        message: `${this.name}'s properties schema (a plugin bug): ${p.message}`,
      }));
    }
    return (await this.propertyProblems(properties)).problems;
  }

  /** The properties validated, defaults applied; every problem with them fails the operation. */
  private async validated(ctx: OperationContext, given: Record<string, Json>): Promise<Record<string, Json>> {
    if (this.schemaProblems.length > 0) {
      throw new NonRecoverableError(
        `${this.name} has an invalid properties schema (a plugin bug):\n${this.schemaProblems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
      );
    }
    const { values, problems } = await this.propertyProblems(given);
    if (problems.length > 0)
      throw new PropertiesError(`invalid properties for ${this.name} ${ctx.instance.id}`, problems);
    return values;
  }

  /** The properties validated, and every problem with them (the schema's and the class's own checks). */
  private async propertyProblems(
    given: Record<string, Json>,
  ): Promise<{ values: Record<string, Json>; problems: Problem[] }> {
    const { values, problems } = await validateProperties(this.cls.properties, given, {
      unknown: this.options.unknownProperties ?? 'ignore',
      reserved: [DELETION_POLICY_PROPERTY, RESTRICTED_ACTIONS_PROPERTY],
    });
    problems.push(...(await this.crossChecks(structuredClone(values))));
    problems.push(...this.deletionPolicyProblems(given[DELETION_POLICY_PROPERTY]));
    return { values, problems };
  }

  /** The class's checks across properties (Resource.validate). */
  private async crossChecks(values: Record<string, Json>): Promise<Problem[]> {
    try {
      return await this.cls.validate(values);
    } catch (error) {
      return [{ path: '', message: `${this.name}.validate failed: ${messageOf(error)}` }];
    }
  }

  private deletionPolicyProblems(policy: Json | undefined): Problem[] {
    const parsed = parsePolicy(policy);
    if (policy !== undefined && policy !== null && !parsed) {
      return [{ path: DELETION_POLICY_PROPERTY, message: `must be one of ${POLICIES.join(', ')}` }];
    }
    if (
      (parsed ?? this.options.deletionPolicy ?? this.cls.deletionPolicy) === 'Snapshot' &&
      !this.supportsSnapshot
    ) {
      return [
        {
          path: DELETION_POLICY_PROPERTY,
          message: `Snapshot is not supported by ${this.name} (it has no handleSnapshotDelete)`,
        },
      ];
    }
    return [];
  }

  /** The node's `deletion_policy`, else the options', else the class's. */
  private deletionPolicy(ctx: OperationContext): DeletionPolicy {
    const fromNode = ctx.node.properties[DELETION_POLICY_PROPERTY];
    if (fromNode !== undefined && fromNode !== null) {
      const parsed = parsePolicy(fromNode);
      if (!parsed) {
        throw new NonRecoverableError(`${this.name}: deletion_policy must be one of ${POLICIES.join(', ')}`);
      }
      return parsed;
    }
    return this.options.deletionPolicy ?? this.cls.deletionPolicy ?? 'Delete';
  }

  // Attributes -----------------------------------------------------------------------------------

  /** Writes resolveAttribute's value of each attribute (every one, or `names`) into runtime properties. */
  private async writeAttributes(ctx: OperationContext, resource: R, names?: string[]): Promise<void> {
    for (const attribute of names ?? Object.keys(this.cls.attributes)) {
      const value = await resource.resolveAttribute(attribute);
      ctx.instance.runtimeProperties[attribute] = value === undefined ? null : value;
    }
  }

  /** After create, update and replace, unless the options turned it off. */
  private async refreshAttributes(ctx: OperationContext, resource: R): Promise<void> {
    if (this.options.refreshAttributes !== false) await this.writeAttributes(ctx, resource);
  }

  // One action: a handle/check pair ------------------------------------------------------------

  /**
   * One handle/check pair: handle once (its token saved before the first poll), then one poll
   * per run of the operation until done; while not done, the operation ends with a retry. Only
   * `begun`: handled, its polls left to the next run (BEGIN_UPDATE_INPUT).
   */
  private async runAction(
    ctx: OperationContext,
    action: ResourceAction,
    steps: ActionSteps,
    begun = false,
  ): Promise<void> {
    const pending = heatRecord(ctx).pending;
    const token =
      pending?.action === action && pending.phase === 'polling'
        ? (pending.token ?? null)
        : await this.startAction(ctx, action, steps);
    if (!begun) await this.pollAction(ctx, action, steps, token);
  }

  /** Runs the handler, saving before (so a crash is seen) and after (so its token survives one). */
  private async startAction(
    ctx: OperationContext,
    action: ResourceAction,
    steps: ActionSteps,
  ): Promise<Json> {
    const heat = heatRecord(ctx);
    const extra = steps.extra ?? {};
    if (heat.pending?.action === action && heat.pending.phase === 'handling') {
      ctx.logger.warning(`an earlier ${HANDLER[action]} of ${this.name} was interrupted; running it again`);
    }
    heat.pending = { ...extra, action, phase: 'handling' };
    heat.state = { action, status: 'IN_PROGRESS' };
    await ctx.instance.update();
    let returned: Token;
    try {
      returned = await steps.handle();
    } catch (error) {
      delete heat.pending;
      heat.state = { action, status: 'FAILED', reason: messageOf(error) };
      throw error;
    }
    const token = returned === undefined ? null : returned;
    heat.pending = { ...extra, action, phase: 'polling', token };
    await ctx.instance.update();
    return token;
  }

  /** One poll: done, or a retry of the operation after the poll interval (or a failure when retries ran out). */
  private async pollAction(
    ctx: OperationContext,
    action: ResourceAction,
    steps: ActionSteps,
    token: Json,
  ): Promise<void> {
    const heat = heatRecord(ctx);
    let done: boolean;
    try {
      done = await steps.check(structuredClone(token));
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
          `${this.name} was not ${VERB[action]} after ${retryNumber + 1} polls ${this.pollInterval} s apart: the operation's retries ran out (give it max_retries: -1 and a timeout to poll for longer)`,
        );
      }
      ctx.operation.retry(`waiting for ${this.name} to be ${VERB[action]}`, this.pollInterval);
    }
    delete heat.pending;
    heat.state = { action, status: 'COMPLETE' };
  }

  // The steps operations are made of -----------------------------------------------------------

  /** Creates the resource with the given properties; returns it for its attributes. */
  private async createResource(
    ctx: OperationContext,
    properties: Record<string, Json>,
    extra: ActionSteps['extra'] = {},
  ): Promise<R> {
    heatRecord(ctx).properties = properties;
    const resource = this.instantiate(ctx, properties);
    // Made anew during a restore from a snapshot that kept it: brought back as it was.
    const kept = ctx.instance.runtimeProperties[RESTORE_KEY];
    const restoring = kept !== null && typeof kept === 'object' && !Array.isArray(kept);
    if (restoring) ctx.logger.info(`restoring ${this.name} ${ctx.instance.id} from the snapshot`);
    await this.runAction(ctx, 'CREATE', {
      handle: () =>
        restoring
          ? resource.handleRestore(structuredClone(kept) as AbandonedResource)
          : resource.handleCreate(),
      check: (token) => resource.checkCreateComplete(token),
      extra,
    });
    // A failed check was of the resource this one replaces.
    delete heatRecord(ctx).check;
    ctx.logger.info(
      `${this.name} created${resource.resourceId ? ` (resource id ${resource.resourceId})` : ''}`,
    );
    return resource;
  }

  /** Deletes the resource per the policy; under `replace`, goes on to create its successor. */
  private async deleteResource(ctx: OperationContext, replace?: Record<string, Json>): Promise<void> {
    const heat = heatRecord(ctx);
    const continuing = heat.pending?.action === 'DELETE';
    // A deletion goes on under the policy it started with.
    const policy = (continuing && heat.pending?.policy) || this.deletionPolicy(ctx);
    const resource = this.instantiate(ctx, heat.properties ?? {});
    const label = resource.resourceId ? `${this.name} ${resource.resourceId}` : this.name;
    if (policy === 'Retain') {
      ctx.logger.info(`retaining ${label} (deletion policy Retain): it is left in place`);
      delete heat.pending;
      heat.state = { action: 'DELETE', status: 'COMPLETE', reason: 'retained' };
      return;
    }
    const initial: ResourceState = heat.state ? { ...heat.state } : { action: 'CREATE', status: 'COMPLETE' };
    const extra: ActionSteps['extra'] = replace ? { policy, replace } : { policy };
    if (!continuing) {
      ctx.logger.info(
        policy === 'Snapshot'
          ? `deleting ${label} after a snapshot (deletion policy Snapshot)`
          : `deleting ${label}`,
      );
    }
    await this.runAction(ctx, 'DELETE', {
      handle: () =>
        policy === 'Snapshot' ? resource.handleSnapshotDelete(initial) : resource.handleDelete(),
      check: (token) => resource.checkDeleteComplete(token),
      extra,
    });
    ctx.logger.info(`${label} deleted`);
  }

  /** Whether a replacement deletes the old resource first: as it started, else as the options or the class say. */
  private deletesFirst(heat: HeatRecord): boolean {
    const pending = heat.pending;
    if (pending?.replace !== undefined) return pending.replaces === undefined;
    return this.options.deleteBeforeReplace ?? this.cls.deleteBeforeReplace ?? false;
  }

  /** How a replacement goes, for the warning that announces it. */
  private replacementOrder(heat: HeatRecord): string {
    return this.deletesFirst(heat)
      ? 'deleting the old resource, then creating a new one'
      : 'creating a new resource, then deleting the old one';
  }

  /** Replaces the resource with one of the new properties, in the order deletesFirst says. */
  private async replace(
    ctx: OperationContext,
    properties: Record<string, Json>,
    oldState?: ResourceState,
  ): Promise<void> {
    if (this.deletesFirst(heatRecord(ctx))) await this.replaceDeletingFirst(ctx, properties);
    else await this.replaceCreatingFirst(ctx, properties, oldState);
  }

  /** Deletes the old resource (per its policy), then creates one with the new properties. */
  private async replaceDeletingFirst(ctx: OperationContext, properties: Record<string, Json>): Promise<void> {
    const heat = heatRecord(ctx);
    const creating = heat.pending?.action === 'CREATE' && heat.pending.replace !== undefined;
    if (!creating) {
      await this.deleteResource(ctx, properties);
      // Hand over to the create step in the same save, so a crash cannot delete twice.
      heat.properties = properties;
      heat.pending = { action: 'CREATE', phase: 'queued', replace: properties };
      ctx.instance.runtimeProperties[RESOURCE_ID_KEY] = null;
      await ctx.instance.update();
    }
    const resource = await this.createResource(ctx, properties, { replace: properties });
    heat.state = { action: 'UPDATE', status: 'COMPLETE', reason: 'replaced' };
    await this.refreshAttributes(ctx, resource);
    ctx.logger.info(`${this.name} replaced`);
  }

  /**
   * Creates a resource with the new properties while the old one stays (its runtime properties
   * kept aside), then deletes the old one (per its policy). A create that fails for good puts the
   * old one back as the instance's resource.
   */
  private async replaceCreatingFirst(
    ctx: OperationContext,
    properties: Record<string, Json>,
    oldState?: ResourceState,
  ): Promise<void> {
    const heat = heatRecord(ctx);
    if (!(heat.pending?.action === 'CREATE' && heat.pending.replaces !== undefined)) {
      const replaces = structuredClone(ctx.instance.runtimeProperties);
      // The old resource's state before the update that replaces it (an in-place update that
      // turned into a replacement has marked it UPDATE IN_PROGRESS meanwhile).
      if (oldState) (replaces[RESOURCE_STATE_KEY] as unknown as HeatRecord).state = structuredClone(oldState);
      heat.properties = properties;
      heat.pending = { action: 'CREATE', phase: 'queued', replace: properties, replaces };
      ctx.instance.runtimeProperties[RESOURCE_ID_KEY] = null;
      await ctx.instance.update();
    }
    const replaces = heat.pending?.replaces as Record<string, Json>;
    let resource: R;
    try {
      resource = await this.createResource(ctx, properties, { replace: properties, replaces });
    } catch (error) {
      // No pending create left: it was given up (a retry or a recoverable check keeps it).
      if (!heatRecord(ctx).pending) await this.reinstate(ctx, replaces, error);
      throw error;
    }
    // The old one is condemned in the save that ends the create, so it cannot be lost in between.
    heat.condemned = { runtimeProperties: replaces, why: 'replaced' };
    heat.state = { action: 'UPDATE', status: 'IN_PROGRESS' };
    await this.refreshAttributes(ctx, resource);
    await ctx.instance.update();
    await this.finishReplacement(ctx);
  }

  /** Deletes the resource that was replaced; the replacement is then complete. */
  private async finishReplacement(ctx: OperationContext): Promise<void> {
    await this.deleteCondemned(ctx);
    heatRecord(ctx).state = { action: 'UPDATE', status: 'COMPLETE', reason: 'replaced' };
    ctx.logger.info(`${this.name} replaced`);
  }

  /**
   * The replacement was not created: the resource it was to replace is the instance's resource
   * again, and the failed one is condemned, to be deleted by the next update or delete.
   */
  private async reinstate(
    ctx: OperationContext,
    replaced: Record<string, Json>,
    error: unknown,
  ): Promise<void> {
    const rp = ctx.instance.runtimeProperties;
    const failed = structuredClone(rp);
    for (const key of Object.keys(rp)) delete rp[key];
    Object.assign(rp, structuredClone(replaced));
    const heat = heatRecord(ctx);
    heat.state = {
      action: 'UPDATE',
      status: 'FAILED',
      reason: `the replacement failed: ${messageOf(error)}`,
    };
    const reinstated = (replaced[RESOURCE_STATE_KEY] as unknown as HeatRecord | undefined)?.state;
    heat.condemned = {
      runtimeProperties: failed,
      why: 'failed replacement',
      ...(reinstated && { reinstated }),
    };
    const id = rp[RESOURCE_ID_KEY];
    ctx.logger.warning(
      `the replacement of ${this.name} ${ctx.instance.id} was not created; the old one${typeof id === 'string' ? ` (${id})` : ''} stays in place`,
    );
    await ctx.instance.update();
  }

  /** Deletes the condemned resource through a ctx whose instance shows its own runtime properties. */
  private async deleteCondemned(ctx: OperationContext): Promise<void> {
    const heat = heatRecord(ctx);
    const condemned = heat.condemned;
    if (!condemned) return;
    const runtimeProperties = condemned.runtimeProperties;
    const instance = {
      ...ctx.instance,
      runtimeProperties,
      // It is saved with the instance, inside whose record it is kept.
      update: async (changes?: Record<string, Json>) => {
        if (changes) Object.assign(runtimeProperties, changes);
        await ctx.instance.update();
      },
    };
    if (condemned.why === 'failed replacement') {
      ctx.logger.info(`deleting the failed replacement of ${this.name} ${ctx.instance.id}`);
    }
    await this.deleteResource({ ...ctx, instance });
    delete heat.condemned;
  }

  /**
   * handleUpdate sees the old properties as this.properties (as in Heat) and the new ones in its
   * arguments. Only `begun`: left unfinished, UPDATE_IN_PROGRESS (BEGIN_UPDATE_INPUT).
   */
  private async updateInPlace(
    ctx: OperationContext,
    next: Record<string, Json>,
    begun = false,
  ): Promise<void> {
    const heat = heatRecord(ctx);
    const resource = this.instantiate(ctx, heat.properties ?? {});
    const snippet: ResourceDefinition = { type: ctx.node.type, properties: structuredClone(next) };
    const diff = propertyDiff(heat.properties ?? {}, next);
    const oldState = heat.state && structuredClone(heat.state);
    try {
      await this.runAction(
        ctx,
        'UPDATE',
        {
          handle: () => resource.handleUpdate(snippet, { properties: structuredClone(next) }, diff),
          check: (token) => resource.checkUpdateComplete(token),
          extra: { properties: next },
        },
        begun,
      );
    } catch (error) {
      if (!(error instanceof UpdateReplace)) throw error;
      ctx.logger.warning(
        `replacing ${this.name} ${ctx.instance.id}: ${error.message}; ${this.replacementOrder(heat)}`,
      );
      heat.state = { action: 'UPDATE', status: 'IN_PROGRESS' };
      await this.replace(ctx, next, oldState);
      return;
    }
    if (begun) return;
    heat.properties = next;
    ctx.logger.info(`${this.name} ${ctx.instance.id} updated`);
    await this.refreshAttributes(ctx, this.instantiate(ctx, next));
  }

  /** Refuses to start an action over another one that is unfinished. */
  private refuseUnfinished(heat: HeatRecord): void {
    if (heat.pending) {
      throw new NonRecoverableError(`${this.name} has an unfinished ${heat.pending.action.toLowerCase()}`);
    }
  }

  /** Whether this run goes on with an action of that kind that an earlier run started (not a replacement). */
  private static started(heat: HeatRecord, action: ResourceAction): boolean {
    return heat.pending?.action === action && heat.pending.replace === undefined;
  }

  // The operations -------------------------------------------------------------------------------

  async create(ctx: OperationContext): Promise<void> {
    const heat = heatRecord(ctx);
    const adopt = ctx.instance.runtimeProperties[ADOPT_KEY];
    if (adopt !== undefined && (!heat.pending || heat.pending.action === 'ADOPT')) {
      await this.adopt(ctx, adopt);
      return;
    }
    if (heat.pending?.action === 'CREATE' && heat.pending.replace !== undefined) {
      await this.replace(ctx, heat.pending.replace);
      return;
    }
    if (heat.pending?.action === 'CREATE') {
      await this.refreshAttributes(ctx, await this.createResource(ctx, heat.properties ?? {}));
      return;
    }
    if (heat.pending) {
      throw new NonRecoverableError(
        `${this.name} ${ctx.instance.id} has an unfinished ${heat.pending.action.toLowerCase()}; finish it (run that operation again) first`,
      );
    }
    if (resourceExists(heat)) {
      ctx.logger.info(`${this.name} ${ctx.instance.id} already exists; nothing to create`);
      return;
    }
    const properties = await this.validated(ctx, ctx.node.properties);
    if (heat.state?.action === 'DELETE') ctx.instance.runtimeProperties[RESOURCE_ID_KEY] = null;
    ctx.logger.info(`creating ${this.name} ${ctx.instance.id}`);
    await this.refreshAttributes(ctx, await this.createResource(ctx, properties));
  }

  /**
   * Heat's adopt: the resource takes its id and data from the stack's abandon data instead of
   * being created (handleAdopt); none given (the resource was not in it) fails, as in Heat.
   */
  private async adopt(ctx: OperationContext, given: Json): Promise<void> {
    const heat = heatRecord(ctx);
    const properties = await this.validated(ctx, ctx.node.properties);
    heat.properties = properties;
    const resource = this.instantiate(ctx, properties);
    const data = (
      given && typeof given === 'object' && !Array.isArray(given) ? given : {}
    ) as AbandonedResource;
    ctx.logger.info(`adopting ${this.name} ${ctx.instance.id}`);
    await this.runAction(ctx, 'ADOPT', {
      handle: () => resource.handleAdopt(structuredClone(data)),
      check: () => true,
    });
    delete ctx.instance.runtimeProperties[ADOPT_KEY];
    ctx.logger.info(
      `${this.name} adopted${resource.resourceId ? ` (resource id ${resource.resourceId})` : ''}`,
    );
    await this.refreshAttributes(ctx, resource);
  }

  async delete(ctx: OperationContext): Promise<void> {
    const heat = heatRecord(ctx);
    const pending = heat.pending;
    const abandoned = pending !== undefined && pending.action !== 'DELETE';
    if (abandoned) this.abandon(ctx, heat, pending);
    await this.deleteCondemned(ctx);
    if (!abandoned && !pending) {
      if (!heat.state || heat.properties === undefined) {
        ctx.logger.info(`${this.name} ${ctx.instance.id} was never created; nothing to delete`);
        return;
      }
      if (heat.state.action === 'DELETE' && heat.state.status === 'COMPLETE') {
        ctx.logger.info(`${this.name} ${ctx.instance.id} is already deleted`);
        return;
      }
    }
    await this.deleteResource(ctx);
  }

  /** Gives up an unfinished action so that the resource can be deleted. */
  private abandon(ctx: OperationContext, heat: HeatRecord, pending: Pending): void {
    ctx.logger.warning(
      `abandoning the unfinished ${pending.action.toLowerCase()} of ${this.name} to delete it`,
    );
    delete heat.pending;
    if (pending.action === 'CREATE' && pending.replace) {
      // The new one may be half made; the old one is gone already, or else deleted with it.
      heat.properties = pending.replace;
      if (pending.replaces) heat.condemned = { runtimeProperties: pending.replaces, why: 'replaced' };
    }
  }

  async update(ctx: OperationContext, inputs: Record<string, Json>): Promise<void> {
    // A definition of another type replaces the resource, which the engine does with a resource
    // of that type; asked first whether the environment lets it (Heat's
    // StackUpdate._check_replace_restricted), the resource is left as it is when it does not.
    if (typeof inputs?.[REPLACED_BY_INPUT] === 'string') {
      ResourceLifecycle.refuseRestricted(ctx, 'replace');
      return;
    }
    const heat = heatRecord(ctx);
    // Begun, only an update with nothing before it (BEGIN_UPDATE_INPUT).
    const begin = inputs?.[BEGIN_UPDATE_INPUT] === true;
    if (begin && (heat.pending || heat.condemned || heat.refused !== undefined)) return;
    // A refused update is tried again by this one (refused again if still restricted).
    const refused = heat.refused;
    delete heat.refused;
    const reinstated = heat.condemned?.why === 'failed replacement' ? heat.condemned.reinstated : undefined;
    // What an earlier run left unfinished is finished first; then the resource is brought to the
    // properties asked for now, which differ when this is another update (a rollback after a
    // cancelled one) rather than the same one resumed.
    const continued = await this.continueUpdate(ctx, heat);
    // After a failed replacement, the old resource is as it was: it is what this update changes
    // (kept when the update goes back to its definition), not a FAILED resource to replace.
    if (reinstated) {
      heat.state = reinstated;
      await ctx.instance.update();
    }
    // As Heat's Resource._needs_update: a resource in CHECK_FAILED, or whose last action failed
    // (a failed create too, where nothing may exist), is made anew whatever changed.
    const failed =
      heat.check?.status === 'FAILED'
        ? `it failed its last check (${heat.check.reason})`
        : heat.state?.status === 'FAILED' && heat.properties !== undefined
          ? `its last ${heat.state.action.toLowerCase()} failed${heat.state.reason ? ` (${heat.state.reason})` : ''}`
          : undefined;
    if (begin && (failed || !resourceExists(heat) || heat.state?.action === 'SUSPEND')) return;
    if (!failed && !resourceExists(heat))
      throw new NonRecoverableError(`${this.name} ${ctx.instance.id} cannot be updated: it does not exist`);
    if (heat.state?.action === 'SUSPEND' && !failed) {
      throw new NonRecoverableError(
        `${this.name} ${ctx.instance.id} is suspended; resume it before updating it`,
      );
    }
    const next = await this.validated(ctx, this.requestedProperties(ctx, heat, inputs));
    if (failed) {
      await ResourceLifecycle.refuseOutdated(ctx, heat, 'replace');
      ctx.logger.warning(
        `replacing ${this.name} ${ctx.instance.id}: ${failed}; ${this.replacementOrder(heat)}`,
      );
      await this.replace(ctx, next);
      return;
    }
    const changed = Object.keys(propertyDiff(heat.properties ?? {}, next));
    if (begin && !(changed.length === 0 && this.cls.alwaysUpdates)) return;
    if (changed.length === 0 && this.cls.alwaysUpdates && !continued) {
      // Heat's StackResource._needs_update: always updated, what it holds deciding for itself
      // (refused where the environment restricts update, as Heat's _check_restricted_actions).
      await ResourceLifecycle.refuseOutdated(ctx, heat, 'update');
      ctx.logger.info(
        `updating ${this.name} ${ctx.instance.id}: no property changed, but it is always updated`,
      );
      await this.updateInPlace(ctx, next, begin);
      return;
    }
    if (changed.length === 0) {
      if (!continued)
        ctx.logger.info(`${this.name} ${ctx.instance.id}: no property changed; nothing to update`);
      if (refused) await ctx.instance.update();
      return;
    }
    // As Heat's _check_restricted_actions: what the update would do, refused when restricted.
    const previewed = this.preview(heat.properties ?? {}, next);
    if (previewed) await ResourceLifecycle.refuseOutdated(ctx, heat, previewed.action);
    const fixed = changed.filter((key) => this.cls.properties[key]?.updateAllowed !== true);
    if (fixed.length > 0) {
      ctx.logger.warning(
        `replacing ${this.name} ${ctx.instance.id}: ${fixed.join(', ')} cannot be updated in place; ${this.replacementOrder(heat)}`,
      );
      await this.replace(ctx, next);
      return;
    }
    ctx.logger.info(`updating ${this.name} ${ctx.instance.id} in place: ${changed.join(', ')}`);
    await this.updateInPlace(ctx, next);
  }

  /**
   * What an update from `before` to `after` would do, from the schema alone (Heat's
   * preview_update): the same test update makes, on the values as written, defaults applied.
   */
  preview(before: Record<string, Json>, after: Record<string, Json>): UpdatePreview | undefined {
    const schema = this.cls.properties;
    const given = (properties: Record<string, Json>, key: string): Json | undefined => {
      const value = properties[key];
      return value === undefined || value === null ? (schema[key]!.default as Json | undefined) : value;
    };
    const changed = Object.keys(schema).filter((key) => !jsonEqual(given(before, key), given(after, key)));
    if (changed.length === 0) return undefined;
    const forcedBy = changed.filter((key) => schema[key]!.updateAllowed !== true);
    const deletesFirst = this.options.deleteBeforeReplace ?? this.cls.deleteBeforeReplace ?? false;
    if (forcedBy.length > 0)
      return {
        action: 'replace',
        changed,
        forcedBy,
        reason: `${forcedBy.join(', ')} cannot be updated in place`,
        deletesFirst,
      };
    if (!this.updatesInPlace)
      return {
        action: 'replace',
        changed,
        forcedBy,
        reason: `${this.name} cannot be updated in place`,
        deletesFirst,
      };
    const withDefaults: Record<string, Json> = {};
    for (const key of Object.keys(schema)) {
      const value = given(after, key);
      if (value !== undefined) withDefaults[key] = value;
    }
    const reason = this.cls.needsReplace(changed, withDefaults);
    if (reason !== undefined) return { action: 'replace', changed, forcedBy, reason, deletesFirst };
    return { action: 'update', changed };
  }

  /** Goes on with an update or replacement an earlier run started (false when there is none), after deleting a failed replacement. */
  private async continueUpdate(ctx: OperationContext, heat: HeatRecord): Promise<boolean> {
    if (heat.condemned?.why === 'replaced') {
      ctx.logger.info(`continuing the replacement of ${this.name} ${ctx.instance.id}`);
      await this.finishReplacement(ctx);
      return true;
    }
    // A failed replacement goes before anything else is done.
    await this.deleteCondemned(ctx);
    const pending = heat.pending;
    if (!pending) return false;
    if (pending.replace !== undefined) {
      ctx.logger.info(`continuing the replacement of ${this.name} ${ctx.instance.id}`);
      await this.replace(ctx, pending.replace);
      return true;
    }
    if (pending.action === 'UPDATE' && pending.properties) {
      await this.updateInPlace(ctx, pending.properties);
      return true;
    }
    throw new NonRecoverableError(
      `${this.name} ${ctx.instance.id} has an unfinished ${pending.action.toLowerCase()}; finish it first`,
    );
  }

  /** The properties to change, laid over those the resource has now (Heat's template diff); else the node's. */
  private requestedProperties(
    ctx: OperationContext,
    heat: HeatRecord,
    inputs: Record<string, Json>,
  ): Record<string, Json> {
    const given = inputs?.properties;
    if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
      throw new NonRecoverableError(
        `update's properties input must be a map of the properties to change, not ${Array.isArray(given) ? 'a list' : `a ${typeof given}`}`,
      );
    }
    return given ? { ...(heat.properties ?? ctx.node.properties), ...given } : ctx.node.properties;
  }

  async suspend(ctx: OperationContext): Promise<void> {
    const heat = heatRecord(ctx);
    if (!ResourceLifecycle.started(heat, 'SUSPEND')) {
      this.refuseUnfinished(heat);
      if (!resourceExists(heat))
        throw new NonRecoverableError(
          `${this.name} ${ctx.instance.id} cannot be suspended: it does not exist`,
        );
      if (heat.state?.action === 'SUSPEND' && heat.state.status === 'COMPLETE') {
        ctx.logger.info(`${this.name} ${ctx.instance.id} is already suspended`);
        return;
      }
      ctx.logger.info(`suspending ${this.name} ${ctx.instance.id}`);
    }
    const resource = this.instantiate(ctx, heat.properties ?? {});
    await this.runAction(ctx, 'SUSPEND', {
      handle: () => resource.handleSuspend(),
      check: (token) => resource.checkSuspendComplete(token),
    });
    ctx.logger.info(`${this.name} ${ctx.instance.id} suspended`);
  }

  async resume(ctx: OperationContext): Promise<void> {
    const heat = heatRecord(ctx);
    if (!ResourceLifecycle.started(heat, 'RESUME')) {
      this.refuseUnfinished(heat);
      if (!resourceExists(heat))
        throw new NonRecoverableError(`${this.name} ${ctx.instance.id} cannot be resumed: it does not exist`);
      const s = heat.state;
      if (!s || !(s.action === 'SUSPEND' || (s.action === 'RESUME' && s.status !== 'COMPLETE'))) {
        ctx.logger.info(`${this.name} ${ctx.instance.id} is not suspended; nothing to resume`);
        return;
      }
      ctx.logger.info(`resuming ${this.name} ${ctx.instance.id}`);
    }
    const resource = this.instantiate(ctx, heat.properties ?? {});
    await this.runAction(ctx, 'RESUME', {
      handle: () => resource.handleResume(),
      check: (token) => resource.checkResumeComplete(token),
    });
    ctx.logger.info(`${this.name} ${ctx.instance.id} resumed`);
  }

  /**
   * Heat's snapshot of the resource: handleSnapshot (which keeps what it made in the resource's
   * data) and its polls; the resource is then SNAPSHOT_COMPLETE, or SNAPSHOT_FAILED.
   */
  async snapshot(ctx: OperationContext): Promise<void> {
    const heat = heatRecord(ctx);
    if (!ResourceLifecycle.started(heat, 'SNAPSHOT')) {
      this.refuseUnfinished(heat);
      if (!resourceExists(heat))
        throw new NonRecoverableError(
          `${this.name} ${ctx.instance.id} cannot be snapshotted: it does not exist`,
        );
    }
    const resource = this.instantiate(ctx, heat.properties ?? {});
    await this.runAction(ctx, 'SNAPSHOT', {
      handle: () => resource.handleSnapshot(),
      check: (token) => resource.checkSnapshotComplete(token),
    });
    ctx.logger.info(`${this.name} ${ctx.instance.id} snapshotted`);
  }

  /**
   * Heat's delete_snapshot of the resource: handleDeleteSnapshot with what the snapshot kept of it
   * (the `snapshot` input), then its polls; the resource's own state is left as it is.
   */
  async deleteSnapshot(ctx: OperationContext, inputs: Record<string, Json>): Promise<void> {
    const heat = heatRecord(ctx);
    const given = inputs?.snapshot;
    const data = (
      given && typeof given === 'object' && !Array.isArray(given) ? given : {}
    ) as AbandonedResource;
    const resource = this.instantiate(ctx, heat.properties ?? {});
    // A poll goes on with the token of the handler of this task; any other run starts over.
    const polling = heat.snapshotDeletion !== undefined && ctx.operation.retryNumber > 0;
    let token: Json = polling ? (heat.snapshotDeletion?.token ?? null) : null;
    let done: boolean;
    try {
      if (!polling) {
        const returned = await resource.handleDeleteSnapshot(structuredClone(data));
        token = returned === undefined ? null : returned;
        heat.snapshotDeletion = { token };
        await ctx.instance.update();
      }
      done = await resource.checkDeleteSnapshotComplete(structuredClone(token));
    } catch (error) {
      delete heat.snapshotDeletion;
      throw error;
    }
    if (!done) {
      const { retryNumber, maxRetries } = ctx.operation;
      if (maxRetries >= 0 && retryNumber >= maxRetries) {
        delete heat.snapshotDeletion;
        throw new NonRecoverableError(
          `the snapshot of ${this.name} ${ctx.instance.id} was not deleted after ${retryNumber + 1} polls ${this.pollInterval} s apart: the operation's retries ran out`,
        );
      }
      ctx.operation.retry(`waiting for the snapshot of ${this.name} to be deleted`, this.pollInterval);
    }
    delete heat.snapshotDeletion;
    ctx.logger.info(`the snapshot of ${this.name} ${ctx.instance.id} deleted`);
  }

  /** What the record alone says is wrong with the resource, if anything. */
  private static recordProblem(heat: HeatRecord): string | undefined {
    if (heat.pending) return `its ${heat.pending.action.toLowerCase()} is unfinished`;
    if (!heat.state || heat.properties === undefined) return 'it was never created';
    const { action, status, reason } = heat.state;
    if (status === 'FAILED') return `its last ${action.toLowerCase()} failed${reason ? `: ${reason}` : ''}`;
    if (!resourceExists(heat)) return 'it was deleted';
    return undefined;
  }

  /** Keeps the failed check in the record (the next update replaces the resource) and fails for good. */
  private async failCheck(ctx: OperationContext, heat: HeatRecord, reason: string): Promise<never> {
    heat.check = { status: 'FAILED', reason };
    await ctx.instance.update();
    throw new NonRecoverableError(`${this.name} ${ctx.instance.id} failed its check: ${reason}`);
  }

  /**
   * Heat's check: the record first, then handleCheck and its polls. A class without handleCheck
   * gets the record's check alone (Heat says "CHECK not supported" and completes).
   */
  async check(ctx: OperationContext): Promise<void> {
    const heat = heatRecord(ctx);
    const problem = ResourceLifecycle.recordProblem(heat);
    if (problem) return this.failCheck(ctx, heat, problem);
    if (!this.supportsCheck) {
      ResourceLifecycle.checked(heat);
      ctx.logger.info(`${this.name} ${ctx.instance.id}: its record is as expected (it has no handleCheck)`);
      return;
    }
    const resource = this.instantiate(ctx, heat.properties ?? {});
    // A poll goes on with the token of the handleCheck of this task; any other run starts over.
    const polling = heat.check?.status === 'IN_PROGRESS' && ctx.operation.retryNumber > 0;
    let done: boolean;
    try {
      let token: Json = heat.check?.token ?? null;
      if (!polling) {
        const returned = await resource.handleCheck();
        token = returned === undefined ? null : returned;
        heat.check = { status: 'IN_PROGRESS', token };
      }
      done = await resource.checkCheckComplete(structuredClone(token));
    } catch (error) {
      return this.failCheck(ctx, heat, messageOf(error));
    }
    if (!done) {
      const { retryNumber, maxRetries } = ctx.operation;
      if (maxRetries >= 0 && retryNumber >= maxRetries)
        return this.failCheck(
          ctx,
          heat,
          `not complete after ${retryNumber + 1} polls ${this.pollInterval} s apart (the operation's retries ran out)`,
        );
      ctx.operation.retry(`waiting for the check of ${this.name} to complete`, this.pollInterval);
    }
    ResourceLifecycle.checked(heat);
    ctx.logger.info(`${this.name} ${ctx.instance.id} passed its check`);
  }

  /**
   * Refuses an update or replacement the environment restricts (Heat's ResourceActionRestricted):
   * the update fails and the resource stays as it was.
   */
  private static refuseRestricted(ctx: OperationContext, action: 'update' | 'replace'): void {
    const restricted = ctx.node.properties[RESTRICTED_ACTIONS_PROPERTY];
    if (Array.isArray(restricted) && restricted.includes(action))
      throw new NonRecoverableError(`${action} is restricted for resource.`);
  }

  /**
   * refuseRestricted for an update to the node's properties: the resource, left with its old
   * ones, is marked as refused, so that the next deployment update brings it to its node's
   * definition again even when the definition does not change (as Heat leaves a refused
   * resource's own template as it was, for the next stack update to meet the same change).
   */
  private static async refuseOutdated(
    ctx: OperationContext,
    heat: HeatRecord,
    action: 'update' | 'replace',
  ): Promise<void> {
    const restricted = ctx.node.properties[RESTRICTED_ACTIONS_PROPERTY];
    if (!(Array.isArray(restricted) && restricted.includes(action))) return;
    heat.refused = action;
    await ctx.instance.update();
    ResourceLifecycle.refuseRestricted(ctx, action);
  }

  /**
   * A passed check: the resource is CHECK_COMPLETE, as Heat's state_set leaves it, but for a
   * suspended one, which stays SUSPEND_COMPLETE so that the stack's resume still resumes it.
   */
  private static checked(heat: HeatRecord): void {
    delete heat.check;
    if (heat.state?.action !== 'SUSPEND') heat.state = { action: 'CHECK', status: 'COMPLETE' };
  }

  async attributes(ctx: OperationContext, inputs: Record<string, Json>): Promise<void> {
    const heat = heatRecord(ctx);
    const names = this.requestedAttributes(inputs);
    if (!resourceExists(heat))
      throw new NonRecoverableError(`${this.name} ${ctx.instance.id} does not exist: no attributes`);
    await this.writeAttributes(ctx, this.instantiate(ctx, heat.properties ?? {}), names);
  }

  /** The `names` input, each checked against the class's attributes; undefined: all of them. */
  private requestedAttributes(inputs: Record<string, Json>): string[] | undefined {
    const requested = inputs?.names;
    if (!Array.isArray(requested)) return undefined;
    const names = requested.map(String);
    const unknown = names.filter((n) => !Object.hasOwn(this.cls.attributes, n));
    if (unknown.length > 0) {
      throw new NonRecoverableError(`${this.name} has no attribute ${unknown.join(', ')}`);
    }
    return names;
  }
}

type LifecycleOperation =
  | 'create'
  | 'delete'
  | 'update'
  | 'suspend'
  | 'resume'
  | 'attributes'
  | 'check'
  | 'snapshot'
  | 'deleteSnapshot';

/** An operation running one lifecycle method, leaving no empty record behind. */
function lifecycleOperation<R extends Resource<object>>(
  lifecycle: ResourceLifecycle<R>,
  method: LifecycleOperation,
) {
  return operation(
    async (ctx: OperationContext, inputs: Record<string, Json>): Promise<void> => {
      try {
        await lifecycle[method](ctx, inputs);
      } finally {
        dropEmptyRecord(ctx);
      }
    },
    { resumable: true },
  );
}

/**
 * The lifecycle operations of a Heat-style resource class, to export from a plugin module:
 *
 * ```ts
 * const ops = resourceOperations(Server);
 * export const { create, update, suspend, resume, attributes, check } = ops;
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
  const lifecycle = new ResourceLifecycle(cls, options);
  return {
    create: Object.assign(lifecycleOperation(lifecycle, 'create'), {
      checkProperties: (properties: Record<string, Json>) => lifecycle.checkProperties(properties),
    }),
    delete: lifecycleOperation(lifecycle, 'delete'),
    update: Object.assign(lifecycleOperation(lifecycle, 'update'), {
      deletesFirst: () => options.deleteBeforeReplace ?? cls.deleteBeforeReplace ?? false,
      preview: (before: Record<string, Json>, after: Record<string, Json>) =>
        lifecycle.preview(before, after),
    }),
    suspend: lifecycleOperation(lifecycle, 'suspend'),
    resume: lifecycleOperation(lifecycle, 'resume'),
    attributes: lifecycleOperation(lifecycle, 'attributes'),
    check: lifecycleOperation(lifecycle, 'check'),
    snapshot: lifecycleOperation(lifecycle, 'snapshot'),
    delete_snapshot: lifecycleOperation(lifecycle, 'deleteSnapshot'),
  };
}
