export {
  type ErrorCause,
  errorCause,
  NonRecoverableError,
  type OperationErrorOptions,
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
