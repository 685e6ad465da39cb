export { API_PREFIX, buildApp, type RouteEntry } from './app.js';
export { DEFAULT_TENANT, TENANT_HEADER } from './auth/guard.js';
export type { ServerContext } from './context.js';
export {
  AlreadyInitialisedError,
  createServer,
  initAdmin,
  openAccessStore,
  type RunningServer,
  type ServerOptions,
  startServer,
} from './server.js';
export { type AgentOptions, type RunningAgent, startAgent } from './workers/agent.js';
export type { QueueOptions } from './workers/queue-dispatcher.js';
export { type RunningWorker, startWorker, type WorkerOptions } from './workers/worker.js';
