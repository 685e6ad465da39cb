import { createHash, randomUUID } from 'node:crypto';
import { relative, resolve } from 'node:path';
import { setOwn } from '@weft/sdk';
import type { Diagnostics } from '../dsl/diagnostics.js';
import type { BlueprintReader } from '../dsl/reader.js';
import type { ValueMap } from '../dsl/yaml-source.js';
import type { Dispatcher } from '../executor/dispatcher.js';
import { loadBlueprint } from '../load-blueprint.js';
import { allOperations, type DeploymentModel, deploymentModel, modelOf } from '../model/deployment-model.js';
import type { Sealer } from '../secrets/sealed.js';
import { asStored } from '../store/common.js';
import type {
  BlueprintRecord,
  DeploymentRecord,
  ExecutionRecord,
  Json,
  NodeInstanceRecord,
  Store,
  TaskRecord,
} from '../store/types.js';
import {
  BUILTIN_PARAMETER_TYPES,
  BUILTIN_WORKFLOWS,
  builtinGraph,
  chain,
  EXECUTION_PARAMETERS,
  WorkflowError,
} from '../workflows/builtin.js';
import { customGraph, isScriptWorkflow, scriptWorkflowGraph } from '../workflows/custom.js';
import { numberedByWave, type TaskGraph } from '../workflows/lifecycle.js';
import { planScale, type ScalePlan } from '../workflows/scale.js';
import { UPDATE_PARAMETER_DEFAULTS, type UpdateParameters } from '../workflows/update.js';
import { sealDeployment } from './sealed-deployment.js';
import {
  type Borrowed,
  borrowedChange,
  borrowFromSnapshots,
  endStackSnapshotExecution,
  giveBack,
  snapshotDeletionGraph,
  snapshotResources,
} from './stack-data.js';
import { finishDeploymentUpdate } from './update.js';

const now = () => new Date().toISOString();

export interface CreateDeploymentOptions {
  store: Store;
  reader: BlueprintReader;
  blueprintPath: string;
  deploymentId: string;
  inputs?: ValueMap;
  /** The most node instances the deployment may have (the planner's default otherwise). */
  maxInstances?: number;
  /** A HOT template's environment files, merged in this order. */
  environments?: string[];
  /** Seals the values of hidden inputs where the deployment is stored (see sealed-deployment.ts). */
  sealer?: Sealer;
}

/** What creating a deployment stores: its blueprint's files, the deployment and its instances. */
export interface PreparedDeployment {
  blueprint: BlueprintRecord;
  deployment: DeploymentRecord;
  instances: NodeInstanceRecord[];
}

/** A blueprint's id: the hash of its files (paths and contents, in the order of the paths). */
export function blueprintId(files: Record<string, Uint8Array>): string {
  const hash = createHash('sha256');
  for (const path of Object.keys(files).sort())
    hash.update(path).update('\u0000').update(files[path]!).update('\u0000');
  return hash.digest('hex');
}

/**
 * Parses, validates and plans a blueprint into what a new deployment stores, without storing it
 * (install compares it with an existing deployment).
 */
export function prepareDeployment(options: Omit<CreateDeploymentOptions, 'store'>): {
  problems: Diagnostics;
  prepared?: PreparedDeployment;
} {
  const { plan, problems } = loadBlueprint(options.blueprintPath, {
    reader: options.reader,
    deploymentId: options.deploymentId,
    inputs: options.inputs ?? {},
    ...(options.maxInstances !== undefined ? { maxInstances: options.maxInstances } : {}),
    ...(options.environments ? { environments: options.environments } : {}),
  });
  if (!plan || !problems.ok) return { problems };
  const model = deploymentModel(plan);
  // The blueprint is stored with every file that was read and every script it runs, but its
  // environment files: they hold parameter values (hidden ones too), which the deployment's
  // inputs keep (sealed where hidden).
  const files: Record<string, Uint8Array> = {};
  const environments = new Set((options.environments ?? []).map((path) => resolve(path)));
  const paths = new Set(
    plan.blueprint.files.filter(
      (f) => !relative(plan.blueprint.baseDir, f).startsWith('..') && !environments.has(resolve(f)),
    ),
  );
  for (const op of allOperations(model))
    if (op.script?.path && !/^[a-z]+:\/\//i.test(op.script.path))
      paths.add(`${plan.blueprint.baseDir}/${op.script.path}`);
  for (const workflow of Object.values(model.workflows))
    if (isScriptWorkflow(workflow)) {
      const script =
        workflow.function === workflow.mapping ? workflow.function : workflow.parameters.script_path?.default;
      if (typeof script === 'string' && options.reader.isFile(`${plan.blueprint.baseDir}/${script}`))
        paths.add(`${plan.blueprint.baseDir}/${script}`);
    }
  for (const path of [...paths].sort())
    files[relative(plan.blueprint.baseDir, path)] = options.reader.read(path);
  const blueprint: BlueprintRecord = {
    id: blueprintId(files),
    mainFile: relative(plan.blueprint.baseDir, plan.blueprint.mainFile),
    files,
    createdAt: now(),
  };
  const deployment: DeploymentRecord = {
    id: options.deploymentId,
    blueprintId: blueprint.id,
    inputs: Object.fromEntries(plan.inputs) as Record<string, Json>,
    model: model as unknown as Json,
    createdAt: now(),
  };
  const instances: NodeInstanceRecord[] = plan.instances.map((i) => ({
    id: i.id,
    deploymentId: options.deploymentId,
    node: i.node,
    index: i.index,
    state: 'uninitialized',
    runtimeProperties: {},
    version: 0,
    containedIn: i.containedIn ?? null,
    hostId: i.hostId ?? null,
    relationships: i.relationships as unknown as Json,
    scalingGroups: i.scalingGroups as unknown as Json,
  }));
  return { problems, prepared: { blueprint, deployment, instances } };
}

/** Parses, validates and plans a blueprint, then stores it, the deployment and its instances. */
export async function createDeployment(
  options: CreateDeploymentOptions,
): Promise<{ problems: Diagnostics; deployment?: DeploymentRecord; instances?: NodeInstanceRecord[] }> {
  const { problems, prepared } = prepareDeployment(options);
  if (!prepared) return { problems };
  const deployment = options.sealer
    ? sealDeployment(prepared.deployment, options.sealer)
    : prepared.deployment;
  await options.store.putBlueprint(prepared.blueprint);
  await options.store.createDeployment(deployment, prepared.instances);
  return { problems, deployment, instances: prepared.instances };
}

export function taskRecords(executionId: string, graph: TaskGraph): TaskRecord[] {
  const at = now();
  return numberedByWave(graph).tasks.map((t) => ({
    executionId,
    id: t.id,
    kind: t.kind,
    instanceId: t.instanceId,
    node: t.node,
    operation: t.operation ?? null,
    targetState: t.state ?? null,
    relationship: (t.relationship ?? null) as unknown as Json,
    dependsOn: t.dependsOn,
    inputs: (t.inputs ?? null) as Json,
    ignoreFailure: t.ignoreFailure === true,
    state: 'pending',
    attempt: 0,
    notBefore: null,
    error: null,
    result: null,
    updatedAt: at,
  }));
}

/** What a workflow parameter of a declared type must be, when `value` is not that; else undefined. */
function typeMismatch(value: Json, type: string): string | undefined {
  const is: Record<string, [(v: Json) => boolean, string]> = {
    string: [(v) => typeof v === 'string', 'a string'],
    // Cloudify's types that name something of the deployment are names.
    node_id: [(v) => typeof v === 'string', 'a node name'],
    node_type: [(v) => typeof v === 'string', 'a node type name'],
    node_instance: [(v) => typeof v === 'string', 'a node instance id'],
    integer: [(v) => typeof v === 'number' && Number.isInteger(v), 'an integer'],
    float: [(v) => typeof v === 'number', 'a number'],
    boolean: [(v) => typeof v === 'boolean', 'true or false'],
    list: [(v) => Array.isArray(v), 'a list'],
    dict: [(v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'a map'],
  };
  const check = is[type];
  return check && value !== null && !check[0](value) ? check[1] : undefined;
}

/**
 * Cloudify's workflow functions (`default_workflows.cloudify.plugins.workflows.NAME`) that Weft
 * runs as one of its built-in workflows, by function name.
 */
const BUILTIN_FUNCTIONS: Record<string, string> = {
  install: 'install',
  uninstall: 'uninstall',
  reinstall: 'reinstall',
  start: 'start',
  stop: 'stop',
  restart: 'restart',
  execute_operation: 'execute_operation',
  check_status: 'check_status',
  check_drift: 'check_drift',
  auto_heal_reinstall_node_subgraph: 'heal',
  scale_entity: 'scale',
  // The deprecated scale(node_id, delta, scale_compute), which calls scale_entity.
  scale: 'scale',
};

/**
 * The built-in workflow that the deployment's workflow `name` runs, if any: its own, unless the
 * blueprint maps the name elsewhere; and for a workflow of the blueprint mapped to one of
 * Cloudify's (`my_scale: default_workflows.cloudify.plugins.workflows.scale`), that one.
 */
function builtinWorkflow(model: Pick<DeploymentModel, 'workflows'>, name: string): string | undefined {
  const custom = model.workflows[name];
  if (custom && custom.plugin !== 'default_workflows') return undefined;
  if (BUILTIN_WORKFLOWS[name]) return name;
  const fn = custom?.function?.match(/^cloudify\.plugins\.workflows\.(\w+)$/)?.[1];
  return fn ? BUILTIN_FUNCTIONS[fn] : undefined;
}

/**
 * A blueprint's workflow mapped to a built-in one under another name takes the blueprint's
 * parameters, which Cloudify passes to the function as they are; the deprecated `scale` names
 * its node `node_id`. The built-in's defaults fill in the rest.
 */
function aliasParameters(fn: string | undefined, builtin: string, given: Record<string, Json>) {
  const parameters: Record<string, Json> = { ...BUILTIN_WORKFLOWS[builtin], ...given };
  if (fn === 'cloudify.plugins.workflows.scale' && given.node_id !== undefined) {
    parameters.scalable_entity_name = given.node_id;
    delete parameters.node_id;
  }
  return parameters;
}

/** A parameter of a workflow as the engine takes it. */
export interface WorkflowParameter {
  type?: string;
  default?: Json;
  required: boolean;
  description?: string;
}

/**
 * The parameters the deployment's workflow `name` takes when started (startExecution checks the
 * given ones against these): a built-in's are Weft's, with the descriptions the blueprint's types
 * give them; a blueprint workflow's are those it declares. Undefined for an unknown workflow.
 */
export function workflowParameters(
  model: Pick<DeploymentModel, 'workflows'>,
  name: string,
): Record<string, WorkflowParameter> | undefined {
  const custom = model.workflows[name];
  const declared: Record<string, WorkflowParameter> = {};
  if (builtinWorkflow(model, name) === name) {
    for (const [parameter, value] of Object.entries(BUILTIN_WORKFLOWS[name]!)) {
      const description = custom?.parameters[parameter]?.description;
      declared[parameter] = {
        default: value,
        required: false,
        type: BUILTIN_PARAMETER_TYPES[parameter],
        ...(description !== undefined && { description }),
      };
    }
    return declared;
  }
  if (!custom) return undefined;
  // As Cloudify, a workflow script is the default of its `script_path` parameter (-p chooses another).
  if (isScriptWorkflow(custom) && custom.function === custom.mapping)
    declared.script_path = { default: custom.function, required: false, type: 'string' };
  for (const [parameter, p] of Object.entries(custom.parameters))
    declared[parameter] = {
      default: p.default as Json,
      required: p.required,
      ...(p.type && { type: p.type }),
      ...(p.description !== undefined && { description: p.description }),
    };
  return declared;
}

/** The types of the deployment update's parameters (workflows/update.ts reads them so). */
const UPDATE_PARAMETER_TYPES: Record<keyof UpdateParameters, string> = {
  skip_install: 'boolean',
  skip_uninstall: 'boolean',
  skip_reinstall: 'boolean',
  reinstall_list: 'list',
  ignore_failure: 'boolean',
  install_first: 'boolean',
};

/**
 * The deployment's workflows with the parameters Weft takes for each, sorted by name, for a
 * listing: every workflow of the blueprint but those its types declare for Cloudify's manager
 * that Weft does not run (install_new_agents, pull...); the deployment update's (update and
 * rollback, the update back to the version before) with the update's parameters.
 */
export function listedWorkflows(
  model: Pick<DeploymentModel, 'workflows'>,
): { name: string; parameters: Record<string, WorkflowParameter> }[] {
  const listed: { name: string; parameters: Record<string, WorkflowParameter> }[] = [];
  for (const name of [...new Set([...Object.keys(model.workflows), ...DEPLOYMENT_UPDATE_WORKFLOWS])].sort()) {
    const custom = model.workflows[name];
    const builtin = !custom || custom.plugin === 'default_workflows';
    if (isDeploymentUpdate(model, name)) {
      const parameters: Record<string, WorkflowParameter> = {};
      for (const [parameter, value] of Object.entries(UPDATE_PARAMETER_DEFAULTS))
        parameters[parameter] = {
          default: value as Json,
          required: false,
          type: UPDATE_PARAMETER_TYPES[parameter as keyof UpdateParameters],
        };
      listed.push({ name, parameters });
      continue;
    }
    if (builtin && !builtinWorkflow(model, name)) continue;
    listed.push({ name, parameters: workflowParameters(model, name)! });
  }
  return listed;
}

export interface StartExecutionOptions {
  store: Store;
  dispatcher: Dispatcher;
  deploymentId: string;
  workflow: string;
  parameters?: Record<string, Json>;
  /** Accept parameters the workflow does not declare. */
  allowCustomParameters?: boolean;
  /** The most node instances a scale may leave the deployment with (the planner's default otherwise). */
  maxInstances?: number;
  /**
   * The new execution's id, when the caller needs it before the execution is stored (a server
   * claims it first, so that no other server takes it for one left running). A new UUID otherwise.
   */
  id?: string;
}

/**
 * Creates an execution with its task graph (pending). Refused while the deployment has another
 * execution that has not ended (ActiveExecutionError).
 */
export async function startExecution(options: StartExecutionOptions): Promise<ExecutionRecord> {
  return (await startExecutionWithTasks(options)).execution;
}

/** An execution just created, and its tasks as the store now holds them. */
export interface StartedExecution {
  execution: ExecutionRecord;
  tasks: TaskRecord[];
}

/**
 * startExecution, also giving the tasks it stored: whoever runs the execution at once need not
 * read them back (thousands of rows for a large deployment).
 */
export async function startExecutionWithTasks(options: StartExecutionOptions): Promise<StartedExecution> {
  const { store } = options;
  const deployment = await store.getDeployment(options.deploymentId);
  if (!deployment) throw new WorkflowError(`deployment '${options.deploymentId}' not found`);
  const model = modelOf(deployment.model);
  const given = options.parameters ?? {};
  const custom = model.workflows[options.workflow];
  const builtin = builtinWorkflow(model, options.workflow);
  const declared = workflowParameters(model, options.workflow);
  if (!declared) {
    throw new WorkflowError(
      `unknown workflow '${options.workflow}'; this deployment can run ${(await runnableWorkflows(model, options.dispatcher)).join(', ')}`,
    );
  }
  const parameters: Record<string, Json> = {};
  for (const [name, p] of Object.entries(declared)) {
    if (Object.hasOwn(given, name)) {
      const wrong = p.type ? typeMismatch(given[name]!, p.type) : undefined;
      if (wrong)
        throw new WorkflowError(
          `workflow '${options.workflow}' parameter '${name}' must be ${wrong}, got ${JSON.stringify(given[name])}`,
        );
      setOwn(parameters, name, given[name]!);
    } else if (p.default !== undefined) setOwn(parameters, name, p.default);
    else if (p.required)
      throw new WorkflowError(
        `workflow '${options.workflow}' needs the parameter '${name}' (-p ${name}=VALUE)`,
      );
  }
  for (const [name, value] of Object.entries(given)) {
    if (Object.hasOwn(declared, name)) continue;
    if (!EXECUTION_PARAMETERS.includes(name) && !options.allowCustomParameters) {
      throw new WorkflowError(
        `workflow '${options.workflow}' has no parameter '${name}' (it has: ${Object.keys(declared).join(', ') || 'none'}; --allow-custom-parameters passes it on undeclared)`,
      );
    }
    const wrong = EXECUTION_PARAMETERS.includes(name)
      ? typeMismatch(value, BUILTIN_PARAMETER_TYPES[name]!)
      : undefined;
    if (wrong)
      throw new WorkflowError(
        `workflow '${options.workflow}' parameter '${name}' must be ${wrong}, got ${JSON.stringify(value)}`,
      );
    setOwn(parameters, name, value);
  }
  const instances = await store.listInstances(deployment.id);
  const builtinParameters =
    builtin && builtin !== options.workflow
      ? aliasParameters(custom?.function, builtin, parameters)
      : parameters;
  let graph: TaskGraph;
  let scale: ScalePlan | undefined;
  let borrowed: Borrowed | undefined;
  if (builtin === 'scale') {
    scale = planScale(model, instances, deployment.id, builtinParameters, options.maxInstances);
    graph = scale.graph;
    // Kept with the execution: what to remove once it has succeeded.
    parameters.removed_instances = scale.removed;
    if (scale.removed.length > 0)
      parameters.relationship_updates = Object.fromEntries(scale.relationships) as unknown as Json;
  } else if (builtin) {
    graph = builtinGraph(builtin, model, instances, builtinParameters);
    if (builtin === 'uninstall' && model.blueprint.heatTemplateVersion !== undefined) {
      // A HOT stack's delete first deletes its snapshots, each resource's handleDeleteSnapshot
      // with what the snapshot kept of it, as Heat's Stack.delete runs delete_all_snapshots; the
      // records go once it has succeeded (finishExecution).
      // Resources an update removed since a snapshot was taken are reached too, borrowed from the
      // snapshots' definitions, as a snapshot's deletion does (Heat builds each from the snapshot).
      const snapshots = await store.listSnapshots(deployment.id);
      if (snapshots.length > 0) {
        const kept = snapshots.map((s) => ({ model: modelOf(s.model), resources: snapshotResources(s) }));
        borrowed = borrowFromSnapshots(model, instances, kept, deployment.id);
        const started = [...instances.filter((i) => i.state === 'started'), ...(borrowed?.instances ?? [])];
        const deletions: TaskGraph = { workflow: options.workflow, tasks: [] };
        // (Each snapshot's tasks depend on none: they are numbered on.)
        for (const { resources } of kept)
          for (const task of snapshotDeletionGraph(
            borrowed?.model ?? model,
            started,
            resources,
            options.workflow,
          ).tasks)
            deletions.tasks.push({ ...task, id: deletions.tasks.length });
        if (borrowed) parameters.borrowed = borrowed.parameter;
        graph = chain(deletions, graph, options.workflow);
        parameters.deleted_snapshots = snapshots.map((s) => s.id);
      }
    }
  } else if (custom && isScriptWorkflow(custom) && options.dispatcher.runWorkflow) {
    if (typeof parameters.script_path !== 'string' || parameters.script_path === '')
      throw new WorkflowError(
        `workflow '${options.workflow}' runs a workflow script and needs the parameter 'script_path' (-p script_path=scripts/x.py)`,
      );
    graph = scriptWorkflowGraph(options.workflow, parameters.script_path);
  } else {
    const fn =
      custom?.plugin && custom.function
        ? await options.dispatcher.workflow?.(custom.plugin, custom.function)
        : undefined;
    if (!fn) {
      const runnable = (await runnableWorkflows(model, options.dispatcher)).join(', ');
      throw new WorkflowError(
        custom?.plugin === 'default_workflows'
          ? `workflow '${options.workflow}' is declared by the blueprint's types, but Weft does not run it; this deployment can run ${runnable}`
          : `workflow '${options.workflow}' maps to '${custom?.mapping}', which no installed plugin provides; this deployment can run ${runnable}`,
      );
    }
    graph = await customGraph(options.workflow, fn, deployment.id, model, instances, parameters);
  }
  const execution: ExecutionRecord = {
    id: options.id ?? randomUUID(),
    deploymentId: deployment.id,
    workflow: options.workflow,
    parameters,
    status: 'pending',
    error: null,
    createdAt: now(),
    startedAt: null,
    endedAt: null,
  };
  const tasks = taskRecords(execution.id, graph);
  await store.createExecution(execution, tasks, borrowed && borrowedChange(deployment.id, borrowed));
  if (scale && scale.added.length > 0) {
    await store.addInstances(scale.added);
    for (const [id, relationships] of scale.relationships)
      await store.setInstanceRelationships(id, relationships as unknown as Json);
  }
  // As read back: a value JSON does not hold as given (-0, NaN, U+0000) is held as stored.
  for (const task of tasks) {
    if (task.inputs !== null) task.inputs = asStored(task.inputs);
    if (task.relationship !== null) task.relationship = asStored(task.relationship);
  }
  return { execution, tasks };
}

/** The workflows of the deployment update, which the CLI starts with their own planning (deployment/update.ts). */
export const DEPLOYMENT_UPDATE_WORKFLOWS: readonly string[] = ['update', 'rollback'];

/**
 * Whether `workflow` is the deployment update's (update, or rollback: started with their own
 * planning), not a workflow of the blueprint's own plugin that took the name.
 */
export function isDeploymentUpdate(model: Pick<DeploymentModel, 'workflows'>, workflow: string): boolean {
  const mapped = model.workflows[workflow];
  return DEPLOYMENT_UPDATE_WORKFLOWS.includes(workflow) && (!mapped || mapped.plugin === 'default_workflows');
}

/**
 * The workflows a deployment can run, sorted: the built-in ones (unless the blueprint maps the
 * name elsewhere) and the blueprint's own whose plugin function is here. Workflows the bundled
 * types declare for Cloudify's manager (check_drift, pull, rollback...) are left out.
 */
export async function runnableWorkflows(model: DeploymentModel, dispatcher: Dispatcher): Promise<string[]> {
  const names: string[] = [];
  const own = [...Object.keys(BUILTIN_WORKFLOWS), ...DEPLOYMENT_UPDATE_WORKFLOWS];
  for (const name of new Set([...own, ...Object.keys(model.workflows)])) {
    const custom = model.workflows[name];
    if (!custom || custom.plugin === 'default_workflows') {
      if (own.includes(name) || builtinWorkflow(model, name)) names.push(name);
    } else if (isScriptWorkflow(custom)) {
      if (dispatcher.runWorkflow) names.push(name);
    } else if (
      custom.plugin &&
      custom.function &&
      (await dispatcher.workflow?.(custom.plugin, custom.function))
    )
      names.push(name);
  }
  return names.sort();
}

/**
 * Work that follows an execution, in whichever process ends it: what it borrowed from snapshots
 * goes (unless it is resumed), a stack snapshot's is stored as it ended, and after a success, a snapshot's deletion deletes it, a scale-in removes the
 * instances it took down, an update leaves its transition model for the new one.
 */
export async function finishExecution(store: Store, execution: ExecutionRecord): Promise<void> {
  await giveBack(store, execution);
  await endStackSnapshotExecution(store, execution);
  if (execution.status !== 'terminated') return;
  const deletedSnapshots = execution.parameters.deleted_snapshots;
  if (Array.isArray(deletedSnapshots))
    for (const id of deletedSnapshots)
      if (typeof id === 'string') await store.deleteSnapshot(execution.deploymentId, id);
  if (execution.workflow === 'update' || execution.workflow === 'rollback') {
    await finishDeploymentUpdate(store, (await store.getExecution(execution.id)) ?? execution);
    return;
  }
  const deployment = await store.getDeployment(execution.deploymentId);
  if (!deployment || builtinWorkflow(modelOf(deployment.model), execution.workflow) !== 'scale') return;
  const stored = (await store.getExecution(execution.id)) ?? execution;
  const removed = stored.parameters.removed_instances;
  if (!Array.isArray(removed) || removed.length === 0) return;
  const updates = (stored.parameters.relationship_updates ?? {}) as Record<string, Json>;
  for (const [id, relationships] of Object.entries(updates))
    await store.setInstanceRelationships(id, relationships);
  await store.removeInstances(removed as string[]);
}
