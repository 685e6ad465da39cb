import type { OperationContext, OperationFunction } from './context.js';
import { NonRecoverableError, WeftError } from './errors.js';
import { ADOPT_KEY, RESTORE_KEY } from './resource-keys.js';
import type { HeatRecord } from './resource-record.js';
import { type AttributesSchema, formatProblem, type Problem, type PropertiesSchema } from './schema.js';
import type { Json } from './workflow.js';

/** What happens to the physical resource when its node instance is deleted (Heat's deletion_policy). */
export type DeletionPolicy = 'Delete' | 'Retain' | 'Snapshot';

export type ResourceAction =
  | 'CREATE'
  | 'UPDATE'
  | 'DELETE'
  | 'SUSPEND'
  | 'RESUME'
  | 'ADOPT'
  | 'SNAPSHOT'
  | 'CHECK';

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
export {
  ADOPT_KEY,
  DELETION_POLICY_PROPERTY,
  RESTORE_KEY,
  RESTRICTED_ACTIONS_PROPERTY,
} from './resource-keys.js';

/**
 * What a stack's abandon data holds of one resource (Heat's Resource.prepare_abandon), and what
 * adopting it starts from: its id, its data (the runtime properties besides the record and the
 * id: a RandomString's value), its metadata.
 */
export interface AbandonedResource {
  name?: string;
  type?: string;
  action?: string;
  status?: string;
  resource_id?: string | null;
  resource_data?: Record<string, Json>;
  metadata?: Record<string, Json>;
}

/**
 * Thrown by handleUpdate when a change cannot be applied in place: the resource is replaced
 * instead (see Resource.deleteBeforeReplace for the order). The default handleUpdate throws it.
 */
export class UpdateReplace extends WeftError {
  static override readonly code = 'update_replace';
  constructor(message = 'the resource must be replaced') {
    super(message);
    this.name = 'UpdateReplace';
  }
}

/** Properties that fail validation: every problem, each as `path: problem`. */
export class PropertiesError extends NonRecoverableError {
  static override readonly code = 'properties_invalid';
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
   * How a resource is replaced (when a changed property is not updateAllowed, or handleUpdate
   * throws UpdateReplace). By default, as in Heat and Pulumi, the new resource is created first
   * and the old one deleted once the new one is complete: a failed create leaves the old one in
   * place (it is the instance's resource again, and the failed one is deleted by the next update
   * or delete). Set it to true for a resource of which two cannot exist at once (one that binds a
   * port, or has a name that must be unique): the old one is deleted first, then the new one created.
   */
  static deleteBeforeReplace = false;
  /**
   * Seconds between check*Complete polls. Each poll is a retry of the operation, so a resource
   * that takes long needs its operations declared with enough `max_retries` (-1: no limit, with
   * a `timeout`); when retries run out the operation fails saying so.
   */
  static pollInterval = 5;
  /**
   * Whether every update of the resource goes through handleUpdate (UPDATE_IN_PROGRESS, then
   * UPDATE_COMPLETE) even when none of its properties changed, as Heat's StackResource (a nested
   * stack: a template resource, ResourceGroup, ResourceChain) and RemoteStack (OS::Heat::Stack)
   * _needs_update says: the update goes on to the nested stack, whose resources decide for
   * themselves whether they change. An environment that restricts `update` then refuses it.
   */
  static alwaysUpdates = false;

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

  /**
   * Why changing these properties replaces the resource although each is `updateAllowed`
   * (Heat's needs_replace_with_prop_diff), or undefined. It lets a plan say so beforehand; a
   * class that implements it throws UpdateReplace from handleUpdate in the same case.
   */
  static needsReplace(_changed: string[], _after: Record<string, Json>): string | undefined {
    return undefined;
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

  /**
   * Checks that the physical resource is in its expected state (Heat's handle_check): throw,
   * saying why, when it is not (it is gone, stopped, not answering); a token returned is polled
   * with checkCheckComplete. `check` runs it after the record's own check (the resource exists,
   * nothing is unfinished, its last action did not fail); a class without it gets that one only.
   * A failed check is kept in the record, and the next update replaces the resource, as Heat
   * replaces one in CHECK_FAILED.
   */
  handleCheck(): Token | Promise<Token> {
    return undefined;
  }

  checkCheckComplete(_token: Json): boolean | Promise<boolean> {
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

  /**
   * Backs the resource up when a snapshot of the stack is taken (Heat's handle_snapshot): keep
   * what a restore needs in the resource's data (runtime properties, such as a backup's id), which
   * the snapshot stores; a token returned is polled with checkSnapshotComplete. A class without it
   * is only recorded SNAPSHOT_COMPLETE, as in Heat.
   */
  handleSnapshot(): Token | Promise<Token> {
    return undefined;
  }

  checkSnapshotComplete(_token: Json): boolean | Promise<boolean> {
    return true;
  }

  /**
   * Deletes what handleSnapshot made for a snapshot that is deleted (Heat's
   * handle_delete_snapshot), from what the snapshot kept of the resource (its `resource_data`); a
   * token returned is polled with checkDeleteSnapshotComplete. It changes nothing of the resource.
   */
  handleDeleteSnapshot(_snapshot: AbandonedResource): Token | Promise<Token> {
    return undefined;
  }

  checkDeleteSnapshotComplete(_token: Json): boolean | Promise<boolean> {
    return true;
  }

  /**
   * Takes over an existing resource instead of creating one (Heat's handle_adopt): by default,
   * as Heat's, its id and data from the abandon data; a resource without an id cannot be adopted.
   */
  handleAdopt(data: AbandonedResource): Token | Promise<Token> {
    if (typeof data.resource_id !== 'string' || data.resource_id === '') {
      throw new NonRecoverableError('Resource ID was not provided.');
    }
    this.resourceId = data.resource_id;
    const runtime = this.ctx.instance.runtimeProperties;
    for (const [key, value] of Object.entries(data.resource_data ?? {})) {
      if (key !== RESOURCE_STATE_KEY && key !== RESOURCE_ID_KEY && key !== ADOPT_KEY && key !== RESTORE_KEY)
        runtime[key] = value;
    }
    return undefined;
  }

  /**
   * Brings the resource back from a snapshot when a restore makes it anew (Heat's handle_restore):
   * called instead of handleCreate with what the snapshot kept of it (its id and data), for a
   * class whose resource is data that can be made again as it was (a RandomString's value).
   * A class without it is created as new.
   */
  handleRestore(_data: AbandonedResource): Token | Promise<Token> {
    return this.handleCreate();
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
  deleteBeforeReplace: boolean;
  pollInterval: number;
  alwaysUpdates: boolean;
  validate(properties: Record<string, Json>): Problem[] | Promise<Problem[]>;
  needsReplace(changed: string[], after: Record<string, Json>): string | undefined;
}

export interface ResourceOperationsOptions {
  /** Seconds between polls; default the class's `pollInterval` (5). */
  pollInterval?: number;
  /** Overrides the class's `deletionPolicy`; a node's `deletion_policy` property overrides both. */
  deletionPolicy?: DeletionPolicy;
  /** Overrides the class's `deleteBeforeReplace`: the order in which a replacement deletes and creates. */
  deleteBeforeReplace?: boolean;
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
  update: OperationFunction & {
    resumable: boolean;
    /**
     * Whether replacing a resource (of a node of the given type hierarchy) deletes the old one
     * before creating the new one (deleteBeforeReplace), else after.
     */
    deletesFirst(typeHierarchy?: string[]): boolean;
    /**
     * What updating from the `before` properties to the `after` ones would do (of a node of the
     * given type hierarchy), from the class's schema alone: undefined when no property of the
     * schema changes (or no class is mapped to the type). Values are compared as written,
     * defaults applied; one computed at run time (get_attribute) counts as changed when its
     * expression does. handleUpdate may still throw UpdateReplace.
     */
    preview(
      before: Record<string, Json>,
      after: Record<string, Json>,
      typeHierarchy?: string[],
    ): UpdatePreview | undefined;
  };
  suspend: OperationFunction & { resumable: boolean };
  resume: OperationFunction & { resumable: boolean };
  /** Writes resolveAttribute's value of every attribute (or of the `names` input) into runtime properties. */
  attributes: OperationFunction & { resumable: boolean };
  /** Heat's resource snapshot: handleSnapshot, polled with checkSnapshotComplete (the stack's snapshot runs it). */
  snapshot: OperationFunction & { resumable: boolean };
  /**
   * handleDeleteSnapshot with the `snapshot` input (what the snapshot kept of the resource),
   * polled with checkDeleteSnapshotComplete (the deletion of a stack's snapshot runs it).
   */
  delete_snapshot: OperationFunction & { resumable: boolean };
  /**
   * Heat's check: what the record tells (the resource exists, nothing is unfinished, its last
   * action did not fail), then handleCheck, polled with checkCheckComplete. Fails, without
   * retrying, when the resource is not as expected; name it as the node's
   * `cloudify.interfaces.validation.check_status`, which `weft check` runs.
   */
  check: OperationFunction & { resumable: boolean };
}

/**
 * What an update from one set of a node's properties to another would do to its resource, told
 * before anything runs (Heat's preview_update): replace it, with the changed properties that are
 * not updateAllowed (none when the class has no handleUpdate at all) and whether the old one is
 * deleted first (deleteBeforeReplace), or update it in place.
 */
export type UpdatePreview =
  | { action: 'update'; changed: string[] }
  | { action: 'replace'; changed: string[]; forcedBy: string[]; reason: string; deletesFirst: boolean };
