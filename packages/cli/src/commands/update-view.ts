/** How a deployment update's plan is shown: `+ - ~ -/+` lines for a person, or a JSON document. */
import {
  type InstanceAction,
  type Json,
  type Masker,
  type NodeDiff,
  type Replacement,
  type UpdatePlan,
  type ValueChange,
  waves,
} from '@weft/engine';
import { SCHEMA_VERSION } from '../output.js';
import { colorEnabled, type Style, styled } from '../progress/style.js';

/** What the JSON document of an update plan holds (`weft plan -d DEP --json`, `weft update --json`). */
export interface UpdatePlanJson {
  schemaVersion: number;
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
  if (value === undefined) return undefined;
  // A number or boolean given where a secret's text is (an input of type integer) is masked too.
  if (typeof value === 'number' || typeof value === 'boolean')
    return masker.mask(String(value)) === String(value) ? value : masker.mask(String(value));
  if (Array.isArray(value)) return value.map((v) => masked(v, masker)!);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, masked(v, masker)!]));
  return masker.maskJson(value);
}

function maskChanges(changes: ValueChange[], masker: Masker): ValueChange[] {
  return changes.map((c) => {
    const out: ValueChange = { name: c.name, change: c.change };
    if (c.before !== undefined) out.before = masked(c.before as Json, masker) as ValueChange['before'];
    if (c.after !== undefined) out.after = masked(c.after as Json, masker) as ValueChange['after'];
    return out;
  });
}

/** An instance's action, `replace` where its resource's update replaces the resource. */
function instanceAction(plan: UpdatePlan, id: string, action: InstanceAction): InstanceAction | 'replace' {
  return action === 'update' && plan.replacements[id] ? 'replace' : action;
}

/** The node's action: what most of its instances go through (a node without instances: by its change). */
function nodeAction(
  node: NodeDiff,
  plan: UpdatePlan,
  instanceNode: Map<string, string>,
): UpdatePlanJson['nodes'][number]['action'] {
  if (node.change === 'added') return 'add';
  if (node.change === 'removed') return 'remove';
  const actions = Object.entries(plan.actions)
    .filter(([id]) => instanceNode.get(id) === node.node)
    .map(([id, action]) => instanceAction(plan, id, action));
  for (const action of ['reinstall', 'replace', 'update', 'remove', 'add', 'relink'] as const)
    if (actions.includes(action)) return action;
  return 'none';
}

export function updatePlanJson(
  deploymentId: string,
  plan: UpdatePlan,
  instances: { id: string; node: string }[],
  inputs: ValueChange[],
  masker: Masker,
): UpdatePlanJson {
  const instanceNode = new Map([...instances, ...plan.added].map((i) => [i.id, i.node]));
  const operations: UpdatePlanJson['operations'] = [];
  waves(plan.graph).forEach((wave, index) => {
    for (const task of wave) {
      if (task.kind !== 'operation' || !task.operation) continue;
      const step: UpdatePlanJson['operations'][number] = {
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
  // Waves are numbered among operation waves only (state changes make no wave of their own).
  const numbers = [...new Set(operations.map((o) => o.wave))];
  for (const o of operations) o.wave = numbers.indexOf(o.wave) + 1;
  const nodes = plan.diff.nodes.map((node) => {
    const action = nodeAction(node, plan, instanceNode);
    const entry: UpdatePlanJson['nodes'][number] = {
      ...node,
      properties: maskChanges(node.properties, masker),
      operations: node.operations.map(({ name, change }) => ({ name, change })),
      action,
    };
    // Every instance of a node is replaced for the same reason: the node's properties changed.
    const replaced = Object.keys(plan.replacements).find((id) => instanceNode.get(id) === node.node);
    if (action === 'replace' && replaced) entry.replacement = plan.replacements[replaced];
    return entry;
  });
  const document: UpdatePlanJson = {
    schemaVersion: SCHEMA_VERSION,
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

const MARK: Record<string, [string, Style]> = {
  add: ['+', 'green'],
  added: ['+', 'green'],
  remove: ['-', 'red'],
  removed: ['-', 'red'],
  update: ['~', 'yellow'],
  modified: ['~', 'yellow'],
  relink: ['~', 'yellow'],
  none: ['~', 'yellow'],
  reinstall: ['-/+', 'red'],
  replace: ['-/+', 'red'],
};

const shown = (value: unknown): string => (value === undefined ? '(none)' : JSON.stringify(value));

/** The plan as lines for a person; coloured when the output is a terminal that takes colour. */
export function updatePlanText(plan: UpdatePlanJson, stream: { isTTY?: boolean }): string {
  const color = colorEnabled(process.env, stream.isTTY === true);
  const mark = (kind: string) => {
    const [symbol, style] = MARK[kind] ?? ['~', 'yellow'];
    return styled(symbol.padStart(3), style, color);
  };
  if (!plan.changes) return `Deployment '${plan.deploymentId}': no changes.\n`;
  const out: string[] = [`Deployment '${plan.deploymentId}' would change:`];
  const section = (title: string) => out.push('', `${title}:`);
  const values = (changes: ValueChange[], indent: string) => {
    for (const c of changes)
      out.push(
        `${indent}${mark(c.change)} ${c.name}${c.change === 'modified' ? `: ${shown(c.before)} -> ${shown(c.after)}` : c.change === 'added' ? `: ${shown(c.after)}` : ''}`,
      );
  };
  if (plan.inputs.length > 0) {
    section('Inputs');
    values(plan.inputs, '');
  }
  if (plan.nodes.length > 0) {
    section('Nodes');
    for (const node of plan.nodes) {
      const notes: string[] = [];
      if (node.type) notes.push(`type ${node.type.before} -> ${node.type.after}`);
      if (node.instances) notes.push(`instances ${node.instances.before} -> ${node.instances.after}`);
      if (node.action === 'reinstall') notes.push('reinstalled');
      if (node.action === 'update') notes.push('updated in place');
      if (node.replacement)
        notes.push(
          `replaced, ${node.replacement.deletesFirst ? 'old deleted first' : 'new created before old deleted'}: ${node.replacement.reason}`,
        );
      out.push(
        `${mark(node.action === 'none' ? node.change : node.action)} ${node.node}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
      );
      const forcing = new Set(node.replacement?.properties);
      for (const p of node.properties)
        out.push(
          `      ${mark(p.change)} properties.${p.name}${p.change === 'modified' ? `: ${shown(p.before)} -> ${shown(p.after)}` : p.change === 'added' ? `: ${shown(p.after)}` : ''}${forcing.has(p.name) ? ' (forces replacement)' : ''}`,
        );
      for (const o of node.operations) out.push(`      ${mark(o.change)} operation ${o.name}`);
      for (const r of node.relationships.added)
        out.push(`      ${mark('added')} relationship ${r.type} -> ${r.target}`);
      for (const r of node.relationships.removed)
        out.push(`      ${mark('removed')} relationship ${r.type} -> ${r.target}`);
      for (const r of node.relationships.modified)
        out.push(`      ${mark('modified')} relationship ${r.type} -> ${r.target}`);
    }
  }
  if (plan.instances.length > 0) {
    section(`Node instances (${plan.instances.length})`);
    for (const i of plan.instances)
      out.push(`${mark(i.action)} ${i.id}${i.action === 'relink' ? ' (relationships)' : ''}`);
  }
  for (const [title, list] of [
    ['Outputs', plan.outputs],
    ['Capabilities', plan.capabilities],
    ['Groups', plan.groups],
  ] as const) {
    if (list.length === 0) continue;
    section(title);
    values(list, '');
  }
  if (plan.workflows.length > 0) {
    section('Workflows');
    for (const w of plan.workflows) out.push(`${mark(w.change)} ${w.name}`);
  }
  const last = plan.operations.at(-1)?.wave ?? 0;
  section(
    `Operations (${plan.operations.length} in ${last} ${last === 1 ? 'wave' : 'waves'}; operations in one wave may run in parallel)`,
  );
  if (plan.operations.length === 0) out.push('  none');
  for (const step of plan.operations) {
    const where = step.side
      ? ` [${step.side} side, ${step.side === 'source' ? 'target' : 'source'} ${step.target}]`
      : '';
    out.push(`  ${String(step.wave).padStart(3)}. ${step.instance} ${step.operation}${where}`);
  }
  return `${out.join('\n')}\n`;
}
