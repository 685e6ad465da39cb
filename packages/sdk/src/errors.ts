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

/**
 * Errors are recognised by a brand, not only by prototype: a plugin loaded with its own copy of
 * the SDK (a TypeScript source compiled on load, a bundled plugin) throws errors the engine's
 * copy must still tell apart.
 */
const BRAND = Symbol.for('weft.sdk.error');

function branded(cls: { prototype: object }, name: string): (value: unknown) => boolean {
  return (value) =>
    value !== null &&
    typeof value === 'object' &&
    ((value as Record<symbol, unknown>)[BRAND] === name ||
      Function.prototype[Symbol.hasInstance].call(cls, value));
}

/** A failure worth retrying: the task is run again after `retryAfter` seconds (or the operation's retry interval). */
export class RecoverableError extends Error {
  readonly [BRAND] = 'RecoverableError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses keep the ordinary check; the class itself also accepts another SDK copy's errors.
    return this === RecoverableError
      ? branded(RecoverableError, 'RecoverableError')(value)
      : Function.prototype[Symbol.hasInstance].call(this, value);
  }
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
  readonly [BRAND] = 'NonRecoverableError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses keep the ordinary check; the class itself also accepts another SDK copy's errors.
    return this === NonRecoverableError
      ? branded(NonRecoverableError, 'NonRecoverableError')(value)
      : Function.prototype[Symbol.hasInstance].call(this, value);
  }
  readonly causes: ErrorCause[];
  constructor(message: string, options: OperationErrorOptions = {}) {
    super(message);
    this.name = 'NonRecoverableError';
    this.causes = toCauses(options.causes);
  }
}

/**
 * ctx.instance.update() was refused: another operation changed the same runtime properties of
 * that instance meanwhile. Nothing was saved; the operation's attempt fails (and is retried while
 * it has retries left) unless it handles this, e.g. with ctx.operation.retry().
 */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** Thrown by ctx.operation.retry(): the operation runs again after `after` seconds. */
export class OperationRetry extends Error {
  readonly [BRAND] = 'OperationRetry';
  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses keep the ordinary check; the class itself also accepts another SDK copy's errors.
    return this === OperationRetry
      ? branded(OperationRetry, 'OperationRetry')(value)
      : Function.prototype[Symbol.hasInstance].call(this, value);
  }
  constructor(
    message: string,
    readonly after?: number,
  ) {
    super(message);
    this.name = 'OperationRetry';
  }
}
