/**
 * `@weft/engine/language`: the blueprint language without the runtime (parsing, validation,
 * planning, plugin discovery and the check of plugin functions). It loads no store, executor or
 * plugin host, so that a command which only reads blueprints starts fast; the main entry point
 * re-exports all of it.
 */
export { type ParseResult, parseBlueprint } from './dsl/blueprint.js';
export type * from './dsl/blueprint-types.js';
export { BlueprintError, Diagnostics, formatProblem, type Problem } from './dsl/diagnostics.js';
export type { BlueprintReader } from './dsl/reader.js';
export { DSL_VERSIONS, type DslVersion } from './dsl/versions.js';
export type { Value, ValueMap } from './dsl/yaml-source.js';
export { isMapping, limits, locOf, parseScalarText, parseYaml } from './dsl/yaml-source.js';
export { type EnvironmentFiles, environmentFiles, ownEnvironmentFile } from './hot/environment-files.js';
export { registerCustomConstraint } from './hot/parameters.js';
export {
  heatResourceState,
  heatResourceStates,
  heatStackState,
  heatStackStatusReason,
  isAdoptedStack,
} from './hot/states.js';
export { isStackResourceType } from './hot/types.js';
export { type TemplateVersion, templateVersions } from './hot/versions.js';
export { fileSystemReader } from './io/fs-reader.js';
export { isHotTemplate, type LoadOptions, type LoadResult, loadBlueprint } from './load-blueprint.js';
export {
  blueprintName,
  type DeploymentModel,
  deploymentModel,
  heatTypeOf,
  hiddenValues,
  modelOf,
  type NodeModel,
  type OperationModel,
  type RelationshipModel,
  type WorkflowModel,
  workflowModels,
} from './model/deployment-model.js';
export { bindInputs } from './model/inputs.js';
export { seededRandom } from './model/instance-ids.js';
export {
  type DeploymentPlan,
  type NodeInstance,
  type PlannedNode,
  type PlanResult,
  planDeployment,
  type RelationshipInstance,
} from './model/plan.js';
export { installSteps, type PlanJson, type PlanStepJson, planToJson } from './plan-report.js';
export { checkPluginFunctions, type MissingPlugins } from './runtime/check-functions.js';
export {
  compareVersions,
  type DiscoveredPlugin,
  discoverPlugins,
  PLUGIN_CODE_PROBLEMS,
  PLUGIN_JSON,
  PLUGIN_YAML,
  PluginError,
  PluginSet,
  pluginDirOf,
  readPlugin,
  runsInstalled,
  validatePlugin,
  validatePluginCode,
  versionMatches,
  type WorkerSettings,
} from './runtime/plugins.js';
