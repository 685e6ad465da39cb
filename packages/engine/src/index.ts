export { type ParseResult, parseBlueprint } from './dsl/blueprint.js';
export type * from './dsl/blueprint-types.js';
export { BlueprintError, Diagnostics, formatProblem, type Problem } from './dsl/diagnostics.js';
export type { BlueprintReader } from './dsl/reader.js';
export { DSL_VERSIONS, type DslVersion } from './dsl/versions.js';
export type { Value, ValueMap } from './dsl/yaml-source.js';
export { isMapping, parseScalarText, parseYaml } from './dsl/yaml-source.js';
export { fileSystemReader } from './io/fs-reader.js';
export { bindInputs } from './model/inputs.js';
export {
  type DeploymentPlan,
  type NodeInstance,
  type PlannedNode,
  type PlanResult,
  planDeployment,
  type RelationshipInstance,
} from './model/plan.js';
export {
  installSteps,
  type LoadOptions,
  type LoadResult,
  loadBlueprint,
  type PlanJson,
  type PlanStepJson,
  planToJson,
} from './plan-report.js';
export { installGraph, type Task, type TaskGraph, uninstallGraph, waves } from './workflows/lifecycle.js';
