export { type ErrorKind, WeftError, type WorkflowContext } from '@weft/sdk';
export { markForAdoption } from './deployment/adopt.js';
export {
  type DeploymentChanges,
  deploymentChanges,
  describeChanges,
  diffInputs,
} from './deployment/changes.js';
export {
  blueprintId,
  createDeployment,
  DEPLOYMENT_UPDATE_WORKFLOWS,
  finishExecution,
  isDeploymentUpdate,
  listedWorkflows,
  type PreparedDeployment,
  prepareDeployment,
  runnableWorkflows,
  type StartedExecution,
  startExecution,
  startExecutionWithTasks,
  type WorkflowParameter,
  workflowParameters,
} from './deployment/deployments.js';
export { type CheckOutcome, type DriftReport, driftReport, type InstanceCheck } from './deployment/drift.js';
export {
  type CancelAsk,
  type ExecutionWatch,
  preemptStack,
  requestCancel,
  type StackPreemptor,
  stackPreemption,
} from './deployment/execution-cancel.js';
export { type DeploymentVersionView, deploymentHistory } from './deployment/history.js';
export {
  type NextVersionOptions,
  nextInputs,
  prepareUpdateVersion,
  updateInputChanges,
} from './deployment/next-version.js';
export { evaluateOutputs } from './deployment/outputs.js';
export type { OperationFunctionOf } from './deployment/replacements.js';
export { openDeployment, sealDeployment } from './deployment/sealed-deployment.js';
export { CancelWithoutRollbackError, cancelWithoutRollback } from './deployment/stack-cancel.js';
export {
  abandonData,
  DELETE_SNAPSHOT_WORKFLOW,
  flattenedResources,
  RESOURCE_DELETE_SNAPSHOT,
  SNAPSHOT_WORKFLOW,
  type SnapshotView,
  snapshotResources,
  snapshotStatus,
  snapshotView,
} from './deployment/stack-data.js';
export {
  RESOURCE_SNAPSHOT,
  type StackSnapshotAction,
  startStackSnapshotExecution,
} from './deployment/stack-snapshots.js';
export { type DeploymentStatus, deploymentStatus, isLive } from './deployment/status.js';
export {
  checkUpdateParameterNames,
  deploymentFingerprint,
  finishDeploymentUpdate,
  type NextVersion,
  nextVersion,
  type PlanDeploymentUpdateOptions,
  planDeploymentUpdate,
  refuseSuspendedStack,
  refuseSuspendedUpdate,
  rollbackTarget,
  type SavedUpdatePlan,
  type StackRestore,
  SuspendedStackError,
  savedUpdateVersion,
  saveUpdatePlan,
  startDeploymentUpdate,
  updateWorkflowParameters,
} from './deployment/update.js';
export { CONTAINED_IN } from './dsl/blueprint.js';
export type {
  Dispatcher,
  OperationCall,
  Outcome,
  WorkflowCall,
  WorkflowFunction,
} from './executor/dispatcher.js';
export {
  DEFAULT_TASK_RETRIES,
  DEFAULT_TASK_RETRY_INTERVAL,
  ExecutionStateError,
  Executor,
  type ExecutorOptions,
  type InterruptedError,
  type RunOptions,
} from './executor/executor.js';
export { MASK, Masker } from './executor/masker.js';
export { loadSecretKey } from './io/secret-key.js';
export * from './language.js';
export {
  type Change,
  diffModels,
  isEmptyDiff,
  type ModelDiff,
  type NodeDiff,
  type RelationshipRef,
  type ValueChange,
} from './model/model-diff.js';
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
  type BuiltContext,
  type OperationContextSource,
  operationContext,
} from './runtime/operation-context.js';
export { ResourceError, Resources } from './runtime/resources.js';
export { WorkerDispatcher, type WorkerOptions } from './runtime/worker-dispatcher.js';
export { SecretKeyError } from './secrets/crypto.js';
export { parseSecret, Secrets } from './secrets/secrets.js';
export * from './store/index.js';
export { type UpdatePlanDocument, updatePlanDocument } from './update-plan-report.js';
export { BUILTIN_WORKFLOWS, WorkflowError } from './workflows/builtin.js';
export {
  installGraph,
  operationWaves,
  type Task,
  type TaskGraph,
  uninstallGraph,
  waves,
} from './workflows/lifecycle.js';
export { isSpareMember } from './workflows/rolling.js';
export {
  finalModel,
  type InstanceAction,
  planUpdate,
  type Replacement,
  UPDATE_PARAMETER_DEFAULTS,
  type UpdateParameters,
  type UpdatePlan,
  updateParameters,
} from './workflows/update.js';
