import type { Json } from '@weft/sdk';
import { LOOM_AUTOMATOR_INTERFACE } from '../dsl/blueprint-types.js';
import type { DeploymentModel, NodeModel, OperationModel } from '../model/deployment-model.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import type { RelationshipInstance } from '../model/plan.js';

/** What a lifecycle graph needs to know about a node. */
export type LifecycleNode = Pick<NodeModel, 'operations' | 'relationships'>;

/** What a lifecycle graph needs to know about an instance. */
export interface LifecycleInstance {
  id: string;
  node: string;
  relationships: RelationshipInstance[];
  /** The Compute instance it runs on (itself for a Compute), when known. */
  hostId?: string | null;
  /**
   * An instance left as it is whose relationships (those listed) lead into the graph: only those
   * relationships' establish (install) or unlink (uninstall) run, after the target is installed
   * or before it is torn down, as Cloudify's heal does for the instances around what it heals.
   */
  related?: boolean;
}

export interface RelationshipEnd {
  side: 'source' | 'target';
  /** The other end's instance (the target's for a source-side task, and the other way round). */
  sourceId: string;
  targetId: string;
  targetNode: string;
  type: string;
  index: number;
}

export interface Task {
  id: number;
  /** 'workflow': a workflow script, the only task of its graph when the execution starts. */
  kind: 'operation' | 'state' | 'workflow';
  /** The instance the task belongs to (for relationship tasks: the source instance). */
  instanceId: string;
  node: string;
  /** Full operation name, e.g. `cloudify.interfaces.lifecycle.create`. */
  operation?: string;
  operationDef?: OperationModel;
  /**
   * For state tasks: the state the instance moves to. For operation tasks: the state it moves to
   * once the operation is done, where a state step follows the operation directly (see append).
   */
  state?: string;
  relationship?: RelationshipEnd;
  dependsOn: number[];
  /** Inputs given for this task, over the operation's own (execute_operation's operation_kwargs). */
  inputs?: Record<string, Json>;
  /** A failure of this task does not fail the execution (heal's uninstall half). */
  ignoreFailure?: boolean;
}

export interface TaskGraph {
  workflow: string;
  tasks: Task[];
}

const LIFECYCLE = 'cloudify.interfaces.lifecycle';
/**
 * A Loom automator's BOOTSTRAP (the node types generated from a Loom manifest declare it): run by
 * install once per host for each automator its services use, before any of their tasks there.
 */
export const LOOM_BOOTSTRAP = `${LOOM_AUTOMATOR_INTERFACE}.bootstrap`;
const RELATIONSHIP_LIFECYCLE = 'cloudify.interfaces.relationship_lifecycle';

type Step =
  | { kind: 'state'; state: string }
  | { kind: 'op'; iface: string; op: string }
  | { kind: 'relationships'; op: string; reverse?: boolean };

/** What an instance related to the graph runs on install, and on uninstall. */
const RELATED_INSTALL_STEPS: Step[] = [{ kind: 'relationships', op: 'establish' }];
const RELATED_UNINSTALL_STEPS: Step[] = [{ kind: 'relationships', op: 'unlink', reverse: true }];

/** Cloudify's install sequence for one instance. */
const INSTALL_STEPS: Step[] = [
  { kind: 'state', state: 'initializing' },
  { kind: 'op', iface: 'cloudify.interfaces.validation', op: 'create' },
  { kind: 'op', iface: LIFECYCLE, op: 'precreate' },
  { kind: 'state', state: 'creating' },
  { kind: 'op', iface: LIFECYCLE, op: 'create' },
  { kind: 'state', state: 'created' },
  { kind: 'relationships', op: 'preconfigure' },
  { kind: 'state', state: 'configuring' },
  { kind: 'op', iface: LIFECYCLE, op: 'configure' },
  { kind: 'state', state: 'configured' },
  { kind: 'relationships', op: 'postconfigure' },
  { kind: 'state', state: 'starting' },
  { kind: 'op', iface: LIFECYCLE, op: 'start' },
  { kind: 'op', iface: LIFECYCLE, op: 'poststart' },
  { kind: 'op', iface: 'cloudify.interfaces.monitoring', op: 'start' },
  { kind: 'relationships', op: 'establish' },
  { kind: 'state', state: 'started' },
];

/** Cloudify's uninstall sequence for one instance. */
const UNINSTALL_STEPS: Step[] = [
  { kind: 'state', state: 'stopping' },
  { kind: 'op', iface: 'cloudify.interfaces.validation', op: 'delete' },
  { kind: 'op', iface: 'cloudify.interfaces.monitoring', op: 'stop' },
  { kind: 'op', iface: LIFECYCLE, op: 'prestop' },
  { kind: 'op', iface: LIFECYCLE, op: 'stop' },
  { kind: 'state', state: 'stopped' },
  { kind: 'relationships', op: 'unlink', reverse: true },
  { kind: 'state', state: 'deleting' },
  { kind: 'op', iface: LIFECYCLE, op: 'delete' },
  { kind: 'op', iface: LIFECYCLE, op: 'postdelete' },
  { kind: 'state', state: 'deleted' },
];

function operationOf(operations: Record<string, OperationModel>, name: string): OperationModel | undefined {
  return Object.hasOwn(operations, name) ? operations[name] : undefined;
}

class GraphBuilder {
  readonly tasks: Task[] = [];

  add(task: Task): Task {
    task.id = this.tasks.length;
    this.tasks.push(task);
    return task;
  }
}

/**
 * Builds one instance's subgraph: steps run in sequence; the relationship tasks of a step are
 * grouped by target node, the groups in sequence and the tasks of a group (both ends) in
 * parallel. Operations with no implementation are left out. Returns the first and last tasks.
 */
function instanceSubgraph(
  builder: GraphBuilder,
  instance: LifecycleInstance,
  node: LifecycleNode,
  steps: Step[],
  nodeOfInstance: (id: string) => string,
): Ends | undefined {
  let tail: Task[] = [];
  let first: Task | undefined;
  const byOperation = new Map<string, Task>();
  const append = (parallel: Task[]) => {
    if (parallel.length === 0) return;
    // A state step right after one operation of this instance is taken by that operation: the
    // executor would run the state task at once when the operation ends, so the instance moves at
    // the same moment, with one task tracked and stored instead of two (an install of five
    // operations per instance has 6 tasks per instance instead of 12).
    const only = tail.length === 1 ? tail[0]! : undefined;
    if (
      parallel.length === 1 &&
      parallel[0]!.kind === 'state' &&
      only?.kind === 'operation' &&
      only.instanceId === instance.id
    ) {
      only.state = parallel[0]!.state;
      return;
    }
    const deps = tail.map((t) => t.id);
    for (const task of parallel) {
      task.dependsOn = deps.length > 0 ? [...deps] : [];
      builder.add(task);
    }
    tail = parallel;
    first ??= tail[0];
    for (const task of parallel)
      if (task.operation && !task.relationship) byOperation.set(task.operation, task);
  };
  const task = (fields: Partial<Task> & Pick<Task, 'kind'>): Task =>
    ({ id: -1, instanceId: instance.id, node: instance.node, dependsOn: [], ...fields }) as Task;
  for (const step of steps) {
    if (step.kind === 'state') append([task({ kind: 'state', state: step.state })]);
    else if (step.kind === 'op') {
      const def = operationOf(node.operations, `${step.iface}.${step.op}`);
      if (def)
        append([task({ kind: 'operation', operation: `${step.iface}.${step.op}`, operationDef: def })]);
    } else {
      if (instance.relationships.length === 0) continue;
      const groups = new Map<string, Task[]>();
      for (const rel of instance.relationships) {
        const template = node.relationships[rel.index];
        if (!template) continue;
        let group = groups.get(rel.target);
        if (!group) {
          group = [];
          groups.set(rel.target, group);
        }
        for (const side of ['source', 'target'] as const) {
          const ops = side === 'source' ? template.sourceOperations : template.targetOperations;
          const def = operationOf(ops, `${RELATIONSHIP_LIFECYCLE}.${step.op}`);
          if (!def) continue;
          group.push(
            task({
              kind: 'operation',
              operation: `${RELATIONSHIP_LIFECYCLE}.${step.op}`,
              operationDef: def,
              relationship: {
                side,
                sourceId: instance.id,
                targetId: rel.targetId,
                targetNode: nodeOfInstance(rel.targetId),
                type: rel.type,
                index: rel.index,
              },
            }),
          );
        }
      }
      const ordered = [...groups.values()];
      if (step.reverse) ordered.reverse();
      for (const group of ordered) append(group);
    }
  }
  // An instance may have nothing to run (a related one whose relationships declare no such operation).
  return first ? { first, last: tail[tail.length - 1]!, byOperation } : undefined;
}

interface Ends {
  first: Task;
  last: Task;
  /** The instance's own operation tasks by full operation name. */
  byOperation: Map<string, Task>;
}

const LIFECYCLE_OPERATION_DEPENDENCY = 'cloudify.relationships.depends_on_lifecycle_operation';

/**
 * The task a source waits for: the target's whole subgraph, or for depends_on_lifecycle_operation
 * only the named operation of the target (when the target has it).
 */
function awaitedTask(rel: RelationshipInstance, node: LifecycleNode, target: Ends): Task {
  if (!rel.hierarchy.includes(LIFECYCLE_OPERATION_DEPENDENCY)) return target.last;
  const operation = node.relationships[rel.index]?.properties.operation;
  if (typeof operation !== 'string') return target.last;
  return (
    target.byOperation.get(operation) ?? target.byOperation.get(`${LIFECYCLE}.${operation}`) ?? target.last
  );
}

function lifecycleGraph(
  workflow: string,
  nodes: Record<string, LifecycleNode>,
  instances: LifecycleInstance[],
  steps: Step[],
  relatedSteps: Step[],
  reversed: boolean,
): TaskGraph {
  const builder = new GraphBuilder();
  const nodeById = new Map(instances.map((i) => [i.id, i.node]));
  const ends = new Map<string, Ends>();
  for (const instance of instances) {
    const made = instanceSubgraph(
      builder,
      instance,
      nodes[instance.node]!,
      instance.related ? relatedSteps : steps,
      (id) => nodeById.get(id) ?? '',
    );
    if (made) ends.set(instance.id, made);
  }
  // A source's whole subgraph waits for its targets' (install), or the reverse (uninstall).
  for (const instance of instances) {
    for (const rel of instance.relationships) {
      const source = ends.get(instance.id);
      const target = ends.get(rel.targetId);
      if (!source || !target) continue;
      const awaited = reversed ? source.last : awaitedTask(rel, nodes[instance.node]!, target);
      const after = reversed ? target : source;
      if (!after.first.dependsOn.includes(awaited.id)) after.first.dependsOn.push(awaited.id);
    }
  }
  if (!reversed) addBootstraps(builder, nodes, instances, ends);
  return { workflow, tasks: builder.tasks };
}

/**
 * Loom's cluster-wide BOOTSTRAP stage: for each host, one task per automator (told apart by the
 * implementation of their bootstrap operation) that its services in the graph use, run on the
 * first of those services once the host is started; every automator service on the host starts
 * its tasks after all of the host's BOOTSTRAPs. (An instance on no host bootstraps in its create.)
 */
function addBootstraps(
  builder: GraphBuilder,
  nodes: Record<string, LifecycleNode>,
  instances: LifecycleInstance[],
  ends: Map<string, Ends>,
): void {
  const byHost = new Map<string, { services: Ends[]; bootstraps: Map<string, Task> }>();
  for (const instance of instances) {
    const def = operationOf(nodes[instance.node]!.operations, LOOM_BOOTSTRAP);
    const own = ends.get(instance.id);
    if (!def || !own || instance.related || !instance.hostId || instance.hostId === instance.id) continue;
    let host = byHost.get(instance.hostId);
    if (!host) byHost.set(instance.hostId, (host = { services: [], bootstraps: new Map() }));
    host.services.push(own);
    if (host.bootstraps.has(def.implementation)) continue;
    const started = ends.get(instance.hostId)?.last;
    host.bootstraps.set(
      def.implementation,
      builder.add({
        id: -1,
        kind: 'operation',
        instanceId: instance.id,
        node: instance.node,
        operation: LOOM_BOOTSTRAP,
        operationDef: def,
        dependsOn: started ? [started.id] : [],
      }),
    );
  }
  for (const { services, bootstraps } of byHost.values())
    for (const service of services)
      for (const bootstrap of bootstraps.values())
        if (!service.first.dependsOn.includes(bootstrap.id)) service.first.dependsOn.push(bootstrap.id);
}

export function installGraph(
  nodes: Record<string, LifecycleNode>,
  instances: LifecycleInstance[],
): TaskGraph {
  return lifecycleGraph('install', nodes, instances, INSTALL_STEPS, RELATED_INSTALL_STEPS, false);
}

export function uninstallGraph(
  nodes: Record<string, LifecycleNode>,
  instances: LifecycleInstance[],
): TaskGraph {
  return lifecycleGraph('uninstall', nodes, instances, UNINSTALL_STEPS, RELATED_UNINSTALL_STEPS, true);
}

/**
 * Each task's level: one more than the latest level of what it depends on, where a task counts
 * for `weight(task)` levels. Throws on a cycle.
 */
function levels(graph: TaskGraph, weight: (task: Task) => number): number[] {
  const level = new Array<number>(graph.tasks.length).fill(0);
  const dependents: number[][] = graph.tasks.map(() => []);
  const remaining = graph.tasks.map((t) => t.dependsOn.length);
  for (const task of graph.tasks) for (const dep of task.dependsOn) dependents[dep]!.push(task.id);
  const queue = graph.tasks.filter((t) => t.dependsOn.length === 0).map((t) => t.id);
  for (let head = 0; head < queue.length; head++) {
    const id = queue[head]!;
    const after = level[id]! + weight(graph.tasks[id]!);
    for (const next of dependents[id]!) {
      level[next] = Math.max(level[next]!, after);
      if (--remaining[next]! === 0) queue.push(next);
    }
  }
  if (queue.length !== graph.tasks.length) throw new Error('task graph has a cycle');
  return level;
}

function grouped(tasks: Task[], level: number[]): Task[][] {
  const result: Task[][] = [];
  for (const task of tasks) {
    const l = level[task.id]!;
    const wave = result[l];
    if (wave) wave.push(task);
    else result[l] = [task];
  }
  return result;
}

/**
 * Tasks grouped into waves: a task's wave is one more than the latest wave of what it depends
 * on, so every task of a wave could run at the same time. Throws on a cycle.
 */
export function waves(graph: TaskGraph): Task[][] {
  return grouped(
    graph.tasks,
    levels(graph, () => 1),
  );
}

/**
 * The operations grouped into waves as a plan shows them: an operation's wave is one more than
 * the latest wave of the operations it waits on, directly or through state changes, which take
 * no time (and which an operation may carry itself: the waves do not depend on that).
 */
export function operationWaves(graph: TaskGraph): Task[][] {
  const level = levels(graph, (task) => (task.kind === 'operation' ? 1 : 0));
  // No level is left without an operation (each one's wave has one before it), but say so.
  return grouped(
    graph.tasks.filter((task) => task.kind === 'operation'),
    level,
  ).filter((wave) => wave.length > 0);
}

/**
 * The same graph with its tasks numbered wave after wave (each wave in the order it had). Tasks
 * that run at about the same time then sit side by side where they are stored: the commits of a
 * run rewrite a few pages of the task table each, not a page per task (an install of 1,000
 * instances of 12 tasks each wrote 31,127 pages, now 9,134).
 */
export function numberedByWave(graph: TaskGraph): TaskGraph {
  const order = waves(graph).flat();
  const renumbered = new Array<number>(graph.tasks.length);
  order.forEach((task, index) => {
    renumbered[task.id] = index;
  });
  return {
    ...graph,
    tasks: order.map((task, index) => ({
      ...task,
      id: index,
      dependsOn: task.dependsOn.map((dep) => renumbered[dep]!),
    })),
  };
}

/** Tasks for one relationship's operation `op` (both ends, where defined) of a source instance, after the given tasks. */
export function addRelationshipTasks(
  graph: TaskGraph,
  model: DeploymentModel,
  source: NodeInstanceRecord,
  rel: RelationshipInstance,
  op: string,
  after: number[],
): number[] {
  const template = model.nodes[source.node]!.relationships[rel.index]!;
  const name = `${RELATIONSHIP_LIFECYCLE}.${op}`;
  const ids: number[] = [];
  for (const side of ['source', 'target'] as const) {
    const def = (side === 'source' ? template.sourceOperations : template.targetOperations)[name];
    if (!def) continue;
    const task: Task = {
      id: graph.tasks.length,
      kind: 'operation',
      instanceId: source.id,
      node: source.node,
      operation: name,
      operationDef: def,
      dependsOn: [...after],
      relationship: {
        side,
        sourceId: source.id,
        targetId: rel.targetId,
        targetNode: rel.target,
        type: rel.type,
        index: rel.index,
      },
    };
    graph.tasks.push(task);
    ids.push(task.id);
  }
  return ids;
}
