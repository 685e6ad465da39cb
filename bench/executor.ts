import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDeployment,
  type DeploymentModel,
  Executor,
  fileSystemReader,
  InProcessDispatcher,
  type InProcessOperation,
  openPostgresStore,
  openSqliteStore,
  type Store,
  startExecution,
  WorkerDispatcher,
} from '@weft/engine';

const HEAD = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  b: {executor: central_deployment_agent, install: false, source: plugin.mjs}
node_types:
  bench.Node:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: b.op, configure: b.op, start: b.op, stop: b.op, delete: b.op}
`;

/** Half hosts, half applications contained in them: `instances` in all. */
function deploymentBlueprint(instances: number): string {
  return `${HEAD}node_templates:
  host:
    type: bench.Node
    capabilities: {scalable: {properties: {default_instances: ${instances / 2}}}}
  app:
    type: bench.Node
    relationships: [{type: cloudify.relationships.contained_in, target: host}]
`;
}

export interface StoreFactory {
  name: string;
  open(dir: string): Promise<{ store: Store; drop(): Promise<void> }>;
}

export const stores: StoreFactory[] = [
  {
    name: 'SQLite',
    open: async (dir) => ({ store: await openSqliteStore(join(dir, 'weft.db')), drop: async () => {} }),
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const schema = `weft_bench_${process.pid}_${Date.now()}`;
      const store = await openPostgresStore('postgres://postgres@127.0.0.1:5432/test', { schema });
      return {
        store,
        drop: async () => {
          const { default: pg } = await import('pg');
          const client = new pg.Client('postgres://postgres@127.0.0.1:5432/test');
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await client.end();
        },
      };
    },
  },
];

async function setup(
  factory: StoreFactory,
  blueprint: string,
  operations: Record<string, InProcessOperation> | 'workers',
  concurrency: number,
) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-exec-'));
  writeFileSync(join(dir, 'blueprint.yaml'), blueprint);
  // For the plugin host: the same no-op operations as a plugin module run in worker processes.
  writeFileSync(join(dir, 'plugin.mjs'), 'export function op() {}\nexport function work() {}\n');
  const { store, drop } = await factory.open(dir);
  await store.migrate();
  const created = await createDeployment({
    store,
    reader: fileSystemReader(),
    blueprintPath: join(dir, 'blueprint.yaml'),
    deploymentId: 'bench',
  });
  if (!created.deployment) throw new Error(JSON.stringify(created.problems.problems.slice(0, 3)));
  const workers =
    operations === 'workers'
      ? new WorkerDispatcher(created.deployment.model as unknown as DeploymentModel)
      : undefined;
  await workers?.load();
  const dispatcher = workers ?? new InProcessDispatcher(operations as Record<string, InProcessOperation>);
  const executor = new Executor({ store, dispatcher, concurrency });
  const run = async (workflow: string, parameters = {}) => {
    const execution = await startExecution({
      store,
      dispatcher,
      deploymentId: 'bench',
      workflow,
      parameters,
    });
    const tasks = (await store.listTasks(execution.id)).length;
    const started = performance.now();
    const result = await executor.run(execution.id);
    if (result.status !== 'terminated')
      throw new Error(`${workflow} ${result.status}: ${JSON.stringify(result.error)}`);
    return { ms: performance.now() - started, tasks };
  };
  const close = async () => {
    workers?.close();
    await store.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { run, close };
}

export interface InstallResult {
  store: string;
  instances: number;
  installMs: number;
  installTasks: number;
  uninstallMs: number;
  uninstallTasks: number;
  peakRssMb: number;
}

/** Install then uninstall of a deployment of no-op operations. */
export async function installUninstall(factory: StoreFactory, instances: number): Promise<InstallResult> {
  const h = await setup(factory, deploymentBlueprint(instances), { 'b.op': () => undefined }, 8);
  try {
    const install = await h.run('install');
    const uninstall = await h.run('uninstall');
    return {
      store: factory.name,
      instances,
      installMs: install.ms,
      installTasks: install.tasks,
      uninstallMs: uninstall.ms,
      uninstallTasks: uninstall.tasks,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    await h.close();
  }
}

/** A deployment of `n` instances whose `bench.work` operation is `fn`; returns the time of running it on all. */
async function executeOperation(
  n: number,
  fn: InProcessOperation,
  concurrency: number,
  parameters = {},
  warmUp = false,
): Promise<{ ms: number }> {
  const blueprint = `${HEAD}node_templates:
  n:
    type: bench.Node
    interfaces: {bench: {work: b.work}}
    capabilities: {scalable: {properties: {default_instances: ${n}}}}
`;
  const h = await setup(stores[0]!, blueprint, { 'b.op': () => undefined, 'b.work': fn }, concurrency);
  try {
    await h.run('install');
    if (warmUp) await h.run('execute_operation', { operation: 'bench.work', ...parameters });
    const run = await h.run('execute_operation', { operation: 'bench.work', ...parameters });
    return { ms: run.ms };
  } finally {
    await h.close();
  }
}

/** 1,000 operations that each ask to be retried after 1 s once, at concurrency 4. */
export function retryStorm(): Promise<{ ms: number }> {
  return executeOperation(
    1000,
    (ctx) => {
      if (ctx.operation.retryNumber === 0) ctx.operation.retry('waiting', 1);
    },
    4,
    { task_retries: 3 },
  );
}

/** 100 independent operations of 100 ms each, at concurrency 100. */
export async function wideGraph(): Promise<{ ms: number; criticalPathMs: number }> {
  // Measured on a second run, as a long-lived Weft process runs it (the first one warms the JIT up).
  const run = await executeOperation(100, () => new Promise((r) => setTimeout(r, 100)), 100, {}, true);
  return { ms: run.ms, criticalPathMs: 100 };
}

/** A no-op operation on 1,000 instances, through worker processes and in-process: time per operation. */
export async function hostRoundTrip(): Promise<{
  workerMs: number;
  inProcessMs: number;
  operations: number;
}> {
  const blueprint = `${HEAD}node_templates:
  n:
    type: bench.Node
    interfaces: {bench: {work: b.work}}
    capabilities: {scalable: {properties: {default_instances: 1000}}}
`;
  const measure = async (operations: Record<string, InProcessOperation> | 'workers') => {
    const h = await setup(stores[0]!, blueprint, operations, 8);
    try {
      await h.run('install');
      await h.run('execute_operation', { operation: 'bench.work' });
      return (await h.run('execute_operation', { operation: 'bench.work' })).ms;
    } finally {
      await h.close();
    }
  };
  const workerMs = await measure('workers');
  const inProcessMs = await measure({ 'b.op': () => undefined, 'b.work': () => undefined });
  return { workerMs, inProcessMs, operations: 1000 };
}

/** Install of 10,000 instances whose operations run in plugin worker processes. */
export async function hostInstall(
  instances: number,
): Promise<{ ms: number; tasks: number; operations: number }> {
  const h = await setup(stores[0]!, deploymentBlueprint(instances), 'workers', 8);
  try {
    const install = await h.run('install');
    return { ms: install.ms, tasks: install.tasks, operations: instances * 3 };
  } finally {
    await h.close();
  }
}
