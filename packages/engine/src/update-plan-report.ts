/** A deployment update's plan as a JSON document: what changes, what each instance goes through, the operations wave by wave. */
import type { Json } from '@weft/sdk';
import type { Masker } from './executor/masker.js';
import type { NodeDiff, ValueChange } from './model/model-diff.js';
import { operationWaves } from './workflows/lifecycle.js';
import type { InstanceAction, Replacement, UpdatePlan } from './workflows/update.js';

/**
 * What the JSON document of an update plan holds (`weft plan -d DEP --json`, `weft update --json`,
 * the API's update plan), without the CLI's schemaVersion.
 */
export interface UpdatePlanDocument {
  deploymentId: string;
  changes: boolean;
  /**
   * Each node that changes, with what the update does to it; a Heat-style resource that its
   * update replaces says why (the properties that force it).
   */
  nodes: (NodeDiff & {
    action: 'add' | 'remove' | 'update' | 'replace' | 'reinstall' | 'relink' | 'none';
    replacement?: Replacement;
  })[];
  /** Each node instance that takes part. */
  instances: { id: string; node: string; action: InstanceAction | 'replace' }[];
  inputs: ValueChange[];
  outputs: ValueChange[];
  capabilities: ValueChange[];
  workflows: { name: string; change: string }[];
  groups: ValueChange[];
  /** The operations the update runs, wave by wave (a wave's operations may run in parallel). */
  operations: {
    wave: number;
    instance: string;
    operation: string;
    side?: 'source' | 'target';
    target?: string;
  }[];
}

/** Values are shown masked: a secret given as an input or property never reaches the terminal. */
function masked(value: Json | undefined, masker: Masker): Json | undefined {
  return value === undefined ? undefined : masker.maskValue(value);
}

function maskChanges(changes: ValueChange[], masker: Masker): ValueChange[] {
  return changes.map((c) => {
    const out: ValueChange = { name: c.name, change: c.change };
    if (c.before !== undefined) out.before = masked(c.before as Json, masker) as ValueChange['before'];
    if (c.after !== undefined) out.after = masked(c.after as Json, masker) as ValueChange['after'];
    return out;
  });
}

/**
 * An instance's action, `replace` where its resource's update replaces the resource, or where it
 * is removed for a replacement of another type.
 */
function instanceAction(plan: UpdatePlan, id: string, action: InstanceAction): InstanceAction | 'replace' {
  return (action === 'update' || action === 'remove') && plan.replacements[id] ? 'replace' : action;
}

/** The node's action: what most of its instances go through (a node without instances: by its change). */
function nodeAction(
  node: NodeDiff,
  plan: UpdatePlan,
  instanceNode: Map<string, string>,
): UpdatePlanDocument['nodes'][number]['action'] {
  if (node.change === 'added') return 'add';
  if (node.change === 'removed') return 'remove';
  const actions = Object.entries(plan.actions)
    .filter(([id]) => instanceNode.get(id) === node.node)
    .map(([id, action]) => instanceAction(plan, id, action));
  for (const action of ['reinstall', 'replace', 'update', 'remove', 'add', 'relink'] as const)
    if (actions.includes(action)) return action;
  return 'none';
}

export function updatePlanDocument(
  deploymentId: string,
  plan: UpdatePlan,
  instances: { id: string; node: string }[],
  inputs: ValueChange[],
  masker: Masker,
): UpdatePlanDocument {
  const instanceNode = new Map([...instances, ...plan.added].map((i) => [i.id, i.node]));
  const operations: UpdatePlanDocument['operations'] = [];
  operationWaves(plan.graph).forEach((wave, index) => {
    for (const task of wave) {
      if (!task.operation) continue;
      const step: UpdatePlanDocument['operations'][number] = {
        wave: index + 1,
        instance: task.instanceId,
        operation: task.operation,
      };
      if (task.relationship) {
        step.side = task.relationship.side;
        step.target = task.relationship.targetId;
      }
      operations.push(step);
    }
  });
  const nodes = plan.diff.nodes.map((node) => {
    const action = nodeAction(node, plan, instanceNode);
    // Keys in the order the API's schema serializes them, so that the CLI prints one document,
    // byte for byte, whether the plan was made locally or by a server.
    const entry: UpdatePlanDocument['nodes'][number] = {
      node: node.node,
      change: node.change,
      action,
      ...(node.type ? { type: node.type } : {}),
      properties: maskChanges(node.properties, masker),
      operations: node.operations.map(({ name, change }) => ({ name, change })),
      relationships: node.relationships,
      ...(node.instances ? { instances: node.instances } : {}),
      ...(node.host ? { host: node.host } : {}),
    };
    // Every instance of a node is replaced for the same reason: the node's properties changed.
    const replaced = Object.keys(plan.replacements).find((id) => instanceNode.get(id) === node.node);
    if (action === 'replace' && replaced) entry.replacement = plan.replacements[replaced];
    return entry;
  });
  const document: UpdatePlanDocument = {
    deploymentId,
    changes: false,
    nodes,
    instances: Object.entries(plan.actions)
      .map(([id, action]) => ({
        id,
        node: instanceNode.get(id) ?? '',
        action: instanceAction(plan, id, action),
      }))
      .sort((a, b) => a.node.localeCompare(b.node) || a.id.localeCompare(b.id)),
    inputs: maskChanges(inputs, masker),
    outputs: maskChanges(plan.diff.outputs, masker),
    capabilities: maskChanges(plan.diff.capabilities, masker),
    workflows: plan.diff.workflows.map(({ name, change }) => ({ name, change })),
    groups: plan.diff.groups,
    operations,
  };
  document.changes =
    nodes.length +
      document.instances.length +
      inputs.length +
      document.outputs.length +
      document.capabilities.length +
      document.workflows.length +
      document.groups.length >
    0;
  return document;
}
