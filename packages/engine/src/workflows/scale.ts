import type { Json } from '@weft/sdk';
import type { DeploymentModel } from '../model/deployment-model.js';
import { InstanceIdFactory } from '../model/instance-ids.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import { DEFAULT_MAX_INSTANCES, type RelationshipInstance } from '../model/plan.js';
import { containedSubtree, tailsOf, WorkflowError } from './builtin.js';
import { addRelationshipTasks, installGraph, type TaskGraph, uninstallGraph } from './lifecycle.js';

const COMPUTE = 'cloudify.nodes.Compute';
const CONTAINED_IN = 'cloudify.relationships.contained_in';

/** What a scale execution changes, worked out before it runs. */
export interface ScalePlan {
  graph: TaskGraph;
  /** Instances to add before running (scale out). */
  added: NodeInstanceRecord[];
  /** Instances to remove once the execution has succeeded (scale in). */
  removed: string[];
  /** New relationship lists of existing instances: applied before running (out) or after (in). */
  relationships: Map<string, RelationshipInstance[]>;
}

const rels = (i: NodeInstanceRecord) => i.relationships as unknown as RelationshipInstance[];

/** The node or scaling group's member nodes that are scaled, and their parents' node. */
function scaledNodes(model: DeploymentModel, entity: string, scaleCompute: boolean): string[] {
  if (model.nodes[entity]) {
    if (!scaleCompute) return [entity];
    // scale_compute: scale the Compute the node runs on, with everything on it.
    for (let n: string | undefined = entity; n; n = model.nodes[n]?.host) {
      if (model.nodes[n]?.typeHierarchy.includes(COMPUTE)) return [n];
    }
    return [entity];
  }
  const group = model.groups[entity];
  if (!group || !model.scalingGroups[entity]) {
    const known = [...Object.keys(model.nodes), ...Object.keys(model.scalingGroups)];
    throw new WorkflowError(
      `scale: '${entity}' is neither a node nor a scaling group (known: ${known.join(', ')})`,
    );
  }
  const members = new Set(group.members.filter((m) => model.nodes[m]));
  // Members contained in other members come along with them.
  return [...members].filter((m) => !members.has(model.nodes[m]!.host ?? ''));
}

function countFor(model: DeploymentModel, entity: string, node: string): { min: number; max: number } {
  const counts = model.scalingGroups[entity] ?? model.nodes[node]!.counts;
  return { min: counts.min, max: counts.max };
}

/** Plans a scale by `delta` instances of a node (per host instance) or scaling group. */
export function planScale(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  deploymentId: string,
  params: Record<string, Json>,
  maxInstances = DEFAULT_MAX_INSTANCES,
): ScalePlan {
  const entity = params.scalable_entity_name;
  const delta = params.delta;
  if (typeof entity !== 'string' || entity === '')
    throw new WorkflowError("scale needs 'scalable_entity_name' (a node or a scaling group)");
  if (typeof delta !== 'number' || !Number.isInteger(delta))
    throw new WorkflowError(`scale: delta must be an integer, got ${JSON.stringify(delta)}`);
  const roots = scaledNodes(model, entity, params.scale_compute === true);
  const plan: ScalePlan = {
    graph: { workflow: 'scale', tasks: [] },
    added: [],
    removed: [],
    relationships: new Map(),
  };
  if (delta === 0) return plan;
  const byNode = new Map<string, NodeInstanceRecord[]>();
  for (const i of instances) byNode.set(i.node, [...(byNode.get(i.node) ?? []), i]);
  // Instances are grouped by the instance they are contained in (one group when there is no host).
  const perParent = (node: string) => {
    const groups = new Map<string, NodeInstanceRecord[]>();
    for (const i of byNode.get(node) ?? [])
      groups.set(i.containedIn ?? '', [...(groups.get(i.containedIn ?? '') ?? []), i]);
    const host = model.nodes[node]!.host;
    if (host) for (const h of byNode.get(host) ?? []) if (!groups.has(h.id)) groups.set(h.id, []);
    if (!host && groups.size === 0) groups.set('', []);
    return groups;
  };
  let adding = 0;
  for (const root of roots) {
    const { min, max } = countFor(model, entity, root);
    const parents = perParent(root);
    adding += delta * parents.size;
    // Checked before anything is made: a typo (delta=100000000) must not plan for minutes.
    if (instances.length + adding > maxInstances)
      throw new WorkflowError(
        `scale: the deployment would have at least ${(instances.length + adding).toLocaleString('en-US')} node instances, over the ceiling of ${maxInstances.toLocaleString('en-US')} per deployment (raise it with WEFT_MAX_INSTANCES)`,
      );
    for (const [, current] of parents) {
      const target = current.length + delta;
      if (target < min)
        throw new WorkflowError(
          `scale: ${root} would have ${target} instances, fewer than min_instances ${min}`,
        );
      if (max !== -1 && target > max)
        throw new WorkflowError(
          `scale: ${root} would have ${target} instances, more than max_instances ${max}`,
        );
    }
  }
  return delta > 0
    ? scaleOut(model, instances, byNode, deploymentId, roots, delta, perParent, plan)
    : scaleIn(model, instances, roots, -delta, perParent, plan);
}

function scaleOut(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  byNode: Map<string, NodeInstanceRecord[]>,
  deploymentId: string,
  roots: string[],
  delta: number,
  perParent: (node: string) => Map<string, NodeInstanceRecord[]>,
  plan: ScalePlan,
): ScalePlan {
  const ids = new InstanceIdFactory(deploymentId, new Set(instances.map((i) => i.id)));
  const hostOf = new Map(instances.map((i) => [i.id, i.hostId]));
  const children = (node: string) =>
    Object.values(model.nodes)
      .filter((n) => n.host === node)
      .map((n) => n.name);
  const create = (node: string, parent: string | undefined, subtree: Map<string, string[]>): void => {
    const id = ids.next(node);
    const isCompute = model.nodes[node]!.typeHierarchy.includes(COMPUTE);
    const hostId = isCompute ? id : parent ? (hostOf.get(parent) ?? null) : null;
    hostOf.set(id, hostId);
    const index = (byNode.get(node)?.length ?? 0) + plan.added.filter((a) => a.node === node).length + 1;
    plan.added.push({
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
    for (const child of children(node))
      for (let i = 0; i < model.nodes[child]!.counts.default; i++) create(child, id, subtree);
  };
  const subtrees: Map<string, string[]>[] = [];
  for (const root of roots) {
    for (const [parent] of perParent(root)) {
      for (let i = 0; i < delta; i++) {
        const subtree = new Map<string, string[]>();
        create(root, parent || undefined, subtree);
        subtrees.push(subtree);
      }
    }
  }
  const subtreeOf = new Map<string, Map<string, string[]>>();
  for (const s of subtrees) for (const list of s.values()) for (const id of list) subtreeOf.set(id, s);
  const all = [...instances, ...plan.added];
  // Relationships of the new instances: within their own new subtree when the target is in it.
  for (const instance of plan.added) {
    const list: RelationshipInstance[] = [];
    for (const [index, rel] of model.nodes[instance.node]!.relationships.entries()) {
      let targets: string[];
      if (rel.hierarchy.includes(CONTAINED_IN)) targets = instance.containedIn ? [instance.containedIn] : [];
      else {
        const own = subtreeOf.get(instance.id)?.get(rel.target);
        targets = own ?? all.filter((i) => i.node === rel.target).map((i) => i.id);
        if (rel.properties.connection_type === 'all_to_one') targets = targets.slice(0, 1);
      }
      for (const targetId of targets)
        list.push({ type: rel.type, hierarchy: rel.hierarchy, target: rel.target, targetId, index });
    }
    instance.relationships = list as unknown as Json;
  }
  // Relationships to existing instances run their operations too; their targets are already up.
  const graph = installGraph(
    model.nodes,
    plan.added.map((i) => ({ id: i.id, node: i.node, relationships: rels(i) })),
  );
  // Existing sources connect to the new targets: their establish runs once the targets are up.
  const tails = tailsOf(graph);
  for (const source of instances) {
    const extra: RelationshipInstance[] = [];
    for (const [index, rel] of model.nodes[source.node]!.relationships.entries()) {
      if (rel.hierarchy.includes(CONTAINED_IN) || rel.properties.connection_type === 'all_to_one') continue;
      for (const target of plan.added.filter((a) => a.node === rel.target)) {
        extra.push({
          type: rel.type,
          hierarchy: rel.hierarchy,
          target: rel.target,
          targetId: target.id,
          index,
        });
      }
    }
    if (extra.length === 0) continue;
    plan.relationships.set(source.id, [...rels(source), ...extra]);
    for (const r of extra) addRelationshipTasks(graph, model, source, r, 'establish', tails);
  }
  plan.graph = { ...graph, workflow: 'scale' };
  return plan;
}

function scaleIn(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  roots: string[],
  count: number,
  perParent: (node: string) => Map<string, NodeInstanceRecord[]>,
  plan: ScalePlan,
): ScalePlan {
  const removed = new Set<string>();
  for (const root of roots) {
    for (const [, current] of perParent(root)) {
      // The newest instances go first.
      for (const victim of [...current].sort((a, b) => b.index - a.index).slice(0, count)) {
        for (const id of containedSubtree(instances, victim.id)) removed.add(id);
      }
    }
  }
  plan.removed = [...removed];
  const leaving = instances.filter((i) => removed.has(i.id));
  const graph: TaskGraph = { workflow: 'scale', tasks: [] };
  // Remaining sources unlink from leaving targets first.
  const unlinks: number[] = [];
  for (const source of instances) {
    if (removed.has(source.id)) continue;
    const gone = rels(source).filter((r) => removed.has(r.targetId));
    if (gone.length === 0) continue;
    plan.relationships.set(
      source.id,
      rels(source).filter((r) => !removed.has(r.targetId)),
    );
    for (const r of gone) unlinks.push(...addRelationshipTasks(graph, model, source, r, 'unlink', []));
  }
  const teardown = uninstallGraph(
    model.nodes,
    leaving.map((i) => ({ id: i.id, node: i.node, relationships: rels(i) })),
  );
  const offset = graph.tasks.length;
  for (const task of teardown.tasks) {
    graph.tasks.push({
      ...task,
      id: task.id + offset,
      dependsOn: task.dependsOn.length === 0 ? [...unlinks] : task.dependsOn.map((d) => d + offset),
    });
  }
  plan.graph = graph;
  return plan;
}
