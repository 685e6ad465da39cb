/** How a deployment update's plan is shown: `+ - ~ -/+` lines for a person, or a JSON document. */
import { type UpdatePlanDocument, updatePlanDocument, type ValueChange } from '@weft/engine';
import { SCHEMA_VERSION } from '../output.js';
import { colorEnabled, type Style, styled } from '../progress/style.js';

/** What the JSON document of an update plan holds: the engine's, with the CLI's schema version. */
export type UpdatePlanJson = UpdatePlanDocument & { schemaVersion: number };

/** The plan as the JSON document `weft plan -d DEP --json` and `weft update --json` print. */
export function updatePlanJson(...args: Parameters<typeof updatePlanDocument>): UpdatePlanJson {
  return { schemaVersion: SCHEMA_VERSION, ...updatePlanDocument(...args) };
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

/** Heat's preview of a stack update (`stack update --dry-run`): each resource in one category. */
export interface HeatPreview {
  added: string[];
  deleted: string[];
  updated: string[];
  replaced: string[];
  unchanged: string[];
}

/**
 * The update plan in Heat's categories; `nodes` are every node before or after the update, and
 * `stackResources` those that are one of Heat's stack resources before and after it: Heat always
 * updates a nested stack that stays one (even with no change in it), so its preview shows them
 * updated, and the resources in them as they are.
 */
export function heatPreview(plan: UpdatePlanJson, nodes: string[], stackResources: Set<string>): HeatPreview {
  const preview: HeatPreview = { added: [], deleted: [], updated: [], replaced: [], unchanged: [] };
  const actions = new Map<string, string>(plan.nodes.map((n) => [n.node, n.action]));
  // A node whose own definition stays may still be updated: it reads one that changes.
  for (const instance of plan.instances)
    if ((actions.get(instance.node) ?? 'none') === 'none') actions.set(instance.node, instance.action);
  for (const node of [...nodes].sort()) {
    const planned = actions.get(node) ?? 'none';
    const action = planned === 'none' && stackResources.has(node) ? 'update' : planned;
    const category: keyof HeatPreview =
      action === 'add'
        ? 'added'
        : action === 'remove'
          ? 'deleted'
          : action === 'replace' || action === 'reinstall'
            ? 'replaced'
            : action === 'update' || action === 'relink'
              ? 'updated'
              : 'unchanged';
    preview[category].push(node);
  }
  return preview;
}

export function heatPreviewText(deploymentId: string, preview: HeatPreview): string {
  const lines = [`Stack ${deploymentId} (dry run, nothing changed):`];
  for (const [category, names] of Object.entries(preview))
    lines.push(`  ${`${category}:`.padEnd(11)}${names.length ? names.join(', ') : '-'}`);
  return `${lines.join('\n')}\n`;
}
