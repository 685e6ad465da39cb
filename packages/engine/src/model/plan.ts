import { setOwn } from '@weft/sdk/keys';
import { CONTAINED_IN, checkCounts } from '../dsl/blueprint.js';
import type { Blueprint, InstanceCounts, Interfaces, NodeTemplate } from '../dsl/blueprint-types.js';
import { Diagnostics, type Loc } from '../dsl/diagnostics.js';
import {
  type EvalEnv,
  evaluateStatic,
  functionName,
  hasCall,
  type PropertyLookup,
} from '../dsl/functions.js';
import { checkValue } from '../dsl/values.js';
import { locOf, type Value, type ValueMap } from '../dsl/yaml-source.js';
import { bindInputs } from './inputs.js';
import { InstanceIdFactory } from './instance-ids.js';

export const SCALING_POLICY = 'cloudify.policies.scaling';

export interface RelationshipInstance {
  type: string;
  hierarchy: string[];
  /** Target node template name. */
  target: string;
  targetId: string;
  /** Index of the relationship in the source template's list. */
  index: number;
}

export interface NodeInstance {
  id: string;
  node: string;
  /** 1-based position among the node's instances. */
  index: number;
  /** The instance this one is contained in (direct contained_in target). */
  containedIn?: string;
  /** The compute instance this one runs on (nearest cloudify.nodes.Compute up the containment chain). */
  hostId?: string;
  scalingGroups: { name: string; id: string }[];
  relationships: RelationshipInstance[];
}

/** A node template with its static values evaluated. */
export interface PlannedNode {
  name: string;
  type: string;
  hierarchy: string[];
  properties: ValueMap;
  interfaces: Interfaces;
  /** Operation inputs with static functions evaluated, keyed `interface.operation`. */
  operationInputs: Map<string, ValueMap>;
  /** The same for each relationship (in the template's order), its source and target operations. */
  relationshipInputs: { source: Map<string, ValueMap>; target: Map<string, ValueMap> }[];
  counts: { default: number; min: number; max: number };
  /** Number of instances across the deployment. */
  instanceCount: number;
  host?: string;
  template: NodeTemplate;
}

export interface GroupInstance {
  id: string;
  group: string;
}

export interface DeploymentPlan {
  deploymentId: string;
  blueprint: Blueprint;
  inputs: Map<string, Value>;
  nodes: Map<string, PlannedNode>;
  instances: NodeInstance[];
  groupInstances: GroupInstance[];
  outputs: Map<string, Value>;
  capabilities: Map<string, Value>;
}

export interface PlanOptions {
  deploymentId: string;
  inputs?: ValueMap;
  /**
   * Required inputs without a value stay unbound (checking a blueprint without inputs): what
   * reads them is left unevaluated, and nothing that depends on them is judged.
   */
  leaveUnbound?: boolean;
  /** The most node instances a deployment may have (default {@link DEFAULT_MAX_INSTANCES}). */
  maxInstances?: number;
}

/**
 * The default ceiling on a deployment's node instances: far above what deployments have, low
 * enough that a typo (default_instances: 1000000000) is a problem instead of gigabytes of plan.
 */
export const DEFAULT_MAX_INSTANCES = 100_000;

export interface PlanResult {
  plan?: DeploymentPlan;
  problems: Diagnostics;
}

type Entity = { kind: 'node'; name: string } | { kind: 'group'; name: string };

const key = (e: Entity) => `${e.kind}:${e.name}`;

/** Static evaluation of properties, with get_property references followed lazily and cycles reported. */
class PropertyEvaluator {
  private readonly values = new Map<string, Value>();
  private readonly evaluated = new Map<string, ValueMap>();
  /** Properties being evaluated, innermost last: a repeat is a get_property cycle. */
  private readonly active: string[] = [];
  private readonly ctx;

  constructor(
    private readonly blueprint: Blueprint,
    private readonly inputs: Map<string, Value>,
    private readonly diagnostics: Diagnostics,
  ) {
    this.ctx = { version: blueprint.version, dataTypes: blueprint.dataTypes, diagnostics };
  }

  /** Where functions read from: `self` is a node name, or a relationship's two ends. */
  env(
    self: string | { source: string; target: string } | undefined,
    path: string,
    at: Parameters<Diagnostics['add']>[1],
  ): EvalEnv {
    return {
      input: (name) =>
        this.inputs.has(name)
          ? { value: this.inputs.get(name)! }
          : this.blueprint.inputs.has(name)
            ? 'unbound'
            : undefined,
      property: (node, name) => this.property(node, name),
      ...(typeof self === 'string' ? { self } : self),
      report: (message) => this.diagnostics.add('evaluation', at, path, message),
    };
  }

  /**
   * The inputs of every operation of `interfaces` with static functions evaluated (get_input,
   * get_property with SELF or SOURCE/TARGET, concat...), keyed `interface.operation`. Cloudify
   * evaluates them when the deployment is created.
   */
  operationInputs(
    interfaces: Interfaces,
    self: string | { source: string; target: string },
    base: string,
  ): Map<string, ValueMap> {
    const inputs = new Map<string, ValueMap>();
    for (const [iface, ops] of interfaces) {
      for (const [name, op] of ops) {
        if (op.kind === 'noop' || Object.keys(op.inputs).length === 0) continue;
        const evaluated: ValueMap = {};
        for (const [input, raw] of Object.entries(op.inputs)) {
          // An inherited input's value is written in the type, at its default.
          const own = op.templateInputs ? Object.hasOwn(op.templateInputs, input) : !op.inputSchemas;
          const at = own
            ? locOf(op.templateInputs ?? op.inputs, input)
            : (op.inputSchemas?.get(input)?.defaultAt ?? op.at);
          setOwn(
            evaluated,
            input,
            evaluateStatic(raw, this.env(self, `${base}.${iface}.${name}.inputs.${input}`, at)),
          );
        }
        inputs.set(`${iface}.${name}`, evaluated);
      }
    }
    return inputs;
  }

  property(node: string, name: string): PropertyLookup {
    const template = this.blueprint.nodeTemplates.get(node);
    if (!template) return 'missing-node';
    if (!Object.hasOwn(template.properties, name)) return 'missing';
    const key = `${node}.${name}`;
    if (this.values.has(key)) return { value: this.values.get(key)! };
    const path = `node_templates.${node}.properties.${name}`;
    const at = locOf(template.properties, name);
    const cycleStart = this.active.indexOf(key);
    if (cycleStart >= 0) {
      const cycle = [...this.active.slice(cycleStart), key].join(' -> ');
      this.diagnostics.add('property-cycle', at, path, `get_property cycle: ${cycle}`);
      return 'cycle';
    }
    this.active.push(key);
    const raw = template.properties[name]!;
    const before = this.diagnostics.problems.length;
    const value = evaluateStatic(raw, this.env(node, path, at));
    this.active.pop();
    const schema = this.blueprint.nodeTypes.get(template.type)?.properties.get(name);
    const checked = schema && value !== raw ? checkValue(value, schema, path, at, this.ctx) : value;
    if (schema?.required && value === null && raw !== null && this.diagnostics.problems.length === before) {
      this.diagnostics.add('missing-property', at, path, `required property '${name}' evaluated to null`);
    }
    this.values.set(key, checked);
    return { value: checked };
  }

  /** Every property of a node template, evaluated. */
  properties(node: string): ValueMap | undefined {
    const known = this.evaluated.get(node);
    if (known) return known;
    const template = this.blueprint.nodeTemplates.get(node);
    if (!template) return undefined;
    const out: ValueMap = {};
    for (const name of Object.keys(template.properties)) {
      const found = this.property(node, name);
      setOwn(out, name, typeof found === 'object' ? found.value : null);
    }
    this.evaluated.set(node, out);
    return out;
  }
}

/** An instance count, or undefined while it reads an unbound input. */
function evaluateCount(
  value: Value,
  evaluator: PropertyEvaluator,
  path: string,
  diagnostics: Diagnostics,
  at: Loc | undefined,
  self: string | undefined,
): number | undefined {
  const result = functionName(value) ? evaluateStatic(value, evaluator.env(self, path, at)) : value;
  if (result === 'UNBOUNDED') return -1;
  if (hasCall(result)) return undefined;
  if (typeof result !== 'number' || !Number.isInteger(result) || result < -1) {
    diagnostics.add(
      'bad-value',
      at,
      path,
      `expected an integer instance count, got ${JSON.stringify(result)}`,
    );
    return undefined;
  }
  return result;
}

/** Instance counts with their functions evaluated (SELF is the node, for a node's own counts). */
function counts(
  raw: InstanceCounts,
  evaluator: PropertyEvaluator,
  path: string,
  diagnostics: Diagnostics,
  self?: string,
) {
  const count = (value: Value, field: string, at: Loc | undefined) =>
    evaluateCount(value, evaluator, `${path}.${field}`, diagnostics, at, self);
  const found = {
    default: count(raw.default, 'default_instances', raw.at?.default),
    min: count(raw.min, 'min_instances', raw.at?.min),
    max: count(raw.max, 'max_instances', raw.at?.max),
  };
  const result = { default: found.default ?? 1, min: found.min ?? 0, max: found.max ?? -1 };
  if (result.default < 0) {
    diagnostics.add(
      'bad-value',
      undefined,
      `${path}.default_instances`,
      `default_instances cannot be negative (${result.default})`,
    );
    result.default = 0;
  }
  // Counts not known yet (unbound inputs) are not compared.
  if (found.default !== undefined && found.min !== undefined && found.max !== undefined)
    checkCounts(result, path, undefined, diagnostics);
  return result;
}

/**
 * Turns a validated blueprint and inputs into a deployment plan: node instances (multiplied by
 * hosts and scaling groups), relationship instances and evaluated static values.
 */
export function planDeployment(blueprint: Blueprint, options: PlanOptions): PlanResult {
  const diagnostics = new Diagnostics();
  const inputs = bindInputs(blueprint, options.inputs ?? {}, diagnostics, options.leaveUnbound);
  const evaluator = new PropertyEvaluator(blueprint, inputs, diagnostics);

  const nodes = new Map<string, PlannedNode>();
  for (const template of blueprint.nodeTemplates.values()) {
    const properties = evaluator.properties(template.name) ?? {};
    const base = `node_templates.${template.name}`;
    const operationInputs = evaluator.operationInputs(
      template.interfaces,
      template.name,
      `${base}.interfaces`,
    );
    const relationshipInputs = template.relationships.map((rel) => {
      const ends = { source: template.name, target: rel.target };
      const at = `${base}.relationships[${rel.index}]`;
      return {
        source: evaluator.operationInputs(rel.sourceInterfaces, ends, `${at}.source_interfaces`),
        target: evaluator.operationInputs(rel.targetInterfaces, ends, `${at}.target_interfaces`),
      };
    });
    const host = template.relationships.find((r) => r.hierarchy.includes(CONTAINED_IN))?.target;
    const planned: PlannedNode = {
      name: template.name,
      type: template.type,
      hierarchy: template.hierarchy,
      properties,
      interfaces: template.interfaces,
      operationInputs,
      relationshipInputs,
      counts: counts(
        template.instances,
        evaluator,
        `node_templates.${template.name}.capabilities.scalable.properties`,
        diagnostics,
        template.name,
      ),
      instanceCount: 0,
      template,
    };
    if (host) planned.host = host;
    nodes.set(template.name, planned);
  }

  // Scaling groups: groups targeted by a scaling policy.
  const groupCounts = new Map<string, { default: number; min: number; max: number }>();
  for (const policy of blueprint.policies.values()) {
    if (policy.type !== SCALING_POLICY) continue;
    const c = counts(
      {
        default: policy.properties.default_instances ?? 1,
        min: policy.properties.min_instances ?? 0,
        max: policy.properties.max_instances ?? -1,
      },
      evaluator,
      `policies.${policy.name}.properties`,
      diagnostics,
    );
    for (const target of policy.targets) groupCounts.set(target, c);
  }

  const tree = buildTree(blueprint, nodes, groupCounts, diagnostics);
  const outputs = new Map<string, Value>();
  const capabilities = new Map<string, Value>();
  for (const [into, defs, section] of [
    [outputs, blueprint.outputs, 'outputs'],
    [capabilities, blueprint.capabilities, 'capabilities'],
  ] as const) {
    for (const def of defs.values()) {
      into.set(
        def.name,
        evaluateStatic(
          def.value,
          evaluator.env(undefined, `${section}.${def.name}.value`, def.valueAt ?? def.at),
        ),
      );
    }
  }
  if (!diagnostics.ok || !tree) return { problems: diagnostics };

  if (
    !withinInstanceCeiling(
      tree,
      nodes,
      groupCounts,
      options.maxInstances ?? DEFAULT_MAX_INSTANCES,
      diagnostics,
    )
  )
    return { problems: diagnostics };
  const ids = new InstanceIdFactory(options.deploymentId);
  const { instances, groupInstances } = expand(tree, nodes, groupCounts, ids, blueprint);
  return {
    plan: {
      deploymentId: options.deploymentId,
      blueprint,
      inputs,
      nodes,
      instances,
      groupInstances,
      outputs,
      capabilities,
    },
    problems: diagnostics,
  };
}

interface Tree {
  parent: Map<string, Entity | undefined>;
  /** Entities, parents before children. */
  order: Entity[];
  /** Ancestor chain of each entity (outermost first), excluding itself. */
  ancestors: Map<string, Entity[]>;
}

/** Which scaling groups contain an entity, directly or through nested groups, innermost first. */
function groupChains(blueprint: Blueprint, scaling: Set<string>): Map<string, string[]> {
  const directParents = new Map<string, string[]>();
  for (const group of blueprint.groups.values()) {
    if (!scaling.has(group.name)) continue;
    for (const member of group.members) {
      const memberKey =
        blueprint.groups.has(member) && !blueprint.nodeTemplates.has(member)
          ? `group:${member}`
          : `node:${member}`;
      const list = directParents.get(memberKey) ?? [];
      list.push(group.name);
      directParents.set(memberKey, list);
    }
  }
  const chains = new Map<string, string[]>();
  const chainOf = (entityKey: string, seen: Set<string>): string[] => {
    const known = chains.get(entityKey);
    if (known) return known;
    const result: string[] = [];
    for (const group of directParents.get(entityKey) ?? []) {
      if (seen.has(group)) continue;
      seen.add(group);
      result.push(group, ...chainOf(`group:${group}`, seen));
    }
    chains.set(entityKey, result);
    return result;
  };
  for (const k of directParents.keys()) chainOf(k, new Set());
  return chains;
}

function buildTree(
  blueprint: Blueprint,
  nodes: Map<string, PlannedNode>,
  groupCounts: Map<string, unknown>,
  diagnostics: Diagnostics,
): Tree | undefined {
  const scaling = new Set(groupCounts.keys());
  const chains = groupChains(blueprint, scaling);
  const parent = new Map<string, Entity | undefined>();
  const groupsOfNode = (name: string) => chains.get(`node:${name}`) ?? [];
  const inGroup = (nodeName: string, group: string) => groupsOfNode(nodeName).includes(group);

  for (const node of nodes.values()) {
    const groups = groupsOfNode(node.name);
    const innermost = groups[0];
    const hostInside = node.host && innermost ? inGroup(node.host, innermost) : false;
    if (innermost && !hostInside) parent.set(`node:${node.name}`, { kind: 'group', name: innermost });
    else if (node.host) parent.set(`node:${node.name}`, { kind: 'node', name: node.host });
    else parent.set(`node:${node.name}`, undefined);
  }
  for (const group of scaling) {
    const outer = chains.get(`group:${group}`)?.[0];
    if (outer) {
      parent.set(`group:${group}`, { kind: 'group', name: outer });
      continue;
    }
    // A group sits on the host its members share outside it, if any.
    const hosts = new Set<string>();
    const members = [...nodes.values()].filter((n) => inGroup(n.name, group));
    for (const member of members) if (member.host && !inGroup(member.host, group)) hosts.add(member.host);
    if (hosts.size > 1) {
      diagnostics.add(
        'group-hosts',
        blueprint.groups.get(group)?.at,
        `groups.${group}`,
        `members of scaling group '${group}' are contained in different nodes (${[...hosts].join(', ')})`,
      );
      return undefined;
    }
    const [host] = hosts;
    parent.set(`group:${group}`, host ? { kind: 'node', name: host } : undefined);
  }

  const order: Entity[] = [];
  const ancestors = new Map<string, Entity[]>();
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (entity: Entity): boolean => {
    const k = key(entity);
    if (state.get(k) === 'done') return true;
    if (state.get(k) === 'visiting') {
      diagnostics.add(
        'containment-cycle',
        undefined,
        entity.kind === 'node' ? `node_templates.${entity.name}` : `groups.${entity.name}`,
        `containment cycle through ${entity.kind} '${entity.name}'`,
      );
      return false;
    }
    state.set(k, 'visiting');
    const p = parent.get(k);
    if (p && !visit(p)) return false;
    ancestors.set(k, p ? [...ancestors.get(key(p))!, p] : []);
    state.set(k, 'done');
    order.push(entity);
    return true;
  };
  for (const group of scaling) if (!visit({ kind: 'group', name: group })) return undefined;
  for (const node of nodes.keys()) if (!visit({ kind: 'node', name: node })) return undefined;
  return { parent, order, ancestors };
}

interface Placed {
  id: string;
  entity: Entity;
  entityKey: string;
  parent: Placed | undefined;
}

/** The id of the ancestor instance of the given entity (a short walk up the containment chain). */
function scopeOf(placed: Placed, entityKey: string): string | undefined {
  for (let p = placed.parent; p; p = p.parent) if (p.entityKey === entityKey) return p.id;
  return undefined;
}

/** How many instances an entity gets per instance of its parent: its node's or group's default. */
function defaultCount(
  entity: Entity,
  nodes: Map<string, PlannedNode>,
  groupCounts: Map<string, { default: number }>,
): number {
  return entity.kind === 'node'
    ? nodes.get(entity.name)!.counts.default
    : (groupCounts.get(entity.name)?.default ?? 1);
}

/**
 * Counts the instances the plan would make (each entity's count times its parent's) before any is
 * made; over the ceiling is a problem at the count that crosses it.
 */
function withinInstanceCeiling(
  tree: Tree,
  nodes: Map<string, PlannedNode>,
  groupCounts: Map<string, { default: number }>,
  ceiling: number,
  diagnostics: Diagnostics,
): boolean {
  const totals = new Map<string, number>();
  let total = 0;
  for (const entity of tree.order) {
    const k = key(entity);
    const parent = tree.parent.get(k);
    const node = entity.kind === 'node' ? nodes.get(entity.name)! : undefined;
    const made = defaultCount(entity, nodes, groupCounts) * (parent ? (totals.get(key(parent)) ?? 1) : 1);
    totals.set(k, made);
    if (node) total += made;
    if (total > ceiling) {
      const what = node ? `node_templates.${entity.name}` : `groups.${entity.name}`;
      diagnostics.add(
        'too-many-instances',
        node?.template.at,
        what,
        `${entity.name} would make the deployment ${total.toLocaleString('en-US')} node instances, over the ceiling of ${ceiling.toLocaleString('en-US')} per deployment (raise it with WEFT_MAX_INSTANCES)`,
      );
      return false;
    }
  }
  return true;
}

function expand(
  tree: Tree,
  nodes: Map<string, PlannedNode>,
  groupCounts: Map<string, { default: number }>,
  ids: InstanceIdFactory,
  blueprint: Blueprint,
): { instances: NodeInstance[]; groupInstances: GroupInstance[] } {
  const placed = new Map<string, Placed[]>();
  const instances: NodeInstance[] = [];
  const groupInstances: GroupInstance[] = [];
  const byId = new Map<string, NodeInstance>();
  const placedById = new Map<string, Placed>();
  for (const entity of tree.order) {
    const k = key(entity);
    const p = tree.parent.get(k);
    const parents: (Placed | undefined)[] = p ? (placed.get(key(p)) ?? []) : [undefined];
    const node = entity.kind === 'node' ? nodes.get(entity.name)! : undefined;
    const count = defaultCount(entity, nodes, groupCounts);
    const hostKey = node?.host ? `node:${node.host}` : undefined;
    const isCompute = node?.hierarchy.includes('cloudify.nodes.Compute') ?? false;
    const list: Placed[] = [];
    let index = 0;
    for (const parentInstance of parents) {
      // Scaling groups along the chain are the same for every instance under this parent.
      const groups: { name: string; id: string }[] = [];
      for (let q = parentInstance; q; q = q.parent)
        if (q.entity.kind === 'group') groups.unshift({ name: q.entity.name, id: q.id });
      const containedIn =
        hostKey && parentInstance
          ? scopeOf({ id: '', entity, entityKey: k, parent: parentInstance }, hostKey)
          : undefined;
      for (let i = 0; i < count; i++) {
        const id = ids.next(entity.name);
        const self: Placed = { id, entity, entityKey: k, parent: parentInstance };
        list.push(self);
        placedById.set(id, self);
        if (!node) {
          groupInstances.push({ id, group: entity.name });
          continue;
        }
        const instance: NodeInstance = {
          id,
          node: entity.name,
          index: ++index,
          scalingGroups: groups.slice(),
          relationships: [],
        };
        if (containedIn) {
          instance.containedIn = containedIn;
          const host = byId.get(containedIn)?.hostId;
          if (host) instance.hostId = host;
        }
        // The nearest Compute up the containment chain is the host.
        if (isCompute) instance.hostId = id;
        instances.push(instance);
        byId.set(id, instance);
      }
    }
    if (node) node.instanceCount = index;
    placed.set(k, list);
  }

  // The innermost entity both ends of a relationship sit in (decided per template, not per instance).
  const sharedKeyOf = (source: string, target: string): string | undefined => {
    const sourceChain = [...tree.ancestors.get(`node:${source}`)!, { kind: 'node', name: source } as Entity];
    const targetChain = [...tree.ancestors.get(`node:${target}`)!, { kind: 'node', name: target } as Entity];
    let shared: string | undefined;
    for (let i = 0; i < Math.min(sourceChain.length, targetChain.length); i++) {
      if (key(sourceChain[i]!) !== key(targetChain[i]!)) break;
      shared = key(sourceChain[i]!);
    }
    return shared;
  };
  // Target instances grouped by the instance of a shared ancestor they sit under.
  const scopedIndex = new Map<string, Map<string, Placed[]>>();
  const scopedTargets = (target: string, sharedKey: string, scopeId: string | undefined): Placed[] => {
    const indexKey = `${target}|${sharedKey}`;
    let index = scopedIndex.get(indexKey);
    if (!index) {
      index = new Map();
      for (const t of placed.get(`node:${target}`) ?? []) {
        const id = sharedKey === `node:${target}` ? t.id : (scopeOf(t, sharedKey) ?? '');
        const list = index.get(id) ?? [];
        list.push(t);
        index.set(id, list);
      }
      scopedIndex.set(indexKey, index);
    }
    return index.get(scopeId ?? '') ?? [];
  };
  for (const template of blueprint.nodeTemplates.values()) {
    if (template.relationships.length === 0) continue;
    const sources = placed.get(`node:${template.name}`) ?? [];
    for (const rel of template.relationships) {
      const allTargets = placed.get(`node:${rel.target}`) ?? [];
      const contained = rel.hierarchy.includes(CONTAINED_IN);
      const sharedKey = contained ? undefined : sharedKeyOf(template.name, rel.target);
      const selfScope = sharedKey === `node:${template.name}`;
      // all_to_one: every source that sees the same candidates gets the same single target.
      const chosenByScope = new Map<string | undefined, string>();
      for (const source of sources) {
        const instance = byId.get(source.id)!;
        let candidates: Placed[];
        let scope: string | undefined;
        if (contained) {
          const host = instance.containedIn ? placedById.get(instance.containedIn) : undefined;
          candidates = host ? [host] : [];
        } else {
          if (sharedKey) {
            scope = selfScope ? instance.id : scopeOf(source, sharedKey);
            candidates = scopedTargets(rel.target, sharedKey, scope);
          } else candidates = allTargets;
          if (rel.connectionType === 'all_to_one' && candidates.length > 0) {
            const chosen = chosenByScope.get(scope) ?? candidates[0]!.id;
            chosenByScope.set(scope, chosen);
            candidates = candidates.filter((c) => c.id === chosen);
          }
        }
        for (const target of candidates) {
          instance.relationships.push({
            type: rel.type,
            hierarchy: rel.hierarchy,
            target: rel.target,
            targetId: target.id,
            index: rel.index,
          });
        }
      }
    }
  }
  return { instances, groupInstances };
}
