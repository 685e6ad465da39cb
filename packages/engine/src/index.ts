export type { WorkflowContext } from '@weft/sdk';
export { createDeployment, finishExecution, startExecution } from './deployment/deployments.js';
export { evaluateOutputs } from './deployment/outputs.js';
export { type ParseResult, parseBlueprint } from './dsl/blueprint.js';
export type * from './dsl/blueprint-types.js';
export { BlueprintError, Diagnostics, formatProblem, type Problem } from './dsl/diagnostics.js';
export type { BlueprintReader } from './dsl/reader.js';
export { DSL_VERSIONS, type DslVersion } from './dsl/versions.js';
export type { Value, ValueMap } from './dsl/yaml-source.js';
export { isMapping, parseScalarText, parseYaml } from './dsl/yaml-source.js';
export type { Dispatcher, OperationCall, Outcome, WorkflowFunction } from './executor/dispatcher.js';
export {
  DEFAULT_TASK_RETRIES,
  DEFAULT_TASK_RETRY_INTERVAL,
  ExecutionStateError,
  Executor,
  type ExecutorOptions,
} from './executor/executor.js';
export { Masker } from './executor/masker.js';
export { fileSystemReader } from './io/fs-reader.js';
export { loadSecretKey } from './io/secret-key.js';
export { type LoadOptions, type LoadResult, loadBlueprint } from './load-blueprint.js';
export {
  blueprintName,
  type DeploymentModel,
  deploymentModel,
  type NodeModel,
  type OperationModel,
  type RelationshipModel,
  type WorkflowModel,
} from './model/deployment-model.js';
export { bindInputs } from './model/inputs.js';
export {
  type DeploymentPlan,
  type NodeInstance,
  type PlannedNode,
  type PlanResult,
  planDeployment,
  type RelationshipInstance,
} from './model/plan.js';
export { installSteps, type PlanJson, type PlanStepJson, planToJson } from './plan-report.js';
export { checkPluginFunctions } from './runtime/check-functions.js';
export {
  type InProcessContext,
  InProcessDispatcher,
  type InProcessOperation,
} from './runtime/in-process.js';
export {
  ModuleDispatcher,
  type ModuleDispatcherOptions,
  PluginLoadError,
} from './runtime/module-dispatcher.js';
export {
  compareVersions,
  type DiscoveredPlugin,
  discoverPlugins,
  PLUGIN_JSON,
  PLUGIN_YAML,
  PluginError,
  PluginSet,
  pluginDirOf,
  readPlugin,
  validatePlugin,
  validatePluginCode,
  versionMatches,
  type WorkerSettings,
} from './runtime/plugins.js';
export { ResourceError, Resources } from './runtime/resources.js';
export { WorkerDispatcher, type WorkerOptions } from './runtime/worker-dispatcher.js';
export { SecretKeyError } from './secrets/crypto.js';
export { parseSecret, Secrets } from './secrets/secrets.js';
export * from './store/index.js';
export { BUILTIN_WORKFLOWS, WorkflowError } from './workflows/builtin.js';
export { installGraph, type Task, type TaskGraph, uninstallGraph, waves } from './workflows/lifecycle.js';
