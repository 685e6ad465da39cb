// Running the plugin's operations as the engine does: one mockContext per run of an operation,
// the runtime properties carried from run to run, again after each ctx.operation.retry (a poll)
// and, when asked, after a recoverable error.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Json, NonRecoverableError, OperationRetry } from '@weft/sdk';
import { type MockContextOptions, type MockOperationContext, mockContext } from '@weft/testing';
import { tempDir, weftAsync } from '@weft/testing/cli';
import { resources } from '../src/index.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

export type OperationName = 'create' | 'delete' | 'update' | 'attributes';

export interface Runs {
  /** The last run's context: its runtime properties are the instance's now. */
  ctx: MockOperationContext;
  /** Polls (ctx.operation.retry) before it completed. */
  polls: number;
  /** Recoverable errors retried before it completed. */
  errors: Error[];
  /** What every run logged, in order. */
  messages: string[];
}

export interface DriveOptions {
  inputs?: Record<string, Json>;
  /** Called with the poll's delay before the next run (advance a mocked clock, or wait). */
  between?: (seconds: number) => void | Promise<void>;
  /** Recoverable errors to retry (as the engine's task retries would). Default 0. */
  retries?: number;
  /** Polls before giving up (a test must end). Default 200. */
  maxPolls?: number;
}

/** Runs one operation of a node of `type` to its end, as the engine's retries would. */
export async function drive(
  operation: OperationName,
  type: string,
  context: MockContextOptions,
  options: DriveOptions = {},
): Promise<Runs> {
  let runtimeProperties = context.runtimeProperties ?? {};
  const errors: Error[] = [];
  const messages: string[] = [];
  const plugin = context.plugin ?? { workdir: tempDir('weft-utilities-') };
  for (let polls = 0; ; ) {
    const ctx = mockContext({
      nodeType: type,
      nodeName: 'node',
      instanceId: 'node_1',
      ...context,
      plugin,
      runtimeProperties,
      retryNumber: polls + errors.length,
      // As plugin.yaml declares the resources' operations.
      maxRetries: -1,
    });
    try {
      await resources[operation](ctx, options.inputs ?? {});
      messages.push(...ctx.mock.messages());
      return { ctx, polls, errors, messages };
    } catch (error) {
      messages.push(...ctx.mock.messages());
      runtimeProperties = ctx.mock.runtimeProperties;
      if (error instanceof OperationRetry) {
        if (++polls > (options.maxPolls ?? 200))
          throw new Error(`${operation} still polling after ${polls} polls`);
        await options.between?.(ctx.mock.retried?.afterSeconds ?? 0);
        continue;
      }
      if (error instanceof NonRecoverableError || errors.length >= (options.retries ?? 0)) {
        throw Object.assign(error as Error, { runtimeProperties });
      }
      errors.push(error as Error);
    }
  }
}

/** Runs the CLI and parses its JSON output; fails with its output when it exits non-zero. */
export async function weftJson<T = Json>(args: string[]): Promise<T> {
  const result = await weftAsync([...args, '--json']);
  if (result.code !== 0) {
    throw new Error(`weft ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}
