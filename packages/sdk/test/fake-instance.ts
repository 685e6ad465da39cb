import assert from 'node:assert/strict';
import { type Json, type OperationContext, OperationRetry, type ResourceState } from '../src/index.js';

// A tiny stand-in for the engine: one node instance whose runtime properties are kept between
// runs of its operations, saved on update() and when an operation ends (done, retry or failure).

export type Op = (ctx: OperationContext, inputs: Record<string, Json>) => unknown;

export interface RunResult {
  outcome: 'ok' | 'retry' | 'failed';
  error?: unknown;
  retry?: { message: string; after: number | undefined };
  logs: string[];
}

export class FakeInstance {
  saved: Record<string, Json> = {};
  updates = 0;
  logs: string[] = [];
  retryNumber = 0;

  constructor(
    public properties: Record<string, Json> = {},
    readonly type = 'test.nodes.Server',
  ) {}

  context(): OperationContext {
    const runtimeProperties = structuredClone(this.saved);
    const log = (level: string) => (m: string) => this.logs.push(`${level}: ${m}`);
    return {
      deployment: { id: 'dep' },
      execution: { id: 'exec', workflow: 'install' },
      blueprint: { dir: '.' },
      node: {
        id: 'server',
        name: 'server',
        type: this.type,
        typeHierarchy: [this.type],
        properties: this.properties,
      },
      instance: {
        id: 'server_1',
        node: 'server',
        index: 1,
        state: 'creating',
        hostId: null,
        containedIn: null,
        runtimeProperties,
        update: async () => {
          this.updates++;
          this.saved = structuredClone(runtimeProperties);
        },
      },
      operation: {
        name: 'cloudify.interfaces.lifecycle.create',
        retryNumber: this.retryNumber,
        maxRetries: -1,
        retry(message: string, afterSeconds?: number): never {
          throw new OperationRetry(message, afterSeconds);
        },
      },
      logger: { debug: log('debug'), info: log('info'), warning: log('warning'), error: log('error') },
      signal: new AbortController().signal,
    } as unknown as OperationContext;
  }

  /** Runs an operation as the engine would; `crash` drops what was not saved by update(). */
  async run(op: Op, inputs: Record<string, Json> = {}, crash = false): Promise<RunResult> {
    const before = this.logs.length;
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
    if (!crash) this.saved = structuredClone(ctx.instance.runtimeProperties);
    this.retryNumber = result.outcome === 'ok' ? 0 : this.retryNumber + 1;
    result.logs = this.logs.slice(before);
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
