import { jsonEqual } from '../model/json-equal.js';
import { diffValues, type ValueChange } from '../model/model-diff.js';
import { asStored } from '../store/common.js';
import type { BlueprintRecord, DeploymentRecord, Json } from '../store/types.js';
import type { PreparedDeployment } from './deployments.js';

interface Sets {
  added: string[];
  removed: string[];
  changed: string[];
}

/** How a blueprint and inputs differ from what a deployment was created from. */
export interface DeploymentChanges {
  /** The blueprint's files, by path relative to its directory. */
  files: Sets;
  nodes: Sets;
  /** Other parts of the planned model that differ: outputs, capabilities, workflows, groups... */
  other: string[];
  /** Inputs whose values differ (given, dropped or changed); names only, as values may be secret. */
  inputs: string[];
}

function compare<T>(
  before: Record<string, T>,
  after: Record<string, T>,
  same: (a: T, b: T) => boolean,
): Sets {
  const sets: Sets = { added: [], removed: [], changed: [] };
  for (const key of Object.keys(after).sort()) {
    if (!Object.hasOwn(before, key)) sets.added.push(key);
    else if (!same(before[key]!, after[key]!)) sets.changed.push(key);
  }
  for (const key of Object.keys(before).sort()) if (!Object.hasOwn(after, key)) sets.removed.push(key);
  return sets;
}

const empty = (sets: Sets) => sets.added.length + sets.removed.length + sets.changed.length === 0;

/**
 * What differs between a deployment (and the blueprint it was created from) and a blueprint
 * prepared anew with its inputs; undefined when nothing does. Where the blueprint was read from
 * does not count, only what it holds.
 */
export function deploymentChanges(
  deployment: DeploymentRecord,
  blueprint: BlueprintRecord | undefined,
  next: PreparedDeployment,
): DeploymentChanges | undefined {
  // The stored inputs went through JSON; the given ones must too to be compared.
  const inputs = compare(deployment.inputs, asStored(next.deployment.inputs), jsonEqual);
  const before = deployment.model as Record<string, unknown>;
  const after = next.deployment.model as Record<string, unknown>;
  const other = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => key !== 'blueprint' && key !== 'nodes' && !jsonEqual(before[key], after[key]))
    .sort();
  const nodes = compare(
    (before.nodes ?? {}) as Record<string, unknown>,
    (after.nodes ?? {}) as Record<string, unknown>,
    jsonEqual,
  );
  // The same blueprint's files may still plan another model: a HOT environment's templates (-e)
  // are not among them.
  if (deployment.blueprintId === next.blueprint.id && empty(inputs) && empty(nodes) && other.length === 0)
    return undefined;
  return {
    files: compare(blueprint?.files ?? {}, next.blueprint.files, (a, b) => Buffer.compare(a, b) === 0),
    nodes,
    other,
    inputs: [...inputs.added, ...inputs.removed, ...inputs.changed].sort(),
  };
}

/** The changes as lines for a person: `files changed: blueprint.yaml`, `nodes added: cache`... */
export function describeChanges(changes: DeploymentChanges): string[] {
  const lines: string[] = [];
  for (const [what, sets] of [
    ['files', changes.files],
    ['nodes', changes.nodes],
  ] as const) {
    const parts = (['added', 'removed', 'changed'] as const)
      .filter((kind) => sets[kind].length > 0)
      .map((kind) => `${kind} ${sets[kind].join(', ')}`);
    if (parts.length > 0) lines.push(`${what}: ${parts.join('; ')}`);
  }
  if (changes.other.length > 0) lines.push(`also changed: ${changes.other.join(', ')}`);
  if (changes.inputs.length > 0) lines.push(`inputs changed: ${changes.inputs.join(', ')}`);
  return lines;
}

/** How a deployment's inputs and new ones differ, as the store will hold them. */
export function diffInputs(before: Record<string, Json>, after: Record<string, unknown>): ValueChange[] {
  return diffValues(before, asStored(after) as Record<string, Json>);
}
