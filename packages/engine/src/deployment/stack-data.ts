// A HOT stack's abandon data (Heat's Stack.prepare_abandon) and its snapshots as Heat shows them:
// what `weft stack` and the server's stack routes both give.
import { ADOPT_KEY, type Json, RESOURCE_ID_KEY, RESOURCE_STATE_KEY, RESTORE_KEY } from '@weft/sdk';
import { Diagnostics } from '../dsl/diagnostics.js';
import { isMapping, parseYaml } from '../dsl/yaml-source.js';
import { childUserEnvironment } from '../hot/environment.js';
import { PROJECT_ID } from '../hot/parameters.js';
import { heatResourceState, heatStackState, isAdoptedStack } from '../hot/states.js';
import { isStackResourceType } from '../hot/types.js';
import { type DeploymentModel, heatTypeOf, modelOf } from '../model/deployment-model.js';
import { InstanceIdFactory } from '../model/instance-ids.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import {
  ACTIVE_EXECUTION_STATUSES,
  type DeploymentChange,
  type DeploymentRecord,
  type ExecutionRecord,
  type SnapshotRecord,
  type Store,
} from '../store/types.js';
import { operationSteps } from '../workflows/builtin.js';
import type { TaskGraph } from '../workflows/lifecycle.js';
import { isLive } from './status.js';

/** The executions' workflow names of a stack's snapshot and of a snapshot's deletion, as `weft executions` shows them. */
export const SNAPSHOT_WORKFLOW = 'snapshot';
export const DELETE_SNAPSHOT_WORKFLOW = 'delete_snapshot';

/** The operation the deletion of a snapshot runs on each resource it has data of (a Resource class's). */
export const RESOURCE_DELETE_SNAPSHOT = 'weft.interfaces.resource.delete_snapshot';

/**
 * The tasks that delete what a snapshot's handlers made (Heat's Stack.delete_snapshot): each
 * created resource the snapshot kept data of (`kept`, by node name) runs its handleDeleteSnapshot
 * with that data; in no order, as Heat runs them one by one.
 */
export function snapshotDeletionGraph(
  model: DeploymentModel,
  started: NodeInstanceRecord[],
  kept: Record<string, Json>,
  workflow: string,
): TaskGraph {
  const graph = operationSteps(
    model,
    started.filter((i) => Object.hasOwn(kept, i.node) && kept[i.node]),
    [RESOURCE_DELETE_SNAPSHOT],
    workflow,
    false,
    { ordered: false },
  );
  for (const task of graph.tasks) task.inputs = { snapshot: kept[task.node!]! };
  return graph;
}

/** Heat's ACTION_STATUS split into its action and status. */
function splitState(state: string): { action: string; status: string } {
  const m = /^(.*)_(COMPLETE|FAILED|IN_PROGRESS)$/.exec(state);
  return m ? { action: m[1]!, status: m[2]! } : { action: state, status: '' };
}

/**
 * The template the deployment was made from (parsed), and the other files it read (nested
 * templates, get_file), by their path from the template's directory, as Heat keeps the template
 * and its `files` in the abandon data.
 */
async function templateOf(
  store: Store,
  deployment: DeploymentRecord,
): Promise<{ template: Json; files: Record<string, Json>; parsed: (path: string) => Json }> {
  const blueprint = await store.getBlueprint(deployment.blueprintId);
  const decoder = new TextDecoder();
  const parsed = (path: string): Json => {
    const bytes = blueprint?.files[path];
    if (!bytes) return null;
    return JSON.parse(
      JSON.stringify(parseYaml(decoder.decode(bytes), path, new Diagnostics()) ?? null),
    ) as Json;
  };
  if (!blueprint?.files[blueprint.mainFile]) return { template: null, files: {}, parsed };
  const files: Record<string, Json> = {};
  for (const path of Object.keys(blueprint.files).sort())
    if (path !== blueprint.mainFile) files[path] = decoder.decode(blueprint.files[path]);
  return { template: parsed(blueprint.mainFile), files, parsed };
}

/**
 * Heat's Stack.prepare_abandon, key by key in its order, for the stack or a nested one. A stack is
 * in Weft's one project (PROJECT_ID, as its templates' OS::project_id gives it); Weft makes no
 * stack domain project for a stack's users (Heat makes one only when a resource needs a user of
 * its own, None otherwise, inherited by its nested stacks): null; and a stack has no tags (Heat
 * gives [] for none).
 */
function stackData(stack: {
  name: string;
  id: string;
  action: string;
  status: string;
  environment: Json;
  files: Record<string, Json>;
  template: Json;
  resources: Record<string, Json>;
}): Record<string, Json> {
  return {
    name: stack.name,
    id: stack.id,
    action: stack.action,
    environment: stack.environment,
    files: stack.files,
    status: stack.status,
    template: stack.template,
    resources: stack.resources,
    project_id: PROJECT_ID,
    stack_user_project_id: null,
    tags: [],
  };
}

/**
 * What Heat's Stack.prepare_abandon returns: the stack, its template and files, and every
 * resource's id and data (Resource.prepare_abandon). A nested stack's resource (a template
 * resource, group, chain) gives its nested stack's own data instead, with its resources under it,
 * as Heat's StackResource.prepare_abandon does: named and identified as its templates' OS::stack_name
 * and OS::stack_id give it (`STACK.RESOURCE`), in its resource's state, with the stack's files (Heat
 * gives a nested stack its parent's), its environment as Heat's get_child_environment makes it
 * (childUserEnvironment), and its template file's template (a group's or chain's, which Heat
 * generates from its definition and Weft does not keep, null). An OS::Heat::Stack's stack is kept
 * in the deployment as a nested stack (Heat's RemoteStack stays a plain resource whose stack lives
 * on its own), so it is given as one too: its resources are adopted with the rest.
 */
export async function abandonData(store: Store, deployment: DeploymentRecord): Promise<Record<string, Json>> {
  const model = modelOf(deployment.model);
  const { template, files, parsed } = await templateOf(store, deployment);
  const nestedTemplates = model.blueprint.heatNestedTemplates ?? {};
  const environment = (model.blueprint.heatEnvironment ?? {}) as Record<string, unknown>;
  const resources: Record<string, Json> = {};
  const stacks = new Set<string>();
  const instances = await store.listInstances(deployment.id);
  for (const instance of instances) {
    const node = model.nodes[instance.node];
    if (!isLive(instance.state) || node === undefined) continue;
    const { action, status } = splitState(heatResourceState(instance));
    // A node of several instances (not made by HOT itself) names each by its instance.
    const name = Object.hasOwn(resources, instance.node) ? instance.id : instance.node;
    if (isStackResourceType(node.type)) {
      stacks.add(name);
      const id = `${deployment.id}.${instance.node}`;
      resources[name] = stackData({
        name: id,
        id,
        action,
        status,
        environment: {},
        files,
        template: Object.hasOwn(nestedTemplates, instance.node)
          ? parsed(nestedTemplates[instance.node]!)
          : null,
        resources: {},
      });
      continue;
    }
    const data: Record<string, Json> = {};
    for (const [key, value] of Object.entries(instance.runtimeProperties))
      if (key !== RESOURCE_STATE_KEY && key !== RESOURCE_ID_KEY && key !== ADOPT_KEY && key !== RESTORE_KEY)
        data[key] = value;
    const id = instance.runtimeProperties[RESOURCE_ID_KEY];
    resources[name] = {
      name,
      resource_id: typeof id === 'string' ? id : null,
      type: heatTypeOf(model, instance.node)!,
      action,
      status,
      metadata: {},
      resource_data: data,
    };
  }
  // Each nested stack's environment is made from the one of the stack it is in.
  const environments = new Map<string, Record<string, unknown>>();
  const environmentOf = (name: string): Record<string, unknown> => {
    let made = environments.get(name);
    if (made === undefined) {
      const parent = parentOf(name, resources);
      made = childUserEnvironment(
        parent === undefined ? environment : environmentOf(parent),
        parent === undefined ? name : name.slice(parent.length + 1),
        heatTypeOf(model, name) ?? '',
      );
      environments.set(name, made);
    }
    return made;
  };
  for (const name of stacks)
    (resources[name] as Record<string, Json>).environment = environmentOf(name) as Json;
  const { action, status } = splitState(
    heatStackState(await store.listExecutions(deployment.id), isAdoptedStack(instances)),
  );
  return stackData({
    name: deployment.id,
    id: deployment.id,
    action,
    status,
    environment: environment as Json,
    files,
    template,
    resources: nested(resources, stacks),
  });
}

/** The nearest resource whose member (`PARENT.MEMBER`) this one is: a group's, a nested stack's. */
function parentOf(name: string, resources: Record<string, Json>): string | undefined {
  const parts = name.split('.');
  for (let i = parts.length - 1; i > 0; i--) {
    const candidate = parts.slice(0, i).join('.');
    if (Object.hasOwn(resources, candidate)) return candidate;
  }
  return undefined;
}

/**
 * The resources by node name, the members of groups and nested stacks moved under their parent's
 * `resources` by their own name, as Heat's abandon data holds a nested stack's. A resource's entry
 * is named by that name; a nested stack's (those of `stacks`) keeps its stack's.
 */
function nested(flat: Record<string, Json>, stacks: Set<string>): Record<string, Json> {
  const top: Record<string, Json> = {};
  for (const [name, entry] of Object.entries(flat)) {
    const parent = parentOf(name, flat);
    if (parent === undefined) {
      top[name] = entry;
      continue;
    }
    const holder = flat[parent] as Record<string, Json>;
    const members = (holder.resources ??= {}) as Record<string, Json>;
    const own = name.slice(parent.length + 1);
    // The same object, so that members of its own that come later land in it.
    if (!stacks.has(name)) (entry as Record<string, Json>).name = own;
    members[own] = entry;
  }
  return top;
}

/** Abandon data's resources by node name again: a member under its parent's `resources` is `PARENT.MEMBER`. */
export function flattenedResources(
  resources: Record<string, Json>,
  prefix = '',
  into: Record<string, Json> = {},
) {
  for (const [name, entry] of Object.entries(resources)) {
    into[prefix + name] = entry;
    if (isMapping(entry) && isMapping(entry.resources))
      flattenedResources(entry.resources as Record<string, Json>, `${prefix}${name}.`, into);
  }
  return into;
}

/** A stored snapshot's status, as Heat names it. */
export type SnapshotStatus = 'COMPLETE' | 'FAILED' | 'IN_PROGRESS';

/**
 * COMPLETE, FAILED when a resource's handleSnapshot failed, IN_PROGRESS while its execution has
 * not ended: kept in its data, as Heat keeps it.
 */
export function snapshotStatus(snapshot: SnapshotRecord): SnapshotStatus {
  const data = snapshot.data as { status?: Json } | null;
  return data?.status === 'FAILED' || data?.status === 'IN_PROGRESS' ? data.status : 'COMPLETE';
}

/** A snapshot as Heat shows one. */
export interface SnapshotView {
  [key: string]: Json;
  id: string;
  name: string;
  status: SnapshotStatus;
  creation_time: string;
}

/** A snapshot as Heat shows one: without its data in a list. */
export function snapshotView(snapshot: SnapshotRecord, withData: boolean): SnapshotView {
  return {
    id: snapshot.id,
    name: snapshot.name,
    status: snapshotStatus(snapshot),
    creation_time: snapshot.createdAt,
    ...(withData ? { data: snapshot.data } : {}),
  };
}

/** What a snapshot kept of each resource, by node name (its abandon data's resources, flattened). */
export function snapshotResources(snapshot: SnapshotRecord): Record<string, Json> {
  const data = snapshot.data as { resources?: Record<string, Json> } | null;
  return flattenedResources(isMapping(data?.resources) ? (data.resources as Record<string, Json>) : {});
}

/**
 * Once a snapshot's execution has ended, in whichever process ends it (the one that started it, a
 * resume, a server taking it over: finishExecution): as Heat's save_snapshot, the stack's data
 * (with what the handlers kept) is stored as the snapshot, COMPLETE or FAILED as the execution
 * ended (IN_PROGRESS while it has not); a snapshot deleted meanwhile is not stored again. A
 * snapshot's deletion that succeeded deletes its record, as Heat's delete_snapshot does once every
 * resource's handle_delete_snapshot has run.
 */
export async function endStackSnapshotExecution(store: Store, execution: ExecutionRecord): Promise<void> {
  const id = execution.parameters.snapshot;
  if (typeof id !== 'string') return;
  if (execution.workflow === DELETE_SNAPSHOT_WORKFLOW) {
    if (execution.status === 'terminated') await store.deleteSnapshot(execution.deploymentId, id);
    return;
  }
  if (execution.workflow !== SNAPSHOT_WORKFLOW) return;
  const stored = (await store.listSnapshots(execution.deploymentId)).find((s) => s.id === id);
  const now = await store.getDeployment(execution.deploymentId);
  if (!stored || !now) return;
  const data = await abandonData(store, now);
  data.status =
    execution.status === 'terminated'
      ? 'COMPLETE'
      : ACTIVE_EXECUTION_STATUSES.includes(execution.status)
        ? 'IN_PROGRESS'
        : 'FAILED';
  await store.putSnapshot({
    ...stored,
    blueprintId: now.blueprintId,
    inputs: now.inputs,
    model: now.model,
    data,
  });
}

/** What the deletion of snapshots borrows from them for resources the stack no longer has. */
export interface Borrowed {
  /** The deployment's model with the borrowed nodes and plugins. */
  model: DeploymentModel;
  /** An instance of each borrowed node. */
  instances: NodeInstanceRecord[];
  /** What the execution keeps (its `borrowed` parameter) to give them back (giveBack). */
  parameter: Json;
}

/**
 * The resources snapshots kept data of that the stack no longer has, made from a snapshot's
 * definition (the first of `snapshots` that has one) for the deletion of their data, as Heat's
 * Stack.delete_snapshot builds every resource of the snapshot's template: their nodes (flagged
 * removed) and the plugins they need join the model, and each gets an instance of its own, until
 * the execution that deletes the data ends (giveBack). Used by a snapshot's deletion and by a
 * stack's delete, which deletes every snapshot's (Heat's delete_all_snapshots).
 */
export function borrowFromSnapshots(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  snapshots: { model: DeploymentModel; resources: Record<string, Json> }[],
  deploymentId: string,
): Borrowed | undefined {
  const definitions = new Map<string, DeploymentModel>();
  for (const { model: kept, resources } of snapshots)
    for (const name of Object.keys(resources))
      if (
        resources[name] &&
        !model.nodes[name] &&
        !definitions.has(name) &&
        kept.nodes[name]?.operations[RESOURCE_DELETE_SNAPSHOT] !== undefined
      )
        definitions.set(name, kept);
  if (definitions.size === 0) return undefined;
  const next: DeploymentModel = { ...model, nodes: { ...model.nodes }, plugins: { ...model.plugins } };
  const plugins: string[] = [];
  const ids = new InstanceIdFactory(deploymentId, new Set(instances.map((i) => i.id)));
  const made: NodeInstanceRecord[] = [];
  for (const [name, kept] of definitions) {
    next.nodes[name] = { ...kept.nodes[name]!, removed: true };
    for (const operation of Object.values(kept.nodes[name]!.operations)) {
      const plugin = operation.plugin;
      if (plugin && !Object.hasOwn(next.plugins, plugin) && kept.plugins[plugin]) {
        next.plugins[plugin] = kept.plugins[plugin];
        plugins.push(plugin);
      }
    }
    made.push({
      id: ids.next(name),
      deploymentId,
      node: name,
      index: 1,
      state: 'started',
      runtimeProperties: {},
      version: 0,
      containedIn: null,
      hostId: null,
      relationships: [],
      scalingGroups: [],
    });
  }
  return {
    model: next,
    instances: made,
    parameter: { nodes: [...definitions.keys()], plugins, instances: made.map((i) => i.id) },
  };
}

/** The deployment change that stores what was borrowed, with the execution that borrows it. */
export function borrowedChange(deploymentId: string, borrowed: Borrowed): DeploymentChange {
  return {
    deploymentId,
    deployment: { model: borrowed.model as unknown as Json },
    addInstances: borrowed.instances,
  };
}

/**
 * Takes from the deployment what an execution borrowed from snapshots (borrowFromSnapshots), once
 * it has ended (an interrupted one is resumed: it keeps what it borrowed until it ends).
 */
export async function giveBack(store: Store, execution: ExecutionRecord): Promise<void> {
  if (ACTIVE_EXECUTION_STATUSES.includes(execution.status) || execution.status === 'interrupted') return;
  const borrowed = execution.parameters.borrowed as
    | { nodes: string[]; plugins: string[]; instances: string[] }
    | undefined;
  if (!borrowed) return;
  const deployment = await store.getDeployment(execution.deploymentId);
  if (!deployment) return;
  const model = modelOf(deployment.model);
  if (!borrowed.nodes.some((name) => Object.hasOwn(model.nodes, name))) return;
  const nodes = { ...model.nodes };
  const plugins = { ...model.plugins };
  for (const name of borrowed.nodes) delete nodes[name];
  for (const name of borrowed.plugins) delete plugins[name];
  const present = new Set((await store.listInstances(deployment.id)).map((i) => i.id));
  await store.changeDeployment({
    deploymentId: deployment.id,
    deployment: { model: { ...model, nodes, plugins } as unknown as Json },
    removeInstances: borrowed.instances.filter((id) => present.has(id)),
  });
}
