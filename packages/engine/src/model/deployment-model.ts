import { basename } from 'node:path';
import type { Blueprint, Interfaces, Operation, WorkflowDef } from '../dsl/blueprint-types.js';
import { hasRuntimeCall } from '../dsl/functions.js';
import type { Value, ValueMap } from '../dsl/yaml-source.js';
import type { DeploymentPlan } from './plan.js';

/**
 * A blueprint's name: its directory's name, made safe as an id (`local` when there is none). It is
 * ctx.blueprint.id, and the CLI's default deployment id.
 */
export function blueprintName(baseDir: string): string {
  return basename(baseDir).replace(/[^A-Za-z0-9_.-]+/g, '-') || 'local';
}

/**
 * What an execution needs to know about a deployment, as plain JSON: stored with the
 * deployment, so executions (and resumes after a crash) run from it without the blueprint.
 */
export interface DeploymentModel {
  formatVersion: 1;
  /**
   * heatTemplateVersion: set for a HOT template (shown with Heat's state names); hiddenInputs: its
   * parameters declared `hidden`, whose values are masked wherever they could be shown.
   */
  blueprint: {
    mainFile: string;
    baseDir: string;
    dslVersion: string;
    heatTemplateVersion?: string;
    hiddenInputs?: string[];
    /** A HOT template's environment as given (Heat's user environment), for its abandon data. */
    heatEnvironment?: Record<string, unknown>;
    /** A HOT template's template resources' template files, by node, for its abandon data. */
    heatNestedTemplates?: Record<string, string>;
    /** A HOT template's resources' types as the template gives them, by node, where the node's type is another. */
    heatTypes?: Record<string, string>;
  };
  nodes: Record<string, NodeModel>;
  outputs: Record<string, Value>;
  capabilities: Record<string, Value>;
  workflows: Record<string, WorkflowModel>;
  groups: Record<string, { members: string[] }>;
  /** Scaling policies: group -> counts. */
  scalingGroups: Record<string, { default: number; min: number; max: number }>;
  plugins: Record<
    string,
    {
      executor?: string;
      source?: string;
      packageName?: string;
      packageVersion?: string;
      properties: ValueMap;
    }
  >;
  /**
   * Set while a deployment update runs: the plugins of `plugins` only the previous version has,
   * kept for the operations that delete what it removes.
   */
  removedPlugins?: string[];
}

export interface OperationModel {
  implementation: string;
  kind: 'plugin' | 'script';
  plugin?: string;
  function?: string;
  script?: { path?: string; source?: string };
  /** Inputs with static functions evaluated; run-time ones (get_attribute, get_secret) remain. */
  inputs: ValueMap;
  executor?: string;
  maxRetries?: number;
  retryInterval?: number;
  timeout?: number;
  timeoutRecoverable?: boolean;
}

export interface RelationshipModel {
  type: string;
  hierarchy: string[];
  target: string;
  properties: ValueMap;
  /** Operations by full name, e.g. `cloudify.interfaces.relationship_lifecycle.preconfigure`. */
  sourceOperations: Record<string, OperationModel>;
  targetOperations: Record<string, OperationModel>;
  /** Set while a deployment update that removed it runs: kept for the unlink of its instances. */
  removed?: true;
}

export interface NodeModel {
  name: string;
  type: string;
  typeHierarchy: string[];
  properties: ValueMap;
  /** Operations with an implementation, by full name. */
  operations: Record<string, OperationModel>;
  /** Every declared operation name, implemented or not (execute_operation checks names against it). */
  declaredOperations: string[];
  relationships: RelationshipModel[];
  host?: string;
  counts: { default: number; min: number; max: number };
  /**
   * Properties its type declares `hidden` (a Loom manifest's sensitive fields): their values are
   * secrets, masked wherever they would be shown.
   */
  hiddenProperties?: string[];
  /**
   * Properties its type declares `override: false` (a Loom manifest's admin fields without
   * override): execute_operation refuses operation_kwargs naming them.
   */
  fixedProperties?: string[];
  /** Set while a deployment update that removed it runs: kept for the uninstall of its instances. */
  removed?: true;
}

export interface WorkflowModel {
  mapping: string;
  plugin?: string;
  function?: string;
  parameters: Record<string, { type?: string; default?: Value; required: boolean; description?: string }>;
}

function operationModel(op: Operation, inputs: ValueMap): OperationModel {
  const model: OperationModel = {
    implementation: op.implementation,
    kind: op.kind === 'script' ? 'script' : 'plugin',
    inputs,
  };
  if (op.plugin) model.plugin = op.plugin;
  if (op.function) model.function = op.function;
  if (op.script) model.script = op.script;
  if (op.executor) model.executor = op.executor;
  if (op.maxRetries !== undefined) model.maxRetries = op.maxRetries;
  if (op.retryInterval !== undefined) model.retryInterval = op.retryInterval;
  if (op.timeout !== undefined) model.timeout = op.timeout;
  if (op.timeoutRecoverable !== undefined) model.timeoutRecoverable = op.timeoutRecoverable;
  return model;
}

function operationsOf(
  interfaces: Interfaces,
  inputsFor: (key: string, op: Operation) => ValueMap,
): Record<string, OperationModel> {
  const out: Record<string, OperationModel> = {};
  for (const [iface, ops] of interfaces) {
    for (const [name, op] of ops) {
      if (op.kind === 'noop') continue;
      out[`${iface}.${name}`] = operationModel(op, inputsFor(`${iface}.${name}`, op));
    }
  }
  return out;
}

/** A blueprint's workflows as a deployment of it holds them. */
export function workflowModels(blueprint: Pick<Blueprint, 'workflows'>): Record<string, WorkflowModel> {
  return Object.fromEntries([...blueprint.workflows.values()].map((w) => [w.name, workflowModel(w)]));
}

function workflowModel(def: WorkflowDef): WorkflowModel {
  const parameters: WorkflowModel['parameters'] = Object.create(null);
  for (const p of def.parameters.values()) {
    parameters[p.name] = { required: p.required && !p.hasDefault };
    if (p.type) parameters[p.name]!.type = p.type;
    if (p.hasDefault) parameters[p.name]!.default = p.default!;
    if (p.description) parameters[p.name]!.description = p.description;
  }
  const model: WorkflowModel = { mapping: def.mapping, parameters };
  if (def.plugin) model.plugin = def.plugin;
  if (def.function) model.function = def.function;
  return model;
}

/** Every operation of a deployment's nodes and of their relationships (both ends). */
export function allOperations(model: Pick<DeploymentModel, 'nodes'>): OperationModel[] {
  return Object.values(model.nodes).flatMap((node) => [
    ...Object.values(node.operations),
    ...node.relationships.flatMap((r) => [
      ...Object.values(r.sourceOperations),
      ...Object.values(r.targetOperations),
    ]),
  ]);
}

/**
 * The values of a deployment's hidden inputs (a HOT template's `hidden: true` parameters): a
 * Masker is given them beside the secrets' values, so that they are masked as secrets are.
 */
function hiddenInputValues(deployment: { model: unknown; inputs: Record<string, unknown> }): Value[] {
  const names = (deployment.model as Partial<DeploymentModel> | null)?.blueprint?.hiddenInputs ?? [];
  return names
    .filter((name) => Object.hasOwn(deployment.inputs, name))
    .map((name) => deployment.inputs[name] as Value);
}

/**
 * The values a deployment keeps hidden, known before anything runs: its hidden inputs' values (a
 * HOT template's `hidden: true` parameters) and the values given to properties that node types
 * declare hidden (a Loom manifest's sensitive fields), where those are not evaluated at run time.
 * Secrets' values are masked besides these.
 */
export function hiddenValues(deployment: { model: unknown; inputs: Record<string, unknown> }): Value[] {
  const values = hiddenInputValues(deployment);
  const nodes = (deployment.model as Partial<DeploymentModel> | null)?.nodes ?? {};
  for (const node of Object.values(nodes))
    for (const name of node.hiddenProperties ?? []) {
      const value = node.properties[name];
      if (value !== undefined && !hasRuntimeCall(value)) values.push(value);
    }
  return values;
}

/**
 * A deployment's model as the engine reads it: the stored JSON, with every map keyed by a name
 * that comes from a blueprint or a user (nodes, operations, workflows, groups...) made
 * prototype-less, so that a lookup of `toString` or `constructor` finds nothing and a node named
 * `__proto__` is a node like any other. The maps are changed in place, which costs one pass over
 * the nodes and is idempotent.
 */
/**
 * A HOT resource's type as Heat shows it (resource list, abandon data): the type its template
 * gives it (heat/engine/resource.py Resource.type()), a template file or a registry alias as
 * written, else its node's type.
 */
export function heatTypeOf(model: DeploymentModel, node: string): string | undefined {
  const types = model.blueprint.heatTypes;
  return types && Object.hasOwn(types, node) ? types[node] : model.nodes[node]?.type;
}

export function modelOf(json: unknown): DeploymentModel {
  const model = json as DeploymentModel;
  for (const map of [
    model.nodes,
    model.outputs,
    model.capabilities,
    model.workflows,
    model.groups,
    model.scalingGroups,
    model.plugins,
  ])
    if (map) Object.setPrototypeOf(map, null);
  for (const node of Object.values(model.nodes ?? {})) {
    Object.setPrototypeOf(node.operations, null);
    Object.setPrototypeOf(node.properties, null);
    for (const rel of node.relationships) {
      Object.setPrototypeOf(rel.sourceOperations, null);
      Object.setPrototypeOf(rel.targetOperations, null);
    }
  }
  for (const workflow of Object.values(model.workflows ?? {}))
    Object.setPrototypeOf(workflow.parameters, null);
  return model;
}

/** The stored model of a planned deployment. */
export function deploymentModel(plan: DeploymentPlan): DeploymentModel {
  const { blueprint } = plan;
  const nodes: Record<string, NodeModel> = Object.create(null);
  for (const node of plan.nodes.values()) {
    const declared: string[] = [];
    for (const [iface, ops] of node.interfaces)
      for (const name of ops.keys()) declared.push(`${iface}.${name}`);
    const model: NodeModel = {
      name: node.name,
      type: node.type,
      typeHierarchy: node.hierarchy,
      properties: node.properties,
      operations: operationsOf(node.interfaces, (key, op) => node.operationInputs.get(key) ?? op.inputs),
      declaredOperations: declared,
      relationships: node.template.relationships.map((rel, i) => {
        const inputs = node.relationshipInputs[i];
        return {
          type: rel.type,
          hierarchy: rel.hierarchy,
          target: rel.target,
          properties: rel.properties,
          sourceOperations: operationsOf(
            rel.sourceInterfaces,
            (key, op) => inputs?.source.get(key) ?? op.inputs,
          ),
          targetOperations: operationsOf(
            rel.targetInterfaces,
            (key, op) => inputs?.target.get(key) ?? op.inputs,
          ),
        };
      }),
      counts: node.counts,
    };
    if (node.host) model.host = node.host;
    const hidden = [...(blueprint.nodeTypes.get(node.type)?.properties.values() ?? [])]
      .filter((p) => p.hidden === true)
      .map((p) => p.name);
    if (hidden.length > 0) model.hiddenProperties = hidden;
    const fixed = [...(blueprint.nodeTypes.get(node.type)?.properties.values() ?? [])]
      .filter((p) => p.override === false)
      .map((p) => p.name);
    if (fixed.length > 0) model.fixedProperties = fixed;
    nodes[node.name] = model;
  }
  const scalingGroups: DeploymentModel['scalingGroups'] = Object.create(null);
  for (const policy of blueprint.policies.values()) {
    if (policy.type !== 'cloudify.policies.scaling') continue;
    const counts = {
      default: Number(policy.properties.default_instances ?? 1),
      min: Number(policy.properties.min_instances ?? 0),
      max: Number(policy.properties.max_instances ?? -1),
    };
    for (const target of policy.targets) scalingGroups[target] = counts;
  }
  const plugins: DeploymentModel['plugins'] = Object.create(null);
  for (const plugin of blueprint.plugins.values()) {
    plugins[plugin.name] = { properties: plugin.properties };
    if (plugin.executor) plugins[plugin.name]!.executor = plugin.executor;
    if (plugin.source) plugins[plugin.name]!.source = plugin.source;
    if (plugin.packageName) plugins[plugin.name]!.packageName = plugin.packageName;
    if (plugin.packageVersion) plugins[plugin.name]!.packageVersion = plugin.packageVersion;
  }
  return modelOf({
    formatVersion: 1,
    blueprint: {
      mainFile: blueprint.mainFile,
      baseDir: blueprint.baseDir,
      dslVersion: blueprint.version,
      ...(blueprint.heatTemplateVersion ? { heatTemplateVersion: blueprint.heatTemplateVersion } : {}),
      ...(blueprint.hiddenInputs?.length ? { hiddenInputs: blueprint.hiddenInputs } : {}),
      ...(blueprint.heatEnvironment ? { heatEnvironment: blueprint.heatEnvironment } : {}),
      ...(blueprint.heatNestedTemplates ? { heatNestedTemplates: blueprint.heatNestedTemplates } : {}),
      ...(blueprint.heatTypes ? { heatTypes: blueprint.heatTypes } : {}),
    },
    nodes,
    outputs: Object.fromEntries(plan.outputs),
    capabilities: Object.fromEntries(plan.capabilities),
    workflows: workflowModels(blueprint),
    groups: Object.fromEntries([...blueprint.groups.values()].map((g) => [g.name, { members: g.members }])),
    scalingGroups,
    plugins,
  });
}
