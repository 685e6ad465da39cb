import { DEFAULT_LIMITS, type LimitError, type Limits, resultOverLimit } from '@weft/sdk';
import type { Outcome } from './dispatcher.js';

type Failed = Extract<Outcome, { type: 'failed' }>;

/** The limits an execution runs with: the defaults, with those given taken instead. */
export function effectiveLimits(given: Partial<Limits> | undefined): Limits {
  return {
    runtimePropertiesBytes: given?.runtimePropertiesBytes ?? DEFAULT_LIMITS.runtimePropertiesBytes,
    resultBytes: given?.resultBytes ?? DEFAULT_LIMITS.resultBytes,
  };
}

/** The failure of an operation that handed back too much: not retried, as it would again. */
export function limitFailure(error: LimitError): Failed {
  return {
    type: 'failed',
    recoverable: false,
    errorType: error.name,
    message: error.message,
    causes: [],
    runtimeProperties: {},
  };
}

/** A succeeded outcome whose returned value is over the limit becomes that failure; any other stays. */
export function checkResult<T extends Outcome>(outcome: T, maxBytes: number): T | Failed {
  if (outcome.type !== 'succeeded' || outcome.returned === undefined) return outcome;
  const error = resultOverLimit(outcome.returned, maxBytes);
  return error ? limitFailure(error) : outcome;
}
