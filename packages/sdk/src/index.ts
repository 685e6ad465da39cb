export {
  type InstanceContext,
  type Logger,
  type NodeContext,
  type OperationContext,
  type OperationFunction,
  type OperationOptions,
  operation,
} from './context.js';
export {
  type ErrorCause,
  errorCause,
  NonRecoverableError,
  type OperationErrorOptions,
  OperationRetry,
  RecoverableError,
} from './errors.js';
export type {
  Json,
  Step,
  WorkflowContext,
  WorkflowFunction,
  WorkflowInstance,
  WorkflowNode,
} from './workflow.js';
