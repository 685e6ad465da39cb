/** The size limits of an execution, from the environment. */
import type { ExecutorOptions } from '@weft/engine';
import { UsageError } from '../output.js';

/** The environment variable `name` as a whole number of bytes, `min` or more, when it is set. */
function bytes(name: string, min: number): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new UsageError(`${name} must be a whole number of bytes, ${min} or more, not '${text}'`);
  return value;
}

/**
 * WEFT_MAX_LOG_BYTES (the longest log line or event message stored; 256 or more, room for the
 * marker saying what was cut), WEFT_MAX_RESULT_BYTES (an operation's returned value) and
 * WEFT_MAX_RUNTIME_PROPERTIES_BYTES (one instance's runtime properties).
 */
export function executionLimits(): Pick<ExecutorOptions, 'maxEventBytes' | 'limits'> {
  // Those not set are undefined: the engine's defaults.
  return {
    maxEventBytes: bytes('WEFT_MAX_LOG_BYTES', 256),
    limits: {
      resultBytes: bytes('WEFT_MAX_RESULT_BYTES', 1),
      runtimePropertiesBytes: bytes('WEFT_MAX_RUNTIME_PROPERTIES_BYTES', 1),
    },
  };
}
