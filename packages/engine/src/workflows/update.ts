// The deployment update: from a deployment (its model and instances) and a new model, what the
// update changes and the task graph that applies it, as Cloudify's deployment update does.
// Pure: the caller stores the plan with the execution and applies its end once it has succeeded.

import { type Json, RESTRICTED_ACTIONS_PROPERTY } from '@weft/sdk';
import { BEGIN_UPDATE_INPUT, REPLACED_BY_INPUT } from '@weft/sdk/resource-keys';
import { runtimeReferences } from '../hot/functions.js';
import { heatResourceState } from '../hot/states.js';
import { isStackResourceType } from '../hot/types.js';
import type { DeploymentModel, NodeModel, RelationshipModel } from '../model/deployment-model.js';
import { InstanceIdFactory } from '../model/instance-ids.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import { jsonEqual } from '../model/json-equal.js';
import { diffModels, type ModelDiff, matchRelationships } from '../model/model-diff.js';
import { DEFAULT_MAX_INSTANCES, type RelationshipInstance } from '../model/plan.js';
import {
  chain,
  containment,
  lifecycleInstances,
  NOT_INSTALLED,
  only,
  reinstallGraph,
  tailsOf,
  WorkflowError,
} from './builtin.js';
import {
  addRelationshipTasks,
  installGraph,
  type Task,
  type TaskGraph,
  uninstallGraph,
} from './lifecycle.js';
import {
  batchCreate,
  gateBatches,
  isSpareMember,
  memberOf,
  pauseTask,
  planRolling,
  ROLLING_PAUSE,
  type RollingPlan,
} from './rolling.js';

const COMPUTE = 'cloudify.nodes.Compute';
const CONTAINED_IN = 'cloudify.relationships.contained_in';
const LIFECYCLE = 'cloudify.interfaces.lifecycle';

/**
 * The operations that update an instance in place, in the order Cloudify runs them; a node is
 * updated in place only when it implements update, update_config or update_apply (the others
 * alone do not update anything). Else a Heat-style resource's update (which compares the
 * properties itself and replaces the resource when one that cannot change in place did).
 */
const UPDATE_OPERATIONS = [
  `${LIFECYCLE}.preupdate`,
  `${LIFECYCLE}.update`,
  `${LIFECYCLE}.postupdate`,
  `${LIFECYCLE}.update_config`,
  `${LIFECYCLE}.update_apply`,
  `${LIFECYCLE}.update_postapply`,
];
const UPDATING_OPERATIONS = [
  `${LIFECYCLE}.update`,
  `${LIFECYCLE}.update_config`,
  `${LIFECYCLE}.update_apply`,
];
export const RESOURCE_UPDATE = 'weft.interfaces.resource.update';

/** The update workflow's parameters, as Cloudify names them. */
export interface UpdateParameters {
  /** Do not install the added instances (they are added, uninitialized). */
  skip_install: boolean;
  /** Do not uninstall the removed instances (they are removed without running anything). */
  skip_uninstall: boolean;
  /** Do not reinstall modified instances that have no update operations. */
  skip_reinstall: boolean;
  /** Node instance ids to reinstall whatever changed. */
  reinstall_list: string[];
  /** Failures while uninstalling (removed instances, unlinks) do not fail the update. */
  ignore_failure: boolean;
  /** Install what is added before uninstalling what is removed. */
  install_first: boolean;
}

export const UPDATE_PARAMETER_DEFAULTS: UpdateParameters = {
  skip_install: false,
  skip_uninstall: false,
  skip_reinstall: false,
  reinstall_list: [],
  ignore_failure: false,
  install_first: false,
};

/** What an instance of the deployment goes through in the update. */
export type InstanceAction = 'add' | 'remove' | 'reinstall' | 'update' | 'relink' | 'install';

/**
 * Why a Heat-style resource's update replaces it (the resource is created anew and the old one
 * deleted) instead of updating it in place: the changed properties that are not updateAllowed
 * (none when its class cannot update in place at all), that said in words, and whether the old
 * one is deleted before the new one is created (else after).
 */
export interface Replacement {
  properties: string[];
  reason: string;
  deletesFirst: boolean;
}

export interface UpdatePlan {
  diff: ModelDiff;
  /**
   * The model the update runs on: the new one, plus what it removes (nodes, relationships),
   * flagged `removed`, for the uninstall and unlink operations. Stored when the update starts.
   */
  transition: DeploymentModel;
  /** Instances the update adds (stored when it starts). */
  added: NodeInstanceRecord[];
  /** Instances it removes (once it has succeeded). */
  removed: string[];
  /** Relationship lists of existing instances while it runs (stored when it starts). */
  relationships: Record<string, RelationshipInstance[]>;
  /** Their relationship lists once it has succeeded (without those it unlinked). */
  finalRelationships: Record<string, RelationshipInstance[]>;
  /**
   * Instances of HOT resources whose type changes, moved (when the update starts) to a node that
   * keeps their old definition, by id: the node's name. They are removed once replaced.
   */
  retired: Record<string, string>;
  /** What each instance that takes part goes through. */
  actions: Record<string, InstanceAction>;
  /**
   * Instances whose update (action `update`) replaces their resource, by id: known only from the
   * plugin's resource classes, so filled in by whoever has them loaded (resourceReplacements).
   */
  replacements: Record<string, Replacement>;
  graph: TaskGraph;
}

/** The model with what an unfinished update keeps no longer marked as removed. */
function unflagged(model: DeploymentModel): DeploymentModel {
  const nodes: Record<string, NodeModel> = {};
  for (const [name, node] of Object.entries(model.nodes)) {
    const { removed: _node, ...kept } = node;
    nodes[name] = { ...kept, relationships: node.relationships.map(({ removed: _rel, ...r }) => r) };
  }
  // The removed nodes are back, and so are their plugins.
  const { removedPlugins: _plugins, ...rest } = model;
  return { ...rest, nodes };
}

/** The model without what an update keeps only while it runs. */
export function finalModel(model: DeploymentModel): DeploymentModel {
  const nodes: Record<string, NodeModel> = {};
  for (const [name, node] of Object.entries(model.nodes)) {
    if (node.removed) continue;
    nodes[name] = node.relationships.some((r) => r.removed)
      ? { ...node, relationships: node.relationships.filter((r) => !r.removed) }
      : node;
  }
  const final: DeploymentModel = { ...model, nodes };
  if (model.removedPlugins) {
    final.plugins = { ...model.plugins };
    for (const name of model.removedPlugins) delete final.plugins[name];
    delete final.removedPlugins;
  }
  return final;
}

const relationshipsOf = (i: NodeInstanceRecord) => i.relationships as unknown as RelationshipInstance[];

/** Reads the parameters (defaults for those not given), refusing values of the wrong type. */
export function updateParameters(given: Record<string, Json>): UpdateParameters {
  const out = { ...UPDATE_PARAMETER_DEFAULTS };
  for (const key of [
    'skip_install',
    'skip_uninstall',
    'skip_reinstall',
    'ignore_failure',
    'install_first',
  ] as const) {
    const value = given[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'boolean') throw new WorkflowError(`update: ${key} must be true or false`);
    out[key] = value;
  }
  const list = given.reinstall_list;
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list) || list.some((id) => typeof id !== 'string'))
      throw new WorkflowError('update: reinstall_list must be a list of node instance ids');
    out.reinstall_list = list as string[];
  }
  return out;
}

/** Whether the environment restricts `action` on a HOT resource (Heat's restricted_actions). */
function restricts(node: NodeModel, action: 'update' | 'replace'): boolean {
  const restricted = node.properties[RESTRICTED_ACTIONS_PROPERTY];
  return Array.isArray(restricted) && restricted.includes(action);
}

/** Whether a node has operations that update its instances in place. */
function updateOperations(node: NodeModel): string[] {
  if (UPDATING_OPERATIONS.some((name) => Object.hasOwn(node.operations, name)))
    return UPDATE_OPERATIONS.filter((name) => Object.hasOwn(node.operations, name));
  return Object.hasOwn(node.operations, RESOURCE_UPDATE) ? [RESOURCE_UPDATE] : [];
}

/**
 * What an update cannot do, refused before anything is stored or run (as Cloudify refuses its
 * "unsupported steps"): a node changing type (but in a HOT stack, where Heat replaces the
 * resource) or host, a relationship changing its properties, groups changing.
 */
function refuseUnsupported(
  diff: ModelDiff,
  before: DeploymentModel,
  after: DeploymentModel,
  heat: boolean,
): void {
  const problems: string[] = [];
  for (const change of diff.nodes) {
    if (change.type && !heat)
      problems.push(
        `node '${change.node}' would change its type from ${change.type.before} to ${change.type.after}`,
      );
    if (change.host)
      problems.push(
        `node '${change.node}' would move from ${change.host.before ? `host '${change.host.before}'` : 'no host'} to ${change.host.after ? `host '${change.host.after}'` : 'no host'}`,
      );
    if (change.change !== 'modified') continue;
    const old = before.nodes[change.node]!.relationships;
    const now = after.nodes[change.node]!.relationships;
    for (const [o, n] of matchRelationships(old, now).pairs)
      if (!jsonEqual(old[o]!.properties, now[n]!.properties))
        problems.push(
          `the properties of node '${change.node}'s ${now[n]!.type} relationship to '${now[n]!.target}' would change`,
        );
  }
  for (const group of diff.groups) problems.push(`group '${group.name}' would be ${group.change}`);
  if (problems.length === 0) return;
  throw new WorkflowError(
    `update: ${problems.join('; ')}. An update cannot do that: give the node another name to replace it (the old one is removed, the new one added), or uninstall and install again`,
  );
}

/** Plans the update of a deployment (model and instances) to the `after` model. */
export function planUpdate(
  current: DeploymentModel,
  stored: NodeInstanceRecord[],
  after: DeploymentModel,
  deploymentId: string,
  params: UpdateParameters & { restore?: boolean; snapshot?: boolean; refresh?: string[] },
  maxInstances = DEFAULT_MAX_INSTANCES,
): UpdatePlan {
  // A deployment an unfinished update left between versions still has what that update removes:
  // it is compared as it is (a node the new model has again is kept, with its instances).
  const before = unflagged(current);
  const diff = diffModels(before, finalModel(after));
  const heat = after.blueprint.heatTemplateVersion !== undefined;
  // A ResourceGroup's spare members are no resources (but while a rolling update makes one): a
  // change among them is none of the update's.
  const spare = (node: NodeModel | undefined) => node === undefined || isSpareMember(node);
  if (heat)
    diff.nodes = diff.nodes.filter((n) => !(spare(before.nodes[n.node]) && spare(after.nodes[n.node])));
  for (const id of params.reinstall_list)
    if (!stored.some((i) => i.id === id))
      throw new WorkflowError(
        `update: reinstall_list names '${id}', which is not an instance of this deployment`,
      );
  refuseUnsupported(diff, before, finalModel(after), heat);

  // Instances that go: those of removed nodes (a node's removal removes what it contains too, as
  // what it contains would otherwise move), and the newest of nodes whose blueprint count fell.
  // A HOT resource whose type changes is replaced, as Heat does (UpdateReplace): a resource of
  // the new type is created, then the old one deleted by its own type's operations.
  // Unless the new definition's environment restricts replace: the resource then stays as it is,
  // and its old definition (under the new environment's restrictions, as a failed Heat update
  // leaves the stack's template) in the model, for the update to fail on it, as Heat's
  // StackUpdate._check_replace_restricted refuses it before anything of the new type is made.
  const retypes = heat ? diff.nodes.filter((n) => n.change === 'modified' && n.type) : [];
  const refusedRetypes = new Map(
    retypes
      .filter(
        (n) =>
          restricts(after.nodes[n.node]!, 'replace') &&
          Object.hasOwn(before.nodes[n.node]!.operations, RESOURCE_UPDATE),
      )
      .map((n) => [n.node, n.type!.after] as const),
  );
  const retyped = new Set(retypes.map((n) => n.node).filter((name) => !refusedRetypes.has(name)));
  // The resource a failed replacement left (its backup, `NAME@replaced`) is swapped back in when
  // it is COMPLETE and of the definition the update goes to (a rollback's), instead of a new one
  // being created: its instances are the node's from now on.
  const swapped = backups(retyped, before, after, stored);
  const instances = stored.map((i) => (swapped.has(i.id) ? { ...i, node: swapped.get(i.id)! } : i));
  const swappedNodes = new Set(swapped.values());
  const byId = new Map(instances.map((i) => [i.id, i]));
  const removed = new Set<string>();
  for (const i of instances) if (!after.nodes[i.node]) removed.add(i.id);
  // Temporary members a failed rolling update left go (Heat's next update of the group's nested
  // stack leaves them out of its template).
  if (heat)
    for (const i of instances) {
      const node = after.nodes[i.node];
      if (node && isSpareMember(node)) removed.add(i.id);
    }
  // The old definition is kept under a name of its own (`NAME@replaced`), to which the old
  // instances move while the update runs, so that they are deleted by their own type's operations
  // (and a failed update leaves them as a resource of their own, deleted by the next update).
  const retiredNodes = new Map<string, string>();
  for (const name of retyped) {
    let retiredName = `${name}@replaced`;
    for (let n = 2; before.nodes[retiredName] || after.nodes[retiredName]; n++)
      retiredName = `${name}@replaced${n}`;
    retiredNodes.set(name, retiredName);
  }
  const retired: Record<string, string> = {};
  for (const i of instances)
    if (swapped.has(i.id)) retired[i.id] = i.node;
    else if (retyped.has(i.node)) {
      removed.add(i.id);
      retired[i.id] = retiredNodes.get(i.node)!;
    }
  const perParent = (node: string, pool: NodeInstanceRecord[]) => {
    const groups = new Map<string, NodeInstanceRecord[]>();
    for (const i of pool) {
      if (i.node !== node) continue;
      const group = groups.get(i.containedIn ?? '');
      if (group) group.push(i);
      else groups.set(i.containedIn ?? '', [i]);
    }
    return groups;
  };
  const subtreeIn = containment(instances);
  const growth: { node: string; delta: number }[] = [];
  for (const change of diff.nodes) {
    if (change.change !== 'modified' || !change.instances) continue;
    const delta = change.instances.after - change.instances.before;
    if (delta > 0) growth.push({ node: change.node, delta });
    else
      for (const [, current] of perParent(change.node, instances)) {
        const keep = Math.max(after.nodes[change.node]!.counts.min, current.length + delta);
        for (const victim of [...current].sort((a, b) => b.index - a.index).slice(0, current.length - keep))
          for (const id of subtreeIn(victim.id)) removed.add(id);
      }
  }
  const staying = instances.filter((i) => !removed.has(i.id));

  // Instances that come: those of added nodes under every instance of their host that stays,
  // and more of nodes whose count grew, each with what the new model contains in it.
  const ids = new InstanceIdFactory(deploymentId, new Set(instances.map((i) => i.id)));
  const added: NodeInstanceRecord[] = [];
  const nextIndex = new Map<string, number>();
  for (const i of instances) nextIndex.set(i.node, Math.max(nextIndex.get(i.node) ?? 0, i.index));
  const children = new Map<string, string[]>();
  for (const node of Object.values(after.nodes))
    if (node.host) children.set(node.host, [...(children.get(node.host) ?? []), node.name]);
  const hostOf = new Map(instances.map((i) => [i.id, i.hostId]));
  const subtreeOf = new Map<string, Map<string, string[]>>();
  const create = (node: string, parent: string | undefined, subtree: Map<string, string[]>): void => {
    const id = ids.next(node);
    const index = (nextIndex.get(node) ?? 0) + 1;
    nextIndex.set(node, index);
    const hostId = after.nodes[node]!.typeHierarchy.includes(COMPUTE)
      ? id
      : parent
        ? (hostOf.get(parent) ?? null)
        : null;
    hostOf.set(id, hostId);
    added.push({
      id,
      deploymentId,
      node,
      index,
      state: 'uninitialized',
      runtimeProperties: {},
      version: 0,
      containedIn: parent ?? null,
      hostId,
      relationships: [],
      scalingGroups: [],
    });
    subtree.set(node, [...(subtree.get(node) ?? []), id]);
    subtreeOf.set(id, subtree);
    for (const child of children.get(node) ?? [])
      for (let n = 0; n < after.nodes[child]!.counts.default; n++) create(child, id, subtree);
  };
  const ceiling = () => {
    if (staying.length + added.length > maxInstances)
      throw new WorkflowError(
        `update: the deployment would have more than ${maxInstances.toLocaleString('en-US')} node instances, the ceiling per deployment (raise it with WEFT_MAX_INSTANCES)`,
      );
  };
  for (const { node, delta } of growth) {
    const parents = perParent(node, staying);
    const host = after.nodes[node]!.host;
    if (host) {
      for (const h of staying) if (h.node === host && !parents.has(h.id)) parents.set(h.id, []);
    } else if (parents.size === 0) {
      // A node of no host that had no instances (a ResourceGroup's spare member) grows at the top.
      parents.set('', []);
    }
    for (const [parent] of parents)
      for (let n = 0; n < delta; n++) {
        create(node, parent || undefined, new Map());
        ceiling();
      }
  }
  for (const change of diff.nodes) {
    if (change.change !== 'added' && !retyped.has(change.node)) continue;
    if (swappedNodes.has(change.node)) continue;
    const host = after.nodes[change.node]!.host;
    // Under a host that is added too, it comes with the host's instances.
    if (host && !before.nodes[host]) continue;
    const parents = host ? staying.filter((i) => i.node === host).map((i) => i.id) : [undefined];
    for (const parent of parents)
      for (let n = 0; n < after.nodes[change.node]!.counts.default; n++) {
        create(change.node, parent, new Map());
        ceiling();
      }
  }

  // The transition model: the new one, with removed nodes kept and, for each node that stays,
  // its removed relationships after the new ones (so the indices of the new ones hold).
  const transition: DeploymentModel = { ...after, nodes: { ...after.nodes } };
  // The plugins of what is removed run its deletion: the last node of a plugin's may go.
  const removedPlugins = Object.keys(before.plugins).filter((name) => !Object.hasOwn(after.plugins, name));
  if (removedPlugins.length > 0) {
    transition.plugins = { ...after.plugins };
    for (const name of removedPlugins) transition.plugins[name] = before.plugins[name]!;
    transition.removedPlugins = removedPlugins;
  }
  for (const [name, node] of Object.entries(before.nodes))
    if (!after.nodes[name]) transition.nodes[name] = { ...node, removed: true };
  for (const [name, retiredName] of retiredNodes)
    transition.nodes[retiredName] = { ...before.nodes[name]!, name: retiredName, removed: true };
  for (const name of refusedRetypes.keys()) {
    const old = before.nodes[name]!;
    const properties = { ...old.properties };
    delete properties[RESTRICTED_ACTIONS_PROPERTY];
    const restricted = after.nodes[name]!.properties[RESTRICTED_ACTIONS_PROPERTY];
    if (restricted !== undefined) properties[RESTRICTED_ACTIONS_PROPERTY] = restricted;
    transition.nodes[name] = { ...old, properties };
  }
  const matches = new Map<string, ReturnType<typeof matchRelationships>>();
  for (const name of Object.keys(after.nodes)) {
    const old = before.nodes[name];
    if (!old || retyped.has(name) || refusedRetypes.has(name)) continue;
    const match = matchRelationships(old.relationships, after.nodes[name]!.relationships);
    matches.set(name, match);
    if (match.removed.length > 0)
      transition.nodes[name] = {
        ...after.nodes[name]!,
        relationships: [
          ...after.nodes[name]!.relationships,
          ...match.removed.map((i): RelationshipModel => ({ ...old.relationships[i]!, removed: true })),
        ],
      };
  }

  // Relationship instances. New instances: as a scale-out makes them (within their own new
  // subtree when the target is there, else every instance of the target that will exist).
  const idsByNode = new Map<string, string[]>();
  for (const i of [...staying, ...added]) {
    const list = idsByNode.get(i.node);
    if (list) list.push(i.id);
    else idsByNode.set(i.node, [i.id]);
  }
  const targetsOf = (source: NodeInstanceRecord, rel: RelationshipModel): string[] => {
    if (rel.hierarchy.includes(CONTAINED_IN)) return source.containedIn ? [source.containedIn] : [];
    const own = subtreeOf.get(source.id)?.get(rel.target);
    const targets = own ?? idsByNode.get(rel.target) ?? [];
    return rel.properties.connection_type === 'all_to_one' ? targets.slice(0, 1) : targets;
  };
  const instanceOf = (rel: RelationshipModel, index: number, targetId: string): RelationshipInstance => ({
    type: rel.type,
    hierarchy: rel.hierarchy,
    target: rel.target,
    targetId,
    index,
  });
  for (const instance of added) {
    const list: RelationshipInstance[] = [];
    after.nodes[instance.node]!.relationships.forEach((rel, index) => {
      for (const targetId of targetsOf(instance, rel)) list.push(instanceOf(rel, index, targetId));
    });
    instance.relationships = list as unknown as Json;
  }
  // Instances that stay: kept relationships renumbered, added ones and new targets of kept ones
  // to establish, removed ones and those to instances that go to unlink.
  const relationships: Record<string, RelationshipInstance[]> = {};
  const finalRelationships: Record<string, RelationshipInstance[]> = {};
  const establish = new Map<string, RelationshipInstance[]>();
  const unlink = new Map<string, RelationshipInstance[]>();
  const addedByNode = new Map<string, string[]>();
  // A backup swapped back in is a new target, as an added instance is.
  for (const i of [...added, ...instances.filter((i) => swapped.has(i.id))])
    addedByNode.set(i.node, [...(addedByNode.get(i.node) ?? []), i.id]);
  for (const source of staying) {
    const match = matches.get(source.node);
    if (!match) continue;
    const rels = after.nodes[source.node]!.relationships;
    const newIndex = new Map(match.pairs);
    const removedAt = new Map(match.removed.map((old, n) => [old, rels.length + n]));
    const kept: RelationshipInstance[] = [];
    const gone: RelationshipInstance[] = [];
    const gained: RelationshipInstance[] = [];
    for (const r of relationshipsOf(source)) {
      const index = newIndex.get(r.index);
      if (index === undefined) gone.push({ ...r, index: removedAt.get(r.index) ?? r.index });
      else if (removed.has(r.targetId)) gone.push({ ...r, index });
      else kept.push(index === r.index ? r : { ...r, index });
    }
    for (const index of match.added)
      for (const targetId of targetsOf(source, rels[index]!))
        gained.push(instanceOf(rels[index]!, index, targetId));
    for (const [, index] of match.pairs) {
      const rel = rels[index]!;
      if (rel.hierarchy.includes(CONTAINED_IN) || rel.properties.connection_type === 'all_to_one') continue;
      // (A source a failed update left between versions may still have its backup as a target.)
      for (const targetId of addedByNode.get(rel.target) ?? [])
        if (!kept.some((r) => r.index === index && r.targetId === targetId))
          gained.push(instanceOf(rel, index, targetId));
    }
    const changedIndices = kept.some((r, n) => r !== relationshipsOf(source)[n]);
    if (gone.length === 0 && gained.length === 0 && !changedIndices) continue;
    // In the order of the node's relationships, as Cloudify rebuilds them.
    const ordered = [...kept, ...gained].sort((a, b) => a.index - b.index);
    finalRelationships[source.id] = ordered;
    relationships[source.id] = [...ordered, ...gone];
    if (gained.length > 0) establish.set(source.id, gained);
    if (gone.length > 0) unlink.set(source.id, gone);
  }

  // What runs on the instances that stay and whose node changed: the update operations where the
  // node has them, else a reinstall (unless skipped); reinstall_list always reinstalls.
  const actions: Record<string, InstanceAction> = {};
  for (const i of added) actions[i.id] = 'add';
  for (const id of removed) actions[id] = 'remove';
  for (const id of [...establish.keys(), ...unlink.keys()]) actions[id] = 'relink';
  const reinstall = new Set<string>();
  const update = new Map<string, string[]>();
  for (const change of diff.nodes) {
    if (change.change !== 'modified') continue;
    // Properties or operations (of the node or of its relationships) changed; relationships
    // added, removed or reordered only relink. Only started instances are updated.
    const changed =
      change.properties.length > 0 ||
      change.operations.length > 0 ||
      change.relationships.modified.length > 0;
    if (!changed) continue;
    const operations = updateOperations(after.nodes[change.node]!);
    for (const i of staying) {
      if (i.node !== change.node || i.state !== 'started') continue;
      if (operations.length > 0) update.set(i.id, operations);
      else if (!params.skip_reinstall) reinstall.add(i.id);
    }
  }
  // In a HOT stack, a resource left FAILED (its create, update or check failed) is replaced,
  // whether or not its definition changed, as Heat's Resource._needs_update raises
  // UpdateReplace for a resource in a FAILED state. Not in a rollback, which puts the resources
  // back as they were.
  // But for a replacement that failed to be made over a resource that had not failed: that one is
  // there as it was, and is what the update changes (kept when its definition is the one asked
  // for), as Heat's Stack._get_best_existing_rsrc_db prefers it to the FAILED replacement. And a
  // resource whose update the environment refused (restricted_actions) still has its old
  // properties: it is updated again, as Heat meets the same change in the next update, the
  // resource's own template having stayed as it was.
  const replacements: Record<string, Replacement> = {};
  const revived = new Set<string>();
  if (heat && !params.restore)
    for (const i of staying) {
      if (NOT_INSTALLED.has(i.state) || params.reinstall_list.includes(i.id)) continue;
      if (!Object.hasOwn(after.nodes[i.node]!.operations, RESOURCE_UPDATE)) continue;
      const record = i.runtimeProperties.heat as
        | { condemned?: { why?: string; reinstated?: { status?: string } }; refused?: string }
        | undefined;
      const reinstated =
        record?.condemned?.why === 'failed replacement' ? record.condemned.reinstated : undefined;
      if ((reinstated && reinstated.status !== 'FAILED') || record?.refused) {
        if (i.state === 'started') update.set(i.id, [RESOURCE_UPDATE]);
        continue;
      }
      const state = heatResourceState(i);
      if (!state.endsWith('_FAILED')) continue;
      update.set(i.id, [RESOURCE_UPDATE]);
      replacements[i.id] = { properties: [], reason: `it is ${state}`, deletesFirst: false };
      if (i.state !== 'started') revived.add(i.id);
    }
  // A refused type change: the update of the resource is asked for the replacement, and refuses it
  // (it is still a replacement in the plan, as Heat's StackUpdate.preview lists a type change).
  const replacedBy = new Map<string, string>();
  for (const i of staying) {
    const type = refusedRetypes.get(i.node);
    if (type === undefined || NOT_INSTALLED.has(i.state)) continue;
    update.set(i.id, [RESOURCE_UPDATE]);
    replacedBy.set(i.id, type);
    revived.delete(i.id);
  }
  // In a HOT stack, a resource whose properties read one that changes is updated too (its update
  // evaluates them again), as Heat updates what depends on a changed resource.
  if (heat) {
    const changedNodes = new Set([
      ...swappedNodes,
      ...added.map((i) => i.node),
      ...diff.nodes.filter((n) => n.change === 'added').map((n) => n.node),
    ]);
    for (const id of [...update.keys(), ...reinstall]) changedNodes.add(byId.get(id)!.node);
    for (let grew = true; grew; ) {
      grew = false;
      for (const node of Object.values(after.nodes)) {
        if (changedNodes.has(node.name)) continue;
        const reads = runtimeReferences(node.properties);
        if (![...reads].some((name) => changedNodes.has(name))) continue;
        changedNodes.add(node.name);
        grew = true;
        const operations = updateOperations(node);
        for (const i of staying) {
          if (i.node !== node.name || i.state !== 'started' || update.has(i.id)) continue;
          if (operations.length > 0) update.set(i.id, operations);
          else if (!params.skip_reinstall) reinstall.add(i.id);
        }
      }
    }
  }
  // Instances a check found drifted or unhealthy (update --refresh): updated in place where their
  // node can be, else reinstalled (as Cloudify's update does after its drift check).
  for (const id of params.refresh ?? []) {
    const instance = byId.get(id);
    if (!instance || removed.has(id) || instance.state !== 'started' || update.has(id)) continue;
    const operations = updateOperations(after.nodes[instance.node]!);
    if (operations.length > 0) update.set(id, operations);
    else if (!params.skip_reinstall) reinstall.add(id);
  }
  for (const id of params.reinstall_list)
    if (!removed.has(id) && byId.get(id)!.state === 'started') reinstall.add(id);
  // In a HOT stack, every stack resource (a template resource, group, chain or OS::Heat::Stack:
  // the node of a nested stack, whose resources are nodes of their own) is updated, its definition
  // changed or not, as Heat's StackResource._needs_update always updates a nested stack and lets
  // the resources in it decide whether they change (they are planned as any other resource).
  // One that was never created (not started) is left to the rest of the plan, as Heat's default
  // check applies to a stack resource without a nested stack.
  const always = new Set<string>();
  if (heat)
    for (const i of staying) {
      const node = after.nodes[i.node]!;
      if (i.state !== 'started' || update.has(i.id) || reinstall.has(i.id)) continue;
      if (!isStackResourceType(node.type) || before.nodes[i.node]?.type !== node.type) continue;
      if (!Object.hasOwn(node.operations, RESOURCE_UPDATE)) continue;
      update.set(i.id, [RESOURCE_UPDATE]);
      always.add(i.id);
    }
  // A reinstall takes what is contained in the instance with it.
  const stayingSubtree = containment(staying);
  for (const id of [...reinstall]) for (const sub of stayingSubtree(id)) reinstall.add(sub);
  for (const id of reinstall) {
    update.delete(id);
    actions[id] = 'reinstall';
  }
  for (const id of update.keys()) actions[id] ??= 'update';
  // A rolling update that keeps min_in_service members in service makes temporary members (of the
  // group's spare nodes, each with what its member contains) and removes them by its end, as
  // Heat's ResourceGroup._assemble_for_rolling_update sizes each batch's nested stack.
  // (Members whose own definition did not change are no outdated members: a group whose
  // resource_def stays is resized at once, as Heat's ResourceGroup.handle_update does.)
  const rolling = heat
    ? planRolling(after.nodes, instances, removed, (id) => update.has(id) && !always.has(id))
    : [];
  for (const { group, temporary } of rolling)
    for (const member of temporary) {
      const made = added.length;
      const subtree = new Map<string, string[]>();
      for (const node of Object.keys(after.nodes))
        if (memberOf(group, node) === member) create(node, undefined, subtree);
      for (const instance of added.slice(made)) {
        removed.add(instance.id);
        actions[instance.id] = 'add';
        const list: RelationshipInstance[] = [];
        after.nodes[instance.node]!.relationships.forEach((rel, index) => {
          for (const targetId of targetsOf(instance, rel)) list.push(instanceOf(rel, index, targetId));
        });
        instance.relationships = list as unknown as Json;
      }
    }
  // A HOT stack's restore from a snapshot (Heat's stack restore) brings every resource to the
  // snapshot's definition, whatever the model says it is: after a failed update or restore the
  // model is already the new one while resources are not. Each one that can be updated is (its
  // update compares the properties it has with the node's, and does nothing when they are equal),
  // as Heat's update compares each resource with its new definition.
  if (heat && params.snapshot)
    for (const i of staying)
      if (
        i.state === 'started' &&
        !update.has(i.id) &&
        !reinstall.has(i.id) &&
        Object.hasOwn(after.nodes[i.node]!.operations, RESOURCE_UPDATE)
      ) {
        update.set(i.id, [RESOURCE_UPDATE]);
        actions[i.id] ??= 'update';
      }
  // A rollback installs again what the update it undoes took down (or never got to install), and
  // so does a restore (what a failed update or restore did not make). A HOT stack's update makes
  // the resources never made (a create stopped before them, by a cancel or a take-over), as
  // Heat's convergence creates each resource of the template that has no physical resource.
  const restored = new Set(
    params.restore || params.snapshot
      ? staying
          .filter((i) => i.state !== 'started' && !reinstall.has(i.id) && !update.has(i.id))
          .map((i) => i.id)
      : heat && !params.skip_install
        ? staying
            .filter((i) => i.state === 'uninitialized' && !reinstall.has(i.id) && !update.has(i.id))
            .map((i) => i.id)
        : [],
  );
  for (const id of restored) actions[id] = 'install';
  for (const change of diff.nodes)
    if (change.type && (retyped.has(change.node) || refusedRetypes.has(change.node)))
      for (const i of instances)
        if (i.node === change.node && !swapped.has(i.id))
          replacements[i.id] = {
            properties: [],
            reason: `its type changes from ${change.type.before} to ${change.type.after}`,
            deletesFirst: false,
          };

  const graph = updateGraph({
    nodes: transition.nodes,
    instances,
    staying,
    added,
    removed,
    relationships,
    finalRelationships,
    establish,
    unlink,
    reinstall,
    update,
    restored,
    revived,
    retired,
    replacedBy,
    params,
    heat,
    rolling,
  });
  return {
    diff,
    transition,
    added,
    removed: [...removed],
    relationships,
    finalRelationships,
    retired,
    actions,
    replacements,
    graph,
  };
}

/**
 * The backups to swap back in, by instance id: the node each instance goes back to. A node whose
 * type changes has one when an earlier update that replaced it failed before deleting the old
 * resource (kept as `NAME@replaced`, the last of them when there are several), that resource is
 * COMPLETE (every instance started) and has the type and properties the node now gets, as Heat's
 * StackUpdate._create_resource (heat/engine/update.py) swaps in the backup stack's resource when
 * its status is COMPLETE rather than creating a new one.
 */
function backups(
  retyped: Set<string>,
  before: DeploymentModel,
  after: DeploymentModel,
  instances: NodeInstanceRecord[],
): Map<string, string> {
  const swapped = new Map<string, string>();
  for (const name of retyped) {
    const wanted = after.nodes[name]!;
    const candidates = Object.keys(before.nodes)
      .filter((n) => !after.nodes[n] && /^@replaced\d*$/.test(n.slice(name.length)) && n.startsWith(name))
      .sort((a, b) => Number(a.slice(name.length + 9) || 1) - Number(b.slice(name.length + 9) || 1));
    for (const candidate of candidates.reverse()) {
      const node = before.nodes[candidate]!;
      const own = instances.filter((i) => i.node === candidate);
      if (node.type !== wanted.type || !jsonEqual(node.properties, wanted.properties)) continue;
      if (own.length === 0 || own.some((i) => i.state !== 'started')) continue;
      for (const i of own) swapped.set(i.id, name);
      break;
    }
  }
  return swapped;
}

interface GraphParts {
  nodes: DeploymentModel['nodes'];
  instances: NodeInstanceRecord[];
  staying: NodeInstanceRecord[];
  added: NodeInstanceRecord[];
  removed: Set<string>;
  relationships: Record<string, RelationshipInstance[]>;
  finalRelationships: Record<string, RelationshipInstance[]>;
  establish: Map<string, RelationshipInstance[]>;
  unlink: Map<string, RelationshipInstance[]>;
  reinstall: Set<string>;
  update: Map<string, string[]>;
  restored: Set<string>;
  /** Updated instances that are not started (their create failed): started once replaced. */
  revived: Set<string>;
  /** Removed instances that move to the node of their old definition (UpdatePlan.retired). */
  retired: Record<string, string>;
  /** Instances whose type change the environment restricts: the type their update is asked to be replaced by. */
  replacedBy: Map<string, string>;
  params: UpdateParameters;
  /** A HOT stack: what is added is made first, as Heat creates new resources before it updates those that read them. */
  heat?: boolean;
  /** The rolling updates of its ResourceGroups. */
  rolling: RollingPlan[];
}

/**
 * The update's tasks, in Cloudify's order: sources that stay unlink their removed relationships,
 * removed instances are uninstalled, changed instances are updated or reinstalled, added
 * instances are installed, and sources that stay establish their new relationships. With
 * install_first, the uninstall half comes last instead.
 */
function updateGraph(parts: GraphParts): TaskGraph {
  const { nodes, params } = parts;
  const model = { nodes } as DeploymentModel;
  const byId = new Map(parts.instances.map((i) => [i.id, i]));
  const addedIds = new Set(parts.added.map((i) => i.id));
  const empty = (): TaskGraph => ({ workflow: 'update', tasks: [] });

  // Uninstall: the unlinks of sources that stay, then the removed instances that were installed
  // (their relationships to instances that never were have nothing to unlink).
  const uninstall = empty();
  const unlinks: number[] = [];
  for (const [id, rels] of parts.unlink) {
    const source = byId.get(id)!;
    if (NOT_INSTALLED.has(source.state)) continue;
    for (const r of rels) unlinks.push(...addRelationshipTasks(uninstall, model, source, r, 'unlink', []));
  }
  // Temporary members of a rolling update are removed too, made by then.
  const temporary = parts.added
    .filter((i) => parts.removed.has(i.id))
    .map((i): NodeInstanceRecord => ({ ...i, state: 'started' }));
  const leaving = only(
    [...parts.instances, ...temporary],
    (i) => parts.removed.has(i.id) && !NOT_INSTALLED.has(i.state),
  );
  const teardown = uninstallGraph(
    nodes,
    lifecycleInstances(leaving).map((i) => ({ ...i, node: parts.retired[i.id] ?? i.node })),
  );
  const offset = uninstall.tasks.length;
  for (const task of teardown.tasks)
    uninstall.tasks.push({
      ...task,
      id: task.id + offset,
      dependsOn: task.dependsOn.length === 0 ? [...unlinks] : task.dependsOn.map((d) => d + offset),
    });
  if (params.ignore_failure) for (const task of uninstall.tasks) task.ignoreFailure = true;

  // The instances as they are once the update's relationships are in place.
  const current = [
    ...parts.staying.map((i) =>
      parts.finalRelationships[i.id]
        ? { ...i, relationships: parts.finalRelationships[i.id] as unknown as Json }
        : i,
    ),
    ...parts.added,
  ];

  // Changed instances: the update operations, in dependency order of the instances...
  let changes = empty();
  if (parts.update.size > 0) {
    const ends = new Map<string, number>();
    const firsts = new Map<string, Task>();
    for (const [id, operations] of parts.update) {
      const instance = byId.get(id)!;
      for (const operation of operations) {
        const task: Task = {
          id: changes.tasks.length,
          kind: 'operation',
          instanceId: id,
          node: instance.node,
          operation,
          operationDef: nodes[instance.node]!.operations[operation]!,
          dependsOn: ends.has(id) ? [ends.get(id)!] : [],
        };
        const replacement = parts.replacedBy.get(id);
        if (replacement !== undefined) task.inputs = { [REPLACED_BY_INPUT]: replacement };
        changes.tasks.push(task);
        if (!firsts.has(id)) firsts.set(id, task);
        ends.set(id, task.id);
      }
      if (parts.revived.has(id)) {
        const task: Task = {
          id: changes.tasks.length,
          kind: 'state',
          instanceId: id,
          node: instance.node,
          state: 'started',
          dependsOn: [ends.get(id)!],
        };
        changes.tasks.push(task);
        ends.set(id, task.id);
      }
    }
    for (const [id, first] of firsts)
      for (const r of parts.finalRelationships[id] ?? relationshipsOf(byId.get(id)!)) {
        const awaited = ends.get(r.targetId);
        if (awaited !== undefined && !first.dependsOn.includes(awaited)) first.dependsOn.push(awaited);
      }
  }
  // ...and the reinstalls, over the relationships the instances keep (their removed ones are
  // unlinked already; the new ones to instances not installed yet establish with those).
  if (parts.reinstall.size > 0) {
    const kept = current.filter((i) => !addedIds.has(i.id));
    changes = chain(
      changes,
      reinstallGraph('update', nodes, kept, parts.reinstall, params.ignore_failure),
      'update',
    );
  }

  // Install: the added instances (and, in a rollback, those not started), then the establish of
  // sources that stay (a reinstalled source established its new relationships to instances that
  // stay while it was installed again).
  const install = installGraph(
    nodes,
    lifecycleInstances(only(current, (i) => addedIds.has(i.id) || parts.restored.has(i.id))),
  );
  if (parts.heat) batchCreate(install, nodes, current);
  const tails = tailsOf(install);
  for (const [id, rels] of parts.establish) {
    const source = byId.get(id)!;
    if (source.state !== 'started') continue;
    for (const r of rels) {
      if (parts.reinstall.has(id) && !addedIds.has(r.targetId)) continue;
      addRelationshipTasks(install, model, source, r, 'establish', addedIds.has(r.targetId) ? tails : []);
    }
  }

  const removing = params.skip_uninstall ? empty() : uninstall;
  const adding = params.skip_install ? empty() : install;
  if (parts.heat) {
    const made = byDependencies(adding, changes, current, parts);
    const graph = chain(made, removing, 'update');
    rollInBatches(graph, parts, made.tasks.length);
    beginStackUpdates(graph, parts.nodes);
    return graph;
  }
  return params.install_first
    ? chain(chain(changes, adding, 'update'), removing, 'update')
    : chain(chain(removing, changes, 'update'), adding, 'update');
}

/**
 * A HOT stack's added and changed resources in one graph ordered by what they read, as Heat's
 * StackUpdate.dependencies orders an update (heat/engine/update.py): a changed resource (updated
 * in place or replaced) that reads an added one waits for its create, and an added resource that
 * reads a changed one waits for its update or replacement, so it is made from the new one's
 * attributes (not the old one's). Resources that read none of the others' run at once.
 */
function byDependencies(
  adding: TaskGraph,
  changes: TaskGraph,
  current: NodeInstanceRecord[],
  parts: GraphParts,
): TaskGraph {
  const offset = adding.tasks.length;
  const shifted: Task[] = changes.tasks.map((t) => ({
    ...t,
    id: t.id + offset,
    dependsOn: t.dependsOn.map((d) => d + offset),
  }));
  const tasksOf = (tasks: Task[]) => {
    const by = new Map<string, number[]>();
    for (const t of tasks)
      if (t.instanceId !== undefined) by.set(t.instanceId, [...(by.get(t.instanceId) ?? []), t.id]);
    return by;
  };
  const installing = tasksOf(adding.tasks);
  const changing = tasksOf(shifted);
  const byId = new Map(current.map((i) => [i.id, i]));
  const targets = (id: string) =>
    (parts.finalRelationships[id] ?? (byId.has(id) ? relationshipsOf(byId.get(id)!) : [])).map(
      (r) => r.targetId,
    );
  const awaits = (task: Task, ids: number[]) => {
    for (const id of ids) if (!task.dependsOn.includes(id)) task.dependsOn.push(id);
  };
  // An added resource waits for the changed ones it reads...
  const added = new Set(parts.added.map((i) => i.id));
  for (const task of adding.tasks)
    if (task.instanceId !== undefined && added.has(task.instanceId))
      for (const target of targets(task.instanceId)) awaits(task, changing.get(target) ?? []);
  // ...and a changed resource for the added ones it reads (their tasks, not its own establishes).
  for (const task of shifted)
    if (task.instanceId !== undefined)
      for (const target of targets(task.instanceId))
        if (added.has(target)) awaits(task, installing.get(target) ?? []);
  return { workflow: 'update', tasks: [...adding.tasks.map((t) => ({ ...t })), ...shifted] };
}

/**
 * A HOT ResourceGroup with an update_policy rolling_update whose members' definition changed has
 * them updated (or replaced) in batches, as Heat's ResourceGroup._replace does: each batch as
 * planRolling works it out (the highest indices first, at most max_batch_size members, members
 * a count increase adds and temporary ones made in the first batches, counting against their
 * size), one batch after the other, pausing pause_time seconds between them (a task of the
 * group's node). A group whose members keep their definition is resized at once, as Heat does
 * when resource_def is unchanged. Members a smaller count removes (and temporary ones) go in the
 * batch whose capacity leaves them out (so that min_in_service stay), those a removal policy
 * takes in the first, as each batch's nested template leaves them out; their deletions are the
 * graph's tasks from `removalsFrom` on.
 */
function rollInBatches(graph: TaskGraph, parts: GraphParts, removalsFrom: number): void {
  const addedIds = new Set(parts.added.map((i) => i.id));
  for (const { group: name, batches: planned, skipped } of parts.rolling) {
    const node = parts.nodes[name]!;
    const policy = node.properties.rolling_update as Record<string, number>;
    const updating = new Map<string, Task[]>();
    const creating = new Map<string, Task[]>();
    const deleting = new Map<string, Task[]>();
    for (const task of graph.tasks) {
      const member = memberOf(name, task.node);
      if (member === undefined) continue;
      // (A temporary member is added and removed: its tasks before the removals make it.)
      const into =
        task.id >= removalsFrom && parts.removed.has(task.instanceId!)
          ? deleting
          : addedIds.has(task.instanceId)
            ? creating
            : parts.update.has(task.instanceId)
              ? updating
              : undefined;
      into?.set(member, [...(into.get(member) ?? []), task]);
    }
    // A member's deletion leaves the end of the update for its batch when it waits only for the
    // tasks before the deletions (not for another deletion, such as an unlink of its own).
    const deletion = (member: string): Task[] => {
      const tasks = deleting.get(member) ?? [];
      const own = new Set(tasks.map((t) => t.id));
      if (!tasks.every((t) => t.dependsOn.every((d) => d < removalsFrom || own.has(d)))) return [];
      for (const task of tasks) task.dependsOn = task.dependsOn.filter((d) => own.has(d));
      return tasks;
    };
    const batches = planned.map((batch, index) => [
      ...batch.create.flatMap((m) => creating.get(m) ?? []),
      ...batch.update.flatMap((m) => updating.get(m) ?? []),
      ...(index === 0 ? [...skipped] : []).flatMap(deletion),
      ...batch.remove.flatMap(deletion),
    ]);
    const parent = parts.staying.find((i) => i.node === name);
    gateBatches(graph, batches, pauseTask(graph, node, parent?.id, policy.pause_time ?? 0));
  }
}

/**
 * A stack resource's update (a template resource, group, chain, OS::Heat::Stack) begins before
 * what changes in its nested stack and ends after it, as Heat's StackResource goes
 * UPDATE_IN_PROGRESS, updates its nested stack, then goes UPDATE_COMPLETE: its update task is
 * preceded by one with BEGIN_UPDATE_INPUT (waiting for what it waits for outside its stack) that
 * the tasks of the resources in its stack (and its rolling update's pauses) wait for, and it waits
 * for them, but for those that wait for it (removals, which a HOT update runs last). One whose
 * stack has no task is updated by its one task, as before.
 */
function beginStackUpdates(graph: TaskGraph, nodes: Record<string, NodeModel>): void {
  const byId = new Map(graph.tasks.map((t) => [t.id, t]));
  // Whether task `from` waits, directly or not, for one of `targets`.
  const waitsFor = (from: Task, targets: Set<number>): boolean => {
    const seen = new Set<number>();
    const stack = [...from.dependsOn];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (targets.has(id)) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...(byId.get(id)?.dependsOn ?? []));
    }
    return false;
  };
  for (const finish of [...graph.tasks]) {
    const node = finish.node === undefined ? undefined : nodes[finish.node];
    if (finish.operation !== RESOURCE_UPDATE || !node || !isStackResourceType(node.type)) continue;
    if (finish.inputs?.[REPLACED_BY_INPUT] !== undefined) continue;
    const inside = graph.tasks.filter(
      (t) =>
        t.node?.startsWith(`${finish.node}.`) ||
        (t.instanceId === finish.instanceId && t.operation === ROLLING_PAUSE),
    );
    if (inside.length === 0) continue;
    const insideIds = new Set(inside.map((t) => t.id));
    const begin: Task = {
      ...finish,
      id: graph.tasks.length,
      inputs: { ...finish.inputs, [BEGIN_UPDATE_INPUT]: true },
      dependsOn: finish.dependsOn.filter((d) => !insideIds.has(d) && !waitsFor(byId.get(d)!, insideIds)),
    };
    graph.tasks.push(begin);
    byId.set(begin.id, begin);
    const own = new Set([finish.id]);
    for (const task of inside) {
      task.dependsOn.push(begin.id);
      if (!waitsFor(task, own) && !finish.dependsOn.includes(task.id)) finish.dependsOn.push(task.id);
    }
    finish.dependsOn.push(begin.id);
  }
}
