import { parseBlueprint } from './dsl/blueprint.js';
import type { Blueprint } from './dsl/blueprint-types.js';
import type { Diagnostics } from './dsl/diagnostics.js';
import type { BlueprintReader } from './dsl/reader.js';
import type { ValueMap } from './dsl/yaml-source.js';
import { type DeploymentPlan, planDeployment } from './model/plan.js';

export interface LoadOptions {
  reader: BlueprintReader;
  deploymentId: string;
  inputs?: ValueMap;
  /** Only validate the blueprint (no plan is returned); inputs are bound only when some were given. */
  validateOnly?: boolean;
  /** The most node instances the deployment may have (the planner's default otherwise). */
  maxInstances?: number;
}

export interface LoadResult {
  plan?: DeploymentPlan;
  /**
   * The parsed blueprint, even when it has problems (so later checks can add theirs to the same
   * report); use it only when `problems.ok`.
   */
  blueprint?: Blueprint;
  problems: Diagnostics;
}

/**
 * Parses, validates and plans a blueprint. Only validating without inputs still plans, with the
 * required inputs unbound, so it reports every problem planning would except missing inputs.
 */
export function loadBlueprint(path: string, options: LoadOptions): LoadResult {
  const parsed = parseBlueprint(path, options.reader);
  if (!parsed.blueprint) return { problems: parsed.problems };
  if (!parsed.problems.ok) return { problems: parsed.problems, blueprint: parsed.blueprint };
  const checkOnly = options.validateOnly === true && options.inputs === undefined;
  const planned = planDeployment(parsed.blueprint, {
    deploymentId: options.deploymentId,
    inputs: options.inputs ?? {},
    leaveUnbound: checkOnly,
    ...(options.maxInstances !== undefined ? { maxInstances: options.maxInstances } : {}),
  });
  planned.problems.warnings.unshift(...parsed.problems.warnings);
  if (parsed.locate) planned.problems.placeUnplaced(parsed.locate);
  const result: LoadResult = { problems: planned.problems, blueprint: parsed.blueprint };
  if (planned.plan && !checkOnly) result.plan = planned.plan;
  return result;
}
