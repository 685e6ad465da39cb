import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Json, type OperationContext, OperationRetry, type ResourceState } from '@weft/sdk';
import { type MockOperationContext, mockContext } from '../src/index.js';

// One node instance whose runtime properties are kept between runs of its operations, as the
// engine keeps them: saved by update() and when an operation ends (done, retry or failure). Each
// run gets a mockContext, the engine's own ctx.

export type Op = (ctx: OperationContext, inputs: Record<string, Json>) => unknown;

export interface RunResult {
  outcome: 'ok' | 'retry' | 'failed';
  error?: unknown;
  retry?: { message: string; after: number | undefined };
  logs: string[];
}

/** Never created: no operation these tests run writes in its work directory. */
const WORKDIR = join(tmpdir(), 'weft-fake-instance-workdir');

export class FakeInstance {
  saved: Record<string, Json> = {};
  updates = 0;
  logs: string[] = [];
  retryNumber = 0;

  constructor(
    public properties: Record<string, Json> = {},
    readonly type = 'test.nodes.Server',
  ) {}

  context(): MockOperationContext {
    return mockContext({
      deploymentId: 'dep',
      executionId: 'exec',
      blueprintDir: '.',
      plugin: { workdir: WORKDIR },
      nodeName: 'server',
      nodeType: this.type,
      typeHierarchy: [this.type],
      properties: this.properties,
      instanceId: 'server_1',
      state: 'creating',
      runtimeProperties: this.saved,
      retryNumber: this.retryNumber,
      maxRetries: -1,
    });
  }

  /** Runs an operation as the engine would; `crash` keeps only what update() saved. */
  async run(op: Op, inputs: Record<string, Json> = {}, crash = false): Promise<RunResult> {
    const ctx = this.context();
    let result: RunResult;
    try {
      await op(ctx, inputs);
      result = { outcome: 'ok', logs: [] };
    } catch (error) {
      result =
        error instanceof OperationRetry
          ? { outcome: 'retry', retry: { message: error.message, after: error.after }, logs: [] }
          : { outcome: 'failed', error, logs: [] };
    }
    const { updates, logs } = ctx.mock;
    this.updates += updates.length;
    const lastSaved = updates.at(-1)?.runtimeProperties;
    if (!crash) this.saved = structuredClone(ctx.instance.runtimeProperties);
    else if (lastSaved) this.saved = lastSaved;
    this.retryNumber = result.outcome === 'ok' ? 0 : this.retryNumber + 1;
    result.logs = logs.map((l) => `${l.level}: ${l.message}`);
    this.logs.push(...result.logs);
    return result;
  }

  /** Runs until the operation stops asking for a retry; returns every result. */
  async runToEnd(op: Op, inputs: Record<string, Json> = {}, limit = 20): Promise<RunResult[]> {
    const results: RunResult[] = [];
    for (let i = 0; i < limit; i++) {
      const r = await this.run(op, inputs);
      results.push(r);
      if (r.outcome !== 'retry') return results;
    }
    throw new Error('still retrying');
  }

  get heat(): { state?: ResourceState; properties?: Record<string, Json>; pending?: Record<string, Json> } {
    return (this.saved.heat ?? {}) as never;
  }
}

export function failed(r: RunResult): Error {
  assert.equal(r.outcome, 'failed', `expected a failure, got ${r.outcome}`);
  return r.error as Error;
}
