import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createDeployment, finishExecution, startExecution } from '../src/deployment/deployments.js';
import type { Value } from '../src/dsl/yaml-source.js';
import type { WorkflowFunction } from '../src/executor/dispatcher.js';
import { Executor, type ExecutorOptions } from '../src/executor/executor.js';
import { fileSystemReader } from '../src/io/fs-reader.js';
import { InProcessDispatcher, type InProcessOperation } from '../src/runtime/in-process.js';
import type { WorkflowRunner } from '../src/runtime/workflow-run.js';
import { openStore } from '../src/store/index.js';
import type { EventRecord, ExecutionRecord, Json, Store } from '../src/store/types.js';

export interface Harness {
  dir: string;
  store: Store;
  deploymentId: string;
  events: EventRecord[];
  calls: string[];
  execute(workflow: string, parameters?: Record<string, Json>): Promise<ExecutionRecord>;
  executor: Executor;
}

export interface HarnessOptions {
  operations?: Record<string, InProcessOperation>;
  workflows?: Record<string, WorkflowFunction>;
  resumable?: string[];
  inputs?: Record<string, Value>;
  concurrency?: number;
  secrets?: Map<string, Value>;
  files?: Record<string, string>;
  store?: Store;
  workflowRunner?: WorkflowRunner;
  limits?: ExecutorOptions['limits'];
}

/**
 * A deployment of the given blueprint on a fresh SQLite store, with in-process operations.
 * Every operation call is recorded in `calls` as `instance-node operation`.
 */
export async function harness(blueprint: string, options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-exec-'));
  writeFileSync(join(dir, 'blueprint.yaml'), blueprint);
  for (const [name, text] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const store = options.store ?? (await openStore(join(dir, 'weft.db')));
  await store.migrate();
  const created = await createDeployment({
    store,
    reader: fileSystemReader(),
    blueprintPath: join(dir, 'blueprint.yaml'),
    deploymentId: 'dep',
    inputs: options.inputs ?? {},
  });
  if (!created.deployment) throw new Error(JSON.stringify(created.problems.problems, null, 2));
  const calls: string[] = [];
  const events: EventRecord[] = [];
  const recorded: Record<string, InProcessOperation> = {};
  for (const [name, fn] of Object.entries(options.operations ?? {})) {
    recorded[name] = (ctx, inputs) => {
      const side = ctx.source && ctx.target ? `[${ctx.source.node.name}->${ctx.target.node.name}]` : '';
      calls.push(`${ctx.node.name}.${ctx.operation.name.split('.').pop()}${side}`);
      return fn(ctx, inputs);
    };
  }
  const dispatcher = new InProcessDispatcher(recorded, {
    resumable: options.resumable ?? [],
    workflows: options.workflows ?? {},
    ...(options.workflowRunner && { workflowRunner: options.workflowRunner }),
  });
  const executor = new Executor({
    store,
    dispatcher,
    concurrency: options.concurrency ?? 8,
    cancelPollMs: 20,
    onEvent: (e) => events.push(e),
    secrets: async () => options.secrets ?? new Map(),
    ...(options.limits && { limits: options.limits }),
  });
  return {
    dir,
    store,
    deploymentId: 'dep',
    events,
    calls,
    executor,
    async execute(workflow, parameters = {}) {
      const execution = await startExecution({
        store,
        dispatcher,
        deploymentId: 'dep',
        workflow,
        parameters,
      });
      const result = await executor.run(execution.id);
      await finishExecution(store, result);
      return result;
    },
  };
}

/** A no-op operation. */
export const noop: InProcessOperation = () => undefined;
