import type { LogLevel, OperationCall, Outcome, RuntimeProperties } from '../executor/dispatcher.js';

/**
 * What crosses the IPC channel, each way as arrays of these messages: what one side has for the
 * other at the end of a step goes in one write. An operation call goes without its functions and
 * signal.
 */
export type CallData = Omit<OperationCall, 'signal' | 'update' | 'log'>;

export type ToWorker =
  | { type: 'run'; id: number; entry: string; function: string; call: CallData }
  | { type: 'updated'; requestId: number; error?: string; errorType?: string }
  /**
   * The operation was cancelled or timed out: its ctx.signal fires (the process is killed soon
   * after); one still queued in the worker ends at once without running.
   */
  | { type: 'abort'; id: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'log'; id: number; level: LogLevel; message: string }
  | {
      type: 'update';
      id: number;
      requestId: number;
      instanceId: string;
      runtimeProperties: RuntimeProperties;
    }
  /** `ms`: how long the operation ran in the worker. */
  | { type: 'result'; id: number; outcome: Outcome; ms: number }
  /**
   * Handed back unstarted: it waited `ms` in the worker's queue while the operations before it
   * ran on (see host-worker's HAND_BACK_MS); the engine runs it elsewhere.
   */
  | { type: 'handedBack'; id: number; ms: number };
