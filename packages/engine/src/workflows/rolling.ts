// The batches of a HOT ResourceGroup's rolling update and batched create, worked out as Heat's
// ResourceGroup does (heat/engine/resources/openstack/heat/resource_group.py _get_batches,
// _assemble_for_rolling_update; heat/scaling/rolling_update.py; heat/scaling/template.py
// member_definitions), and the task graph gated batch after batch. Pure.

import type { NodeModel } from '../model/deployment-model.js';
import type { NodeInstanceRecord } from '../model/instance-record.js';
import type { Task, TaskGraph } from './lifecycle.js';

/** The operation of a HOT ResourceGroup's node that pauses between batches. */
export const ROLLING_PAUSE = 'weft.interfaces.rolling_update.pause';

/**
 * Heat's _get_batches: for each batch, the group's capacity while it runs (its target size plus
 * the temporary members min_in_service asks for) and how many members get the new definition.
 */
export function heatBatches(
  target: number,
  current: number,
  batchSize: number,
  minInService: number,
): [capacity: number, size: number][] {
  const batches: [number, number][] = [];
  let updated = 0;
  // rolling_update.needs_update
  while (!(updated >= current && current === target)) {
    // rolling_update.next_batch
    const min = Math.min(minInService, target, current);
    const size = Math.min(batchSize, Math.max(target - updated, 0));
    const capacity = size + Math.max(Math.min(current, target - size), min);
    batches.push([capacity, size]);
    updated += size - Math.max(capacity - Math.max(current, target), 0);
    current = capacity;
  }
  return batches;
}

/** What one batch does to the group's members, by name. */
export interface RollingBatch {
  /** Members made in this batch (added by a count increase, or temporary ones), new definition. */
  create: string[];
  /** Existing members given the new definition (updated in place or replaced). */
  update: string[];
  /** Members that leave the group in this batch (beyond its capacity now). */
  remove: string[];
}

export interface GroupState {
  /** The members there are (not removed by a removal policy), by name. */
  members: string[];
  /** Those of them whose definition is not the new one yet. */
  outdated: Set<string>;
  /** The member names a removal policy took out, never given again. */
  skipped: Set<string>;
  /** The group's count. */
  target: number;
}

/** The first `size` member names ("0", "1", ...) no removal policy took, as Heat names them. */
function memberNames(size: number, skipped: Set<string>): string[] {
  const names: string[] = [];
  for (let n = 0; names.length < size; n++) if (!skipped.has(String(n))) names.push(String(n));
  return names;
}

/**
 * The batches of a rolling update (or of a batched create, from no members and no
 * min_in_service), member by member, as Heat assembles each batch's nested template: members
 * beyond the batch's capacity go, the highest indices below the group's count are given the new
 * definition first (temporary members above it last), and new members (count increase or
 * temporary) are made first, counting against the batch's size.
 */
export function rollingBatches(group: GroupState, batchSize: number, minInService: number): RollingBatch[] {
  const out: RollingBatch[] = [];
  let members = [...group.members].sort((a, b) => Number(a) - Number(b));
  const outdated = new Set(group.outdated);
  for (const [capacity, size] of heatBatches(group.target, members.length, batchSize, minInService)) {
    const names = memberNames(capacity, group.skipped);
    const position = new Map(names.map((n, i) => [n, i]));
    // replace_priority: members not kept first (they go), then from the highest index down,
    // members above the count last (never updated). A stable sort, as Python's.
    const priority = (name: string) => {
      const at = position.get(name);
      if (at === undefined) return 0;
      return at < group.target ? group.target - at : capacity;
    };
    const sorted = members
      .map((name, order) => ({ name, order, priority: priority(name) }))
      .sort((a, b) => a.priority - b.priority || a.order - b.order)
      .map((m) => m.name);
    const kept = capacity === 0 ? [] : sorted.slice(-capacity);
    const batch: RollingBatch = {
      create: [],
      update: [],
      remove: sorted.slice(0, sorted.length - kept.length),
    };
    // member_definitions: creations count against the batch's size first.
    let replace = size - (capacity - kept.length);
    for (const name of kept)
      if (outdated.has(name) && replace > 0) {
        replace--;
        outdated.delete(name);
        batch.update.push(name);
      }
    const existing = new Set(kept);
    for (const name of names) if (!existing.has(name)) batch.create.push(name);
    members = [...kept, ...batch.create].sort((a, b) => Number(a) - Number(b));
    out.push(batch);
  }
  return out;
}

/** A HOT ResourceGroup's spare member node (past its count: no instance but a temporary one). */
export function isSpareMember(node: NodeModel): boolean {
  return node.counts.default === 0;
}

/** The rolling update of one HOT ResourceGroup in an update. */
export interface RollingPlan {
  group: string;
  batches: RollingBatch[];
  /** The member names a removal policy took (their members go in the first batch). */
  skipped: Set<string>;
  /**
   * Members made for the update only (of the group's spare nodes), so that min_in_service stay
   * in service: made in the batches that create them, removed in those that leave them out.
   */
  temporary: string[];
}

/**
 * The rolling updates of an update's HOT ResourceGroups (those with an update_policy
 * rolling_update some of whose members are updated), over the instances there are (`instances`,
 * the update's added ones not among them) and the new model's nodes. Members the update removes
 * below the last one kept were taken by a removal policy (names are given in order, skipping only
 * those); those above it go because the count fell.
 */
export function planRolling(
  nodes: Record<string, NodeModel>,
  instances: NodeInstanceRecord[],
  removed: Set<string>,
  updated: (instanceId: string) => boolean,
): RollingPlan[] {
  const plans: RollingPlan[] = [];
  for (const [group, node] of Object.entries(nodes)) {
    const policy = node.properties.rolling_update as Record<string, number> | undefined;
    if (node.removed || !policy || typeof policy !== 'object') continue;
    const isMember = (name: string) => name === `${group}.${memberOf(group, name)}`;
    const target = Object.keys(nodes).filter(
      (n) => isMember(n) && !nodes[n]!.removed && !isSpareMember(nodes[n]!),
    );
    const last = Math.max(-1, ...target.map((n) => Number(memberOf(group, n))));
    const skipped = new Set<string>();
    const members: string[] = [];
    const outdated = new Set<string>();
    for (const i of instances) {
      const member = memberOf(group, i.node);
      if (member === undefined) continue;
      if (updated(i.id)) outdated.add(member);
      if (!isMember(i.node)) continue;
      if (removed.has(i.id) && Number(member) < last) skipped.add(member);
      else members.push(member);
    }
    if (outdated.size === 0) continue;
    const batches = rollingBatches(
      { members, outdated, skipped, target: target.length },
      policy.max_batch_size ?? 1,
      policy.min_in_service ?? 0,
    );
    const spare = (m: string) => {
      const member = nodes[`${group}.${m}`];
      return member !== undefined && isSpareMember(member) && !members.includes(m);
    };
    const temporary = [...new Set(batches.flatMap((b) => b.create).filter(spare))];
    plans.push({ group, batches, skipped, temporary });
  }
  return plans;
}

/**
 * Gates a graph's batches one after the other, as Heat's ResourceGroup._replace runs them: the
 * tasks of a batch that depend on no other task of their batch wait for every task of the batch
 * before, and with `pause`, a pause task (made by `pause` for the number of the batch it follows,
 * from 1) comes after every batch but the last. Batches without tasks count too: Heat runs each
 * batch's nested stack update whether or not it changes a member (a batch past the last outdated
 * member changes none), pausing len(batches) - 1 times in all.
 */
export function gateBatches(
  graph: TaskGraph,
  batches: Task[][],
  pause: ((after: number, gate: number[]) => Task) | undefined,
): void {
  let gate: number[] = [];
  batches.forEach((batch, index) => {
    const inBatch = new Set(batch.map((t) => t.id));
    for (const task of batch) if (!task.dependsOn.some((d) => inBatch.has(d))) task.dependsOn.push(...gate);
    if (batch.length > 0) gate = [...inBatch];
    if (pause && index < batches.length - 1) {
      const task = pause(index + 1, gate);
      graph.tasks.push(task);
      gate = [task.id];
    }
  });
}

/** The member ("0", "1", ...) of group `group` a node belongs to (itself or a nested resource). */
export function memberOf(group: string, node: string): string | undefined {
  return (/^(\d+)(\.|$)/.exec(node.startsWith(`${group}.`) ? node.slice(group.length + 1) : '') ?? [])[1];
}

/** The pause task between two batches, on the group's own instance. */
export function pauseTask(
  graph: TaskGraph,
  node: NodeModel,
  instanceId: string | undefined,
  seconds: number,
): ((after: number, gate: number[]) => Task) | undefined {
  const operation = node.operations[ROLLING_PAUSE];
  if (!instanceId || !operation || !(seconds > 0)) return undefined;
  return (batch, gate) => ({
    id: graph.tasks.length,
    kind: 'operation',
    instanceId,
    node: node.name,
    operation: ROLLING_PAUSE,
    operationDef: operation,
    dependsOn: gate,
    inputs: { seconds, batch },
  });
}

/**
 * A HOT ResourceGroup with an update_policy batch_create made by this graph has its members made
 * in batches of max_batch_size, in index order, pausing pause_time seconds between them, as
 * Heat's ResourceGroup.handle_create runs _replace(0, max_batch_size, pause_time) from no members.
 */
export function batchCreate(
  graph: TaskGraph,
  nodes: Record<string, NodeModel>,
  instances: { id: string; node: string }[],
): void {
  for (const [name, node] of Object.entries(nodes)) {
    const policy = node.properties.batch_create as Record<string, number> | undefined;
    if (node.removed || !policy || typeof policy !== 'object') continue;
    const parent = instances.find((i) => i.node === name);
    if (!parent || !graph.tasks.some((t) => t.instanceId === parent.id)) continue;
    const names = Object.keys(nodes)
      .filter((n) => n === `${name}.${memberOf(name, n)}` && !nodes[n]!.removed && !isSpareMember(nodes[n]!))
      .map((n) => memberOf(name, n)!);
    const last = Math.max(-1, ...names.map(Number));
    const skipped = new Set<string>();
    for (let n = 0; n < last; n++) if (!names.includes(String(n))) skipped.add(String(n));
    const tasks = new Map<string, Task[]>();
    for (const task of graph.tasks) {
      const member = memberOf(name, task.node);
      if (member !== undefined) tasks.set(member, [...(tasks.get(member) ?? []), task]);
    }
    const batches = rollingBatches(
      { members: [], outdated: new Set(), skipped, target: names.length },
      policy.max_batch_size ?? 1,
      0,
    ).map((batch) => batch.create.flatMap((m) => tasks.get(m) ?? []));
    gateBatches(graph, batches, pauseTask(graph, node, parent.id, policy.pause_time ?? 0));
  }
}
