/** One underlying error behind an operation failure, as shown in events and the CLI. */
export interface ErrorCause {
  type: string;
  message: string;
  stack?: string;
}

/** Turns anything caught into a cause entry. */
export function errorCause(error: unknown): ErrorCause {
  if (error instanceof Error) {
    const cause: ErrorCause = { type: error.name || error.constructor.name, message: error.message };
    if (error.stack) cause.stack = error.stack;
    return cause;
  }
  return { type: typeof error, message: String(error) };
}

export interface OperationErrorOptions {
  /** Errors that led to this one: caught errors or ready-made causes. */
  causes?: (unknown | ErrorCause)[];
}

function toCauses(causes: (unknown | ErrorCause)[] | undefined): ErrorCause[] {
  return (causes ?? []).map((c) =>
    c !== null && typeof c === 'object' && !(c instanceof Error) && 'type' in c && 'message' in c
      ? (c as ErrorCause)
      : errorCause(c),
  );
}

/** A failure worth retrying: the task is run again after `retryAfter` seconds (or the operation's retry interval). */
export class RecoverableError extends Error {
  readonly causes: ErrorCause[];
  readonly retryAfter?: number;
  constructor(message: string, options: OperationErrorOptions & { retryAfter?: number } = {}) {
    super(message);
    this.name = 'RecoverableError';
    this.causes = toCauses(options.causes);
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}

/** A failure that retrying cannot fix: the task fails at once. */
export class NonRecoverableError extends Error {
  readonly causes: ErrorCause[];
  constructor(message: string, options: OperationErrorOptions = {}) {
    super(message);
    this.name = 'NonRecoverableError';
    this.causes = toCauses(options.causes);
  }
}

/** Thrown by ctx.operation.retry(): the operation runs again after `after` seconds. */
export class OperationRetry extends Error {
  constructor(
    message: string,
    readonly after?: number,
  ) {
    super(message);
    this.name = 'OperationRetry';
  }
}
