export {
  type MockContextOptions,
  type MockEndOptions,
  type MockLog,
  type MockOperationContext,
  type MockRecord,
  type MockUpdate,
  mockContext,
} from './mock-context.js';
export { processRunning } from './processes.js';
export {
  findPluginYaml,
  type InputsContext,
  type ResourceToCopy,
  type WorkflowTestEnv,
  WorkflowTestError,
  type WorkflowTestInputs,
  type WorkflowTestOptions,
  workflowTest,
} from './workflow-test.js';
