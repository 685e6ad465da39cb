/**
 * A deployment's next version made from a blueprint and the inputs given, as the CLI's `weft
 * update` and the server's update both make it: which inputs the blueprint is planned with (kept,
 * merged or given, and for a HOT template the ones given only, as Heat's stack update), and the
 * HOT template's immutable parameters refused when they change.
 */
import type { Value, ValueMap } from '../dsl/yaml-source.js';
import { MASK, type Masker } from '../executor/masker.js';
import type { LoadResult } from '../load-blueprint.js';
import { hiddenValues } from '../model/deployment-model.js';
import type { ValueChange } from '../model/model-diff.js';
import type { DeploymentRecord } from '../store/types.js';
import { diffInputs } from './changes.js';
import { type CreateDeploymentOptions, type PreparedDeployment, prepareDeployment } from './deployments.js';

export interface NextVersionOptions
  extends Omit<CreateDeploymentOptions, 'store' | 'inputs' | 'deploymentId' | 'sealer'> {
  /** The deployment as stored, its sealed values opened. */
  existing: DeploymentRecord;
  /** The blueprint as validated (loadBlueprint): the inputs it declares, whether it is a HOT template. */
  checked: LoadResult;
  /** The inputs (a HOT template's parameters) given for the update, if any. */
  given: ValueMap | undefined;
  /** Whether inputs given are merged over the kept ones (an update) or replace them (a comparison). */
  mergeInputs: boolean;
}

/**
 * The inputs the next version is planned with. Inputs not given keep the deployment's values where
 * the blueprint still declares them (given ones are merged over them, as Cloudify's update does).
 * A HOT stack is updated to the parameters and environments given, as Heat's stack update (without
 * --existing) does: the others take their defaults again.
 */
export function nextInputs(
  existing: DeploymentRecord,
  checked: LoadResult,
  given: ValueMap | undefined,
  mergeInputs: boolean,
): ValueMap {
  if (checked.hot) return given ?? {};
  const declared = checked.blueprint?.inputs ?? new Map();
  const kept = Object.fromEntries(
    Object.entries(existing.inputs).filter(([name]) => declared.has(name)),
  ) as ValueMap;
  if (given === undefined) return kept;
  return mergeInputs ? { ...kept, ...given } : given;
}

/**
 * Plans the next version (prepareDeployment with the inputs above); undefined `prepared`, with the
 * problems, when the blueprint or the inputs are bad or an immutable parameter would change.
 */
export function prepareUpdateVersion(options: NextVersionOptions): ReturnType<typeof prepareDeployment> & {
  prepared?: PreparedDeployment & { hidden?: string[] };
} {
  const { existing, checked, given, mergeInputs, ...rest } = options;
  const { problems, prepared } = prepareDeployment({
    ...rest,
    deploymentId: existing.id,
    inputs: nextInputs(existing, checked, given, mergeInputs),
  });
  if (!prepared) return { problems };
  const immutable = (checked.hot?.immutable ?? []).filter(
    (name) =>
      Object.hasOwn(existing.inputs, name) &&
      JSON.stringify(existing.inputs[name]) !== JSON.stringify(prepared.deployment.inputs[name]),
  );
  if (immutable.length > 0) {
    problems.add(
      'immutable-parameter',
      undefined,
      'parameters',
      `The following parameters are immutable and may not be updated: ${immutable.join(', ')}`,
    );
    return { problems };
  }
  return { problems, prepared: checked.hot ? { ...prepared, hidden: checked.hot.hidden } : prepared };
}

/**
 * The inputs an update changes, as its plan shows them, and the masker for the plan: a HOT
 * template's hidden parameters' values masked wherever they appear, before and after, as secrets
 * are, and their changes shown masked.
 */
export function updateInputChanges(
  existing: DeploymentRecord,
  next: { deployment: DeploymentRecord; hidden?: string[] },
  masker: Masker,
): { inputs: ValueChange[]; masker: Masker } {
  const hidden = next.hidden ?? [];
  const values: Value[] = [...hiddenValues(existing), ...hiddenValues(next.deployment)];
  for (const name of hidden)
    for (const value of [existing.inputs[name], next.deployment.inputs[name]])
      if (value !== undefined && value !== null && value !== '')
        values.push(typeof value === 'object' ? JSON.stringify(value) : String(value));
  const inputs = diffInputs(existing.inputs, next.deployment.inputs).map((change) =>
    hidden.includes(change.name)
      ? {
          name: change.name,
          change: change.change,
          ...(change.before !== undefined ? { before: MASK } : {}),
          ...(change.after !== undefined ? { after: MASK } : {}),
        }
      : change,
  );
  return { inputs, masker: masker.with(values) };
}
