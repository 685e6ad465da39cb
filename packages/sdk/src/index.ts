export {
  type ErrorCause,
  errorCause,
  NonRecoverableError,
  type OperationErrorOptions,
  RecoverableError,
} from './errors.js';
