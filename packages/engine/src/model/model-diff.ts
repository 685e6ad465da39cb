// What differs between two deployment models: the base of a deployment update's plan and of the
// diff `weft plan -d` prints. Pure: two models in, a description of their differences out.

import type { Value } from '../dsl/yaml-source.js';
import type { DeploymentModel, NodeModel, RelationshipModel } from './deployment-model.js';
import { jsonEqual } from './json-equal.js';

export type Change = 'added' | 'removed' | 'modified';

/** A value that differs: absent before (added), absent after (removed), or both (modified). */
export interface ValueChange {
  name: string;
  change: Change;
  before?: Value;
  after?: Value;
}

/** A relationship of a node template, as the diff names it. */
export interface RelationshipRef {
  type: string;
  target: string;
  /** Its position among the node's relationships (in the old model when removed, else the new). */
  index: number;
}

export interface NodeDiff {
  node: string;
  change: Change;
  /** Set when the type differs (the node is then replaced, never updated in place). */
  type?: { before: string; after: string };
  properties: ValueChange[];
  /** Operations by full name whose implementation, inputs or settings differ. */
  operations: ValueChange[];
  relationships: {
    added: RelationshipRef[];
    removed: RelationshipRef[];
    /** Same type and target, other properties or operations. */
    modified: RelationshipRef[];
  };
  /** The number of instances per host instance, when it differs. */
  instances?: { before: number; after: number };
  /** Set when its host (the node it is contained in) differs: the node is replaced. */
  host?: { before: string | null; after: string | null };
}

export interface ModelDiff {
  nodes: NodeDiff[];
  outputs: ValueChange[];
  capabilities: ValueChange[];
  workflows: ValueChange[];
  groups: ValueChange[];
}

/** Values by name that were added, removed or changed. */
export function diffValues<T>(before: Record<string, T>, after: Record<string, T>): ValueChange[] {
  const changes: ValueChange[] = [];
  for (const name of Object.keys(after).sort()) {
    if (!Object.hasOwn(before, name)) changes.push({ name, change: 'added', after: after[name] as Value });
    else if (!jsonEqual(before[name], after[name]))
      changes.push({ name, change: 'modified', before: before[name] as Value, after: after[name] as Value });
  }
  for (const name of Object.keys(before).sort())
    if (!Object.hasOwn(after, name)) changes.push({ name, change: 'removed', before: before[name] as Value });
  return changes;
}

/**
 * Relationships are matched by type and target, in order among those with the same pair (as a
 * node may hold two relationships of one type to one target).
 */
export function matchRelationships(
  before: RelationshipModel[],
  after: RelationshipModel[],
): { pairs: [number, number][]; added: number[]; removed: number[] } {
  const key = (r: RelationshipModel) => `${r.type}\u0000${r.target}`;
  const waiting = new Map<string, number[]>();
  before.forEach((r, index) => {
    const list = waiting.get(key(r));
    if (list) list.push(index);
    else waiting.set(key(r), [index]);
  });
  const pairs: [number, number][] = [];
  const added: number[] = [];
  after.forEach((r, index) => {
    const old = waiting.get(key(r))?.shift();
    if (old === undefined) added.push(index);
    else pairs.push([old, index]);
  });
  const removed = [...waiting.values()].flat().sort((a, b) => a - b);
  return { pairs, added, removed };
}

const ref = (r: RelationshipModel, index: number): RelationshipRef => ({
  type: r.type,
  target: r.target,
  index,
});

function nodeDiff(before: NodeModel, after: NodeModel): NodeDiff | undefined {
  // Most nodes do not change: one walk over both tells, without building their JSON.
  if (jsonEqual(before, after)) return undefined;
  const { pairs, added, removed } = matchRelationships(before.relationships, after.relationships);
  const diff: NodeDiff = {
    node: after.name,
    change: 'modified',
    properties: diffValues(before.properties, after.properties),
    operations: diffValues(
      before.operations as unknown as Record<string, Value>,
      after.operations as unknown as Record<string, Value>,
    ),
    relationships: {
      added: added.map((i) => ref(after.relationships[i]!, i)),
      removed: removed.map((i) => ref(before.relationships[i]!, i)),
      modified: pairs
        .filter(([o, n]) => !jsonEqual(before.relationships[o], after.relationships[n]))
        .map(([, n]) => ref(after.relationships[n]!, n)),
    },
  };
  if (before.type !== after.type) diff.type = { before: before.type, after: after.type };
  if ((before.host ?? null) !== (after.host ?? null))
    diff.host = { before: before.host ?? null, after: after.host ?? null };
  if (before.counts.default !== after.counts.default)
    diff.instances = { before: before.counts.default, after: after.counts.default };
  const r = diff.relationships;
  const changed =
    diff.type ||
    diff.host ||
    diff.instances ||
    diff.properties.length + diff.operations.length + r.added.length + r.removed.length + r.modified.length >
      0 ||
    !jsonEqual(before.typeHierarchy, after.typeHierarchy) ||
    !jsonEqual(before.declaredOperations, after.declaredOperations) ||
    before.counts.min !== after.counts.min ||
    before.counts.max !== after.counts.max;
  return changed ? diff : undefined;
}

const emptyNode = (node: string, change: Change): NodeDiff => ({
  node,
  change,
  properties: [],
  operations: [],
  relationships: { added: [], removed: [], modified: [] },
});

/** What differs between two models; every list is empty when nothing does. */
export function diffModels(before: DeploymentModel, after: DeploymentModel): ModelDiff {
  const nodes: NodeDiff[] = [];
  for (const name of Object.keys(after.nodes).sort()) {
    const old = before.nodes[name];
    if (!old) nodes.push(emptyNode(name, 'added'));
    else {
      const diff = nodeDiff(old, after.nodes[name]!);
      if (diff) nodes.push(diff);
    }
  }
  for (const name of Object.keys(before.nodes).sort())
    if (!Object.hasOwn(after.nodes, name)) nodes.push(emptyNode(name, 'removed'));
  return {
    nodes,
    outputs: diffValues(before.outputs, after.outputs),
    capabilities: diffValues(before.capabilities, after.capabilities),
    workflows: diffValues(
      before.workflows as unknown as Record<string, Value>,
      after.workflows as unknown as Record<string, Value>,
    ),
    groups: diffValues(
      before.groups as unknown as Record<string, Value>,
      after.groups as unknown as Record<string, Value>,
    ),
  };
}

export function isEmptyDiff(diff: ModelDiff): boolean {
  return (
    diff.nodes.length +
      diff.outputs.length +
      diff.capabilities.length +
      diff.workflows.length +
      diff.groups.length ===
    0
  );
}
