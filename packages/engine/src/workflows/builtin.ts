import type { Json } from '@weft/sdk';
import { WeftError } from '@weft/sdk/errors';
import { notOverridable } from '../dsl/values.js';
import type { DeploymentModel } from '../model/deployment-model.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import type { RelationshipInstance } from '../model/plan.js';
import {
  addRelationshipTasks,
  installGraph,
  type LifecycleInstance,
  type Task,
  type TaskGraph,
  uninstallGraph,
} from './lifecycle.js';
import { batchCreate } from './rolling.js';

export class WorkflowError extends WeftError {
  static override readonly code = 'workflow_invalid';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'WorkflowError';
  }
}

/** The built-in workflows and their parameters (with defaults), as Cloudify declares them. */
export const BUILTIN_WORKFLOWS: Record<string, Record<string, Json>> = {
  install: { type_names: [], node_ids: [], node_instance_ids: [] },
  uninstall: { ignore_failure: false, type_names: [], node_ids: [], node_instance_ids: [] },
  reinstall: { ignore_failure: false, type_names: [], node_ids: [], node_instance_ids: [] },
  start: {
    operation_parms: {},
    run_by_dependency_order: true,
    type_names: [],
    node_ids: [],
    node_instance_ids: [],
  },
  stop: {
    operation_parms: {},
    run_by_dependency_order: true,
    type_names: [],
    node_ids: [],
    node_instance_ids: [],
  },
  restart: {
    start_parms: {},
    stop_parms: {},
    run_by_dependency_order: true,
    type_names: [],
    node_ids: [],
    node_instance_ids: [],
  },
  execute_operation: {
    operation: null,
    operation_kwargs: {},
    allow_kwargs_override: null,
    run_by_dependency_order: false,
    type_names: [],
    node_ids: [],
    node_instance_ids: [],
  },
  heal: { node_instance_id: null },
  check_status: { run_by_dependency_order: false, type_names: [], node_ids: [], node_instance_ids: [] },
  check_drift: { run_by_dependency_order: false, type_names: [], node_ids: [], node_instance_ids: [] },
  scale: { scalable_entity_name: null, delta: 1, scale_compute: false, ignore_failure: false },
  suspend: {},
  resume: {},
};

const START_OPERATIONS = [
  'cloudify.interfaces.lifecycle.start',
  'cloudify.interfaces.lifecycle.poststart',
  'cloudify.interfaces.monitoring.start',
];
const STOP_OPERATIONS = [
  'cloudify.interfaces.monitoring.stop',
  'cloudify.interfaces.lifecycle.prestop',
  'cloudify.interfaces.lifecycle.stop',
];

/** Execution parameters every workflow accepts. */
export const EXECUTION_PARAMETERS = ['task_retries', 'task_retry_interval'];

/**
 * The types of the built-in workflows' parameters and of the execution parameters, by name (a
 * name has one type in every workflow): those Cloudify's types.yaml declares, and, where it
 * declares none, the type Weft reads the value as (its default's).
 */
export const BUILTIN_PARAMETER_TYPES: Readonly<Record<string, string>> = {
  type_names: 'list',
  node_ids: 'list',
  node_instance_ids: 'list',
  ignore_failure: 'boolean',
  run_by_dependency_order: 'boolean',
  heat_stack_check: 'boolean',
  scale_compute: 'boolean',
  allow_kwargs_override: 'boolean',
  operation_parms: 'dict',
  operation_kwargs: 'dict',
  start_parms: 'dict',
  stop_parms: 'dict',
  operation: 'string',
  node_instance_id: 'node_instance',
  scalable_entity_name: 'string',
  delta: 'integer',
  task_retries: 'integer',
  task_retry_interval: 'float',
};

export function lifecycleInstances(instances: NodeInstanceRecord[]): LifecycleInstance[] {
  return instances.map((i) => ({
    id: i.id,
    node: i.node,
    relationships: i.relationships as unknown as RelationshipInstance[],
    hostId: i.hostId,
  }));
}

/** The tasks of a graph that no other task waits for. */
export function tailsOf(graph: TaskGraph): number[] {
  const awaited = new Set<number>();
  for (const task of graph.tasks) for (const dep of task.dependsOn) awaited.add(dep);
  return graph.tasks.filter((t) => !awaited.has(t.id)).map((t) => t.id);
}

/** A graph of `then` that starts after everything in `first` has finished. */
export function chain(first: TaskGraph, then: TaskGraph, workflow: string): TaskGraph {
  const offset = first.tasks.length;
  const lasts = tailsOf(first);
  const shifted = then.tasks.map((t) => ({
    ...t,
    id: t.id + offset,
    dependsOn: t.dependsOn.length === 0 ? [...lasts] : t.dependsOn.map((d) => d + offset),
  }));
  return { workflow, tasks: [...first.tasks, ...shifted] };
}

/** Instances contained (directly or deeper) in the given one, and itself. */
export function containedSubtree(instances: NodeInstanceRecord[], rootId: string): Set<string> {
  return containment(instances)(rootId);
}

/**
 * The containment of a set of instances, worked out once: for a root instance id, the instances
 * contained (directly or deeper) in it, and itself.
 */
export function containment(instances: NodeInstanceRecord[]): (rootId: string) => Set<string> {
  const children = new Map<string, string[]>();
  for (const i of instances) {
    if (!i.containedIn) continue;
    const list = children.get(i.containedIn);
    if (list) list.push(i.id);
    else children.set(i.containedIn, [i.id]);
  }
  return (rootId) => {
    const out = new Set<string>([rootId]);
    const queue = [rootId];
    for (let head = 0; head < queue.length; head++)
      for (const child of children.get(queue[head]!) ?? [])
        if (!out.has(child)) {
          out.add(child);
          queue.push(child);
        }
    return out;
  };
}

export function only(
  instances: NodeInstanceRecord[],
  keep: (i: NodeInstanceRecord) => boolean,
): NodeInstanceRecord[] {
  const kept = instances.filter(keep);
  const ids = new Set(kept.map((i) => i.id));
  const installed = new Set(instances.filter((i) => !NOT_INSTALLED.has(i.state)).map((i) => i.id));
  // A relationship to an instance outside the set does not order the graph (its target is
  // done), but its operations run while that target exists: heal re-links the instances it
  // reinstalls, install links new sources to started targets. Those to a target that was never
  // installed (or is gone) are left out.
  return kept.map((i) => ({
    ...i,
    relationships: (i.relationships as unknown as RelationshipInstance[]).filter(
      (r) => ids.has(r.targetId) || installed.has(r.targetId),
    ) as unknown as Json,
  }));
}

export const NOT_INSTALLED = new Set(['uninitialized', 'deleted']);

export function operationSteps(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  operations: string[],
  workflow: string,
  reverse: boolean,
  options: { kwargs?: Record<string, Json>; ordered?: boolean } = {},
): TaskGraph {
  const tasks: Task[] = [];
  const lastOf = new Map<string, number>();
  const firstOf = new Map<string, number>();
  for (const instance of instances) {
    const node = model.nodes[instance.node];
    let previous: number | undefined;
    for (const operation of operations) {
      if (!node?.operations[operation]) continue;
      const task: Task = {
        id: tasks.length,
        kind: 'operation',
        instanceId: instance.id,
        node: instance.node,
        operation,
        dependsOn: previous === undefined ? [] : [previous],
      };
      task.operationDef = node.operations[operation];
      if (options.kwargs && Object.keys(options.kwargs).length > 0) task.inputs = options.kwargs;
      tasks.push(task);
      if (!firstOf.has(instance.id)) firstOf.set(instance.id, task.id);
      previous = task.id;
    }
    if (previous !== undefined) lastOf.set(instance.id, previous);
  }
  // Dependency order: targets before sources (reversed for stopping).
  for (const instance of options.ordered === false ? [] : instances) {
    for (const rel of instance.relationships as unknown as RelationshipInstance[]) {
      const [before, after] = reverse ? [instance.id, rel.targetId] : [rel.targetId, instance.id];
      const last = lastOf.get(before);
      const first = firstOf.get(after);
      if (last !== undefined && first !== undefined && !tasks[first]!.dependsOn.includes(last))
        tasks[first]!.dependsOn.push(last);
    }
  }
  return { workflow, tasks };
}

/** The operations Heat's stack suspend and resume run on each resource (a Resource class's). */
export const RESOURCE_SUSPEND = 'weft.interfaces.resource.suspend';
export const RESOURCE_RESUME = 'weft.interfaces.resource.resume';

export const CHECK_STATUS = 'cloudify.interfaces.validation.check_status';
export const CHECK_DRIFT = 'cloudify.interfaces.lifecycle.check_drift';

/**
 * check_status and check_drift, as Cloudify runs them: the operation on every chosen started
 * instance that implements it (check_drift: also both ends of its relationships'), a failure
 * failing nothing else. What each returned, or how it failed, is the task's result or error.
 * A stack's check (`heat_stack_check`) is Heat's: every instance that was created, or whose
 * creation began, is checked, and a failed check fails the execution (the stack's CHECK_FAILED).
 */
function checkGraph(
  workflow: 'check_status' | 'check_drift',
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  params: Record<string, Json>,
): TaskGraph {
  const stack = params.heat_stack_check === true;
  const started = selectInstances(model, instances, params, workflow).filter((i) =>
    stack ? i.state !== 'uninitialized' && i.state !== 'deleted' : i.state === 'started',
  );
  const graph = operationSteps(
    model,
    started,
    [workflow === 'check_status' ? CHECK_STATUS : CHECK_DRIFT],
    workflow,
    false,
    {
      ordered: params.run_by_dependency_order === true,
    },
  );
  if (workflow === 'check_drift') {
    const live = new Set(instances.filter((i) => i.state === 'started').map((i) => i.id));
    for (const source of started)
      for (const rel of source.relationships as unknown as RelationshipInstance[]) {
        if (!live.has(rel.targetId)) continue;
        addRelationshipTasks(graph, model, source, rel, 'check_drift', []);
      }
  }
  for (const task of graph.tasks) task.ignoreFailure = !stack;
  return graph;
}

/** Instances chosen by node_ids, node_instance_ids and type_names (all of them when none is given). */
function selectInstances(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  params: Record<string, Json>,
  workflow: string,
): NodeInstanceRecord[] {
  const nodeIds = (params.node_ids as string[] | undefined) ?? [];
  const instanceIds = (params.node_instance_ids as string[] | undefined) ?? [];
  const typeNames = (params.type_names as string[] | undefined) ?? [];
  for (const id of nodeIds)
    if (!model.nodes[id]) throw new WorkflowError(`${workflow}: node_ids names unknown node '${id}'`);
  const known = new Set(instances.map((i) => i.id));
  for (const id of instanceIds)
    if (!known.has(id))
      throw new WorkflowError(`${workflow}: node_instance_ids names unknown instance '${id}'`);
  const selected = instances.filter((i) => {
    const node = model.nodes[i.node]!;
    return (
      (nodeIds.length === 0 || nodeIds.includes(i.node)) &&
      (instanceIds.length === 0 || instanceIds.includes(i.id)) &&
      (typeNames.length === 0 || typeNames.some((t) => node.typeHierarchy.includes(t)))
    );
  });
  return selected;
}

function executeOperation(
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  params: Record<string, Json>,
): TaskGraph {
  const operationParam = params.operation;
  if (typeof operationParam !== 'string' || operationParam === '')
    throw new WorkflowError(
      "execute_operation needs the 'operation' parameter (e.g. -p operation=cloudify.interfaces.lifecycle.start)",
    );
  const selected = selectInstances(model, instances, params, 'execute_operation');
  // The operation by full name, or by a short name that is unique among the declared ones.
  const resolveName = (node: string): string => {
    const declared = model.nodes[node]!.declaredOperations;
    if (declared.includes(operationParam)) return operationParam;
    const matches = declared.filter((d) => d.endsWith(`.${operationParam}`));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new WorkflowError(
        `execute_operation: '${operationParam}' is ambiguous on node '${node}': ${matches.join(', ')}; give the full name`,
      );
    }
    throw new WorkflowError(`execute_operation: node '${node}' has no operation '${operationParam}'`);
  };
  const tasks: Task[] = [];
  const kwargs = (params.operation_kwargs ?? {}) as Record<string, Json>;
  for (const instance of selected) {
    const name = resolveName(instance.node);
    if (!name)
      throw new WorkflowError(
        `execute_operation: node '${instance.node}' has no operation '${operationParam}'`,
      );
    const op = model.nodes[instance.node]!.operations[name];
    if (!op) continue; // declared without an implementation: nothing to run
    // Whatever allow_kwargs_override says: a fixed field is the blueprint's (Loom refuses a
    // user's value for an admin field without override).
    const fixed = Object.keys(kwargs).find((k) => model.nodes[instance.node]!.fixedProperties?.includes(k));
    if (fixed !== undefined)
      throw new WorkflowError(
        `execute_operation: operation_kwargs: ${notOverridable(fixed, model.nodes[instance.node]!.type, "an execution's operation_kwargs")}`,
      );
    if (params.allow_kwargs_override !== true) {
      const clash = Object.keys(kwargs).filter((k) => Object.hasOwn(op.inputs, k));
      if (clash.length > 0) {
        throw new WorkflowError(
          `execute_operation: operation_kwargs ${clash.map((k) => `'${k}'`).join(', ')} would override inputs of ${name} on '${instance.node}'; pass allow_kwargs_override=true to allow it`,
        );
      }
    }
    tasks.push({
      id: tasks.length,
      kind: 'operation',
      instanceId: instance.id,
      node: instance.node,
      operation: name,
      operationDef: op,
      dependsOn: [],
      inputs: kwargs,
    });
  }
  if (params.run_by_dependency_order === true) {
    const byInstance = new Map(tasks.map((t) => [t.instanceId, t]));
    for (const instance of selected) {
      const task = byInstance.get(instance.id);
      if (!task) continue;
      for (const rel of instance.relationships as unknown as RelationshipInstance[]) {
        const before = byInstance.get(rel.targetId);
        if (before && !task.dependsOn.includes(before.id)) task.dependsOn.push(before.id);
      }
    }
  }
  return { workflow: 'execute_operation', tasks };
}

/**
 * Uninstalls, then installs again, the chosen instances (each with what is contained in it, which
 * the caller includes); instances outside with relationships into them unlink before they go and
 * establish once they are back. Failures of the uninstall half are ignored when asked (heal).
 */
export function reinstallGraph(
  workflow: string,
  nodes: DeploymentModel['nodes'],
  instances: NodeInstanceRecord[],
  chosen: Set<string>,
  ignoreUninstallFailure: boolean,
): TaskGraph {
  const set = only(instances, (i) => chosen.has(i.id));
  const related = relatedInto(instances, chosen, chosen);
  const teardown = uninstallGraph(nodes, [...lifecycleInstances(set), ...related]);
  if (ignoreUninstallFailure) for (const task of teardown.tasks) task.ignoreFailure = true;
  return chain(teardown, installGraph(nodes, [...lifecycleInstances(set), ...related]), workflow);
}

/**
 * Instances left out of a workflow's choice that are installed and have relationships to the
 * instances it works on (`into`): only those relationships' establish (install) or unlink
 * (uninstall) run, as Cloudify does for the `related_nodes` of install, uninstall and reinstall.
 */
function relatedInto(
  instances: NodeInstanceRecord[],
  chosen: Set<string>,
  into: Set<string>,
): LifecycleInstance[] {
  return instances
    .filter((i) => !chosen.has(i.id) && !NOT_INSTALLED.has(i.state))
    .map((i) => ({
      id: i.id,
      node: i.node,
      relationships: (i.relationships as unknown as RelationshipInstance[]).filter((r) =>
        into.has(r.targetId),
      ),
      related: true,
    }))
    .filter((i) => i.relationships.length > 0);
}

/**
 * Install, uninstall or reinstall of the instances chosen by type_names, node_ids and
 * node_instance_ids (all of them when none is given), as Cloudify's: instances left out with
 * relationships into the chosen ones establish them once their targets are installed, and unlink
 * them before their targets are torn down.
 */
function lifecycleGraph(
  workflow: 'install' | 'uninstall' | 'reinstall',
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  params: Record<string, Json>,
): TaskGraph {
  const nodes = model.nodes;
  const chosen = new Set(selectInstances(model, instances, params, workflow).map((i) => i.id));
  const part = (keep: (i: NodeInstanceRecord) => boolean) => {
    const set = only(instances, (i) => chosen.has(i.id) && keep(i));
    const related = relatedInto(instances, chosen, new Set(set.map((i) => i.id)));
    return [...lifecycleInstances(set), ...related];
  };
  const installed = (i: NodeInstanceRecord) => !NOT_INSTALLED.has(i.state);
  // Instances already started are left alone by install, as Cloudify does.
  if (workflow === 'install') {
    const graph = installGraph(
      nodes,
      part((i) => i.state !== 'started'),
    );
    // A HOT ResourceGroup with batch_create makes its members in batches.
    if (model.blueprint.heatTemplateVersion !== undefined) batchCreate(graph, nodes, instances);
    return graph;
  }
  if (workflow === 'uninstall') return uninstallGraph(nodes, part(installed));
  return chain(
    uninstallGraph(nodes, part(installed)),
    installGraph(
      nodes,
      part(() => true),
    ),
    'reinstall',
  );
}

/** Builds the task graph of a built-in workflow over the deployment's current instances. */
export function builtinGraph(
  workflow: string,
  model: DeploymentModel,
  instances: NodeInstanceRecord[],
  params: Record<string, Json>,
): TaskGraph {
  const nodes = model.nodes;
  switch (workflow) {
    case 'install':
    case 'uninstall':
    case 'reinstall':
      return lifecycleGraph(workflow, model, instances, params);
    case 'start':
    case 'stop':
    case 'restart': {
      const chosen = selectInstances(model, instances, params, workflow);
      const ordered = params.run_by_dependency_order !== false;
      const kwargs = (key: string) => (params[key] ?? {}) as Record<string, Json>;
      const starting = (name: string, key: string) =>
        operationSteps(model, chosen, START_OPERATIONS, name, false, { kwargs: kwargs(key), ordered });
      const stopping = (name: string, key: string) =>
        operationSteps(model, chosen, STOP_OPERATIONS, name, true, { kwargs: kwargs(key), ordered });
      if (workflow === 'start') return starting('start', 'operation_parms');
      if (workflow === 'stop') return stopping('stop', 'operation_parms');
      return chain(stopping('restart', 'stop_parms'), starting('restart', 'start_parms'), 'restart');
    }
    case 'execute_operation':
      return executeOperation(model, instances, params);
    case 'check_status':
    case 'check_drift':
      return checkGraph(workflow, model, instances, params);
    case 'suspend':
    case 'resume':
      // Heat's stack suspend and resume: every created resource's, a resource suspended after
      // those that depend on it and resumed before them. A node without the operation has none.
      return operationSteps(
        model,
        instances.filter((i) => i.state === 'started'),
        [workflow === 'suspend' ? RESOURCE_SUSPEND : RESOURCE_RESUME],
        workflow,
        workflow === 'suspend',
      );
    case 'heal': {
      const id = params.node_instance_id;
      if (typeof id !== 'string' || !instances.some((i) => i.id === id)) {
        throw new WorkflowError(
          `heal needs node_instance_id, the id of an instance of this deployment${typeof id === 'string' ? ` ('${id}' is not one)` : ''}`,
        );
      }
      // Reinstall the failed instance and everything contained in it.
      return reinstallGraph('heal', nodes, instances, containedSubtree(instances, id), true);
    }
    default:
      throw new WorkflowError(`unknown workflow '${workflow}'`);
  }
}
