import { constants } from 'node:buffer';
import { NonRecoverableError } from './errors.js';

/**
 * The most the engine takes from an operation, in bytes of JSON (UTF-8): what an operation hands
 * back is stored, kept in memory and passed on, so a runaway plugin could fill the disk or the
 * engine's memory. The engine checks both; the script plugin checks ctx writes as they come.
 */
export interface Limits {
  /** One instance's runtime properties, whole, after an update. */
  runtimePropertiesBytes: number;
  /** The value an operation (or a workflow script) returns. */
  resultBytes: number;
}

/**
 * 16 MiB each: a thousand times the largest values seen in real use (a kubeconfig, a Terraform
 * state kept in runtime properties), and the most one ctx request of a script may carry.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  runtimePropertiesBytes: 16 * 1024 * 1024,
  resultBytes: 16 * 1024 * 1024,
};

/** A value over one of the {@link Limits}: the operation fails, and nothing of the value is stored. */
export class LimitError extends NonRecoverableError {
  static override readonly code = 'limit_exceeded';
  constructor(message: string) {
    super(message);
    this.name = 'LimitError';
  }
}

/**
 * The size of `value` as JSON in UTF-8 bytes when it is over `maxBytes` (Infinity when it is
 * too large for a string at all), else undefined.
 */
function bytesOver(value: unknown, maxBytes: number): number | undefined {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    if (error instanceof RangeError && /string length/i.test(error.message)) return Infinity;
    // Not JSON at all (a cycle, a BigInt): not a question of size.
    return undefined;
  }
  // Most values are small: a UTF-16 unit is at most 3 bytes of UTF-8, so only those that could be
  // over are measured.
  if (text === undefined || text.length * 3 <= maxBytes) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > maxBytes ? bytes : undefined;
}

const amount = (bytes: number) =>
  Number.isFinite(bytes)
    ? `${bytes.toLocaleString('en-US')} bytes`
    : `more than ${constants.MAX_STRING_LENGTH.toLocaleString('en-US')} bytes`;

/** The error for an instance's runtime properties over the limit, when they are. */
export function runtimePropertiesOverLimit(
  instanceId: string,
  properties: unknown,
  maxBytes: number,
): LimitError | undefined {
  const bytes = bytesOver(properties, maxBytes);
  if (bytes === undefined) return undefined;
  return new LimitError(
    `the runtime properties of ${instanceId} would be ${amount(bytes)} of JSON: over the ${maxBytes.toLocaleString('en-US')}-byte limit for one instance's runtime properties; WEFT_MAX_RUNTIME_PROPERTIES_BYTES raises it`,
  );
}

/** The error for an operation's returned value over the limit, when it is. */
export function resultOverLimit(value: unknown, maxBytes: number): LimitError | undefined {
  const bytes = bytesOver(value, maxBytes);
  if (bytes === undefined) return undefined;
  return new LimitError(
    `the value it returned is ${amount(bytes)} of JSON: over the ${maxBytes.toLocaleString('en-US')}-byte limit for an operation's result; WEFT_MAX_RESULT_BYTES raises it`,
  );
}
