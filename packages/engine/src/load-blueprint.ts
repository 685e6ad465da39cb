import { parseBlueprint } from './dsl/blueprint.js';
import type { Blueprint } from './dsl/blueprint-types.js';
import { Diagnostics } from './dsl/diagnostics.js';
import type { BlueprintReader } from './dsl/reader.js';
import type { ValueMap } from './dsl/yaml-source.js';
import { isHotText, loadHotTemplate } from './hot/template.js';
import { type DeploymentPlan, planDeployment } from './model/plan.js';

export interface LoadOptions {
  reader: BlueprintReader;
  deploymentId: string;
  inputs?: ValueMap;
  /** Only validate the blueprint (no plan is returned); inputs are bound only when some were given. */
  validateOnly?: boolean;
  /** The most node instances the deployment may have (the planner's default otherwise). */
  maxInstances?: number;
  /** A HOT template's environment files (`-e`), merged in this order. */
  environments?: string[];
}

export interface LoadResult {
  plan?: DeploymentPlan;
  /**
   * The parsed blueprint, even when it has problems (so later checks can add theirs to the same
   * report); use it only when `problems.ok`.
   */
  blueprint?: Blueprint;
  problems: Diagnostics;
  /** For a HOT template: the parameters declared hidden and immutable. */
  hot?: { hidden: string[]; immutable: string[] };
}

/** Whether a file is a HOT template (`heat_template_version`), which another front end reads. */
export function isHotTemplate(path: string, reader: BlueprintReader): boolean {
  try {
    return isHotText(new TextDecoder().decode(reader.read(path).subarray(0, 64 * 1024)));
  } catch {
    return false;
  }
}

/**
 * Parses, validates and plans a blueprint (or a HOT template, found by its version key). Only
 * validating without inputs still plans, with the required inputs unbound, so it reports every
 * problem planning would except missing inputs.
 */
export function loadBlueprint(path: string, options: LoadOptions): LoadResult {
  const checkOnly = options.validateOnly === true && options.inputs === undefined;
  const hot = isHotTemplate(path, options.reader) || (options.environments?.length ?? 0) > 0;
  let parsed: ReturnType<typeof parseBlueprint>;
  let inputs = options.inputs ?? {};
  let hotInfo: LoadResult['hot'];
  if (hot) {
    const diagnostics = new Diagnostics();
    const template = loadHotTemplate(
      path,
      {
        reader: options.reader,
        stackName: options.deploymentId,
        parameters: options.inputs ?? {},
        environments: options.environments ?? [],
        checkOnly,
      },
      diagnostics,
    );
    if (!template.document) return { problems: diagnostics };
    parsed = parseBlueprint(path, options.reader, template.document, diagnostics);
    // The inputs are the parameters' values, which the document declares as the defaults.
    inputs = {};
    hotInfo = { hidden: template.hidden, immutable: template.immutable };
    if (parsed.blueprint) {
      parsed.blueprint.files.push(...template.files);
      if (template.version) parsed.blueprint.heatTemplateVersion = template.version;
      if (template.hidden.length > 0) parsed.blueprint.hiddenInputs = template.hidden;
      if (template.environment) parsed.blueprint.heatEnvironment = template.environment;
      if (Object.keys(template.nestedTemplates).length > 0)
        parsed.blueprint.heatNestedTemplates = template.nestedTemplates;
      if (Object.keys(template.heatTypes).length > 0) parsed.blueprint.heatTypes = template.heatTypes;
      if (Object.keys(template.standInProperties).length > 0)
        parsed.blueprint.heatStandIns = template.standInProperties;
    }
  } else parsed = parseBlueprint(path, options.reader);
  if (!parsed.blueprint) return hotNames({ problems: parsed.problems }, hotInfo);
  if (!parsed.problems.ok)
    return hotNames({ problems: parsed.problems, blueprint: parsed.blueprint }, hotInfo);
  const planned = planDeployment(parsed.blueprint, {
    deploymentId: options.deploymentId,
    inputs,
    leaveUnbound: checkOnly,
    ...(options.maxInstances !== undefined ? { maxInstances: options.maxInstances } : {}),
  });
  planned.problems.warnings.unshift(...parsed.problems.warnings);
  if (parsed.locate) planned.problems.placeUnplaced(parsed.locate);
  const result: LoadResult = { problems: planned.problems, blueprint: parsed.blueprint };
  if (planned.plan && !checkOnly) result.plan = planned.plan;
  return hotNames(result, hotInfo);
}

/** For a HOT template: its parameters' flags, and problems named as the template names them. */
function hotNames(result: LoadResult, hot: LoadResult['hot']): LoadResult {
  if (!hot) return result;
  // A dependency cycle is reported as the template's, not again as the relationships it became.
  const problems = result.problems.problems;
  if (problems.some((p) => p.code === 'dependency-cycle'))
    problems.splice(0, problems.length, ...problems.filter((p) => p.code !== 'relationship-cycle'));
  for (const problem of [...result.problems.problems, ...result.problems.warnings])
    problem.path = problem.path.replace(/^node_templates\./, 'resources.');
  return { ...result, hot };
}
