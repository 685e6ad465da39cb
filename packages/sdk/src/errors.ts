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

/** Whether an error is the user's to fix (bad input or usage: exit code 2) or a failure (exit code 1). */
export type ErrorKind = 'usage' | 'failure';

/**
 * Errors are recognised by a brand, not only by prototype: a plugin loaded with its own copy of
 * the SDK (a TypeScript source compiled on load, a bundled plugin) throws errors the engine's
 * copy must still tell apart. The brand lists the codes of the error's class and its ancestors.
 */
const BRAND = Symbol.for('weft.error.codes');

interface WeftErrorClass {
  readonly code: string;
  readonly kind: ErrorKind;
}

/**
 * The base of Weft's errors. Each class declares a stable `static code` (shown in JSON output and
 * used as its brand) and, when the error is the user's to fix, `static kind = 'usage'`; the CLI
 * derives its exit code from the kind. A subclass without a code of its own shares its parent's.
 */
export class WeftError extends Error {
  static readonly code: string = 'error';
  static readonly kind: ErrorKind = 'failure';
  readonly code: string;
  readonly kind: ErrorKind;
  readonly [BRAND]: readonly string[];

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WeftError';
    const cls = new.target as unknown as WeftErrorClass;
    this.code = cls.code;
    this.kind = cls.kind;
    const codes: string[] = [];
    for (let c: object | null = new.target; c !== null && c !== Error; c = Object.getPrototypeOf(c))
      if (Object.hasOwn(c, 'code')) codes.push((c as WeftErrorClass).code);
    this[BRAND] = codes;
  }

  /**
   * `instanceof` on a class with a code of its own also accepts errors of that class from another
   * copy of the SDK (by brand); a subclass without one keeps the ordinary prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!Object.hasOwn(this, 'code') || value === null || typeof value !== 'object') return false;
    const codes = (value as { [BRAND]?: unknown })[BRAND];
    return Array.isArray(codes) && codes.includes((this as unknown as WeftErrorClass).code);
  }
}

/** A failure worth retrying: the task is run again after `retryAfter` seconds (or the operation's retry interval). */
export class RecoverableError extends WeftError {
  // Typed as string: subclasses may declare codes of their own.
  static override readonly code: string = 'recoverable';
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
export class NonRecoverableError extends WeftError {
  // Typed as string: subclasses may declare codes of their own (PropertiesError).
  static override readonly code: string = 'non_recoverable';
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
export class ConflictError extends WeftError {
  static override readonly code = 'conflict';
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** Thrown by ctx.operation.retry(): the operation runs again after `after` seconds. */
export class OperationRetry extends WeftError {
  static override readonly code = 'operation_retry';
  constructor(
    message: string,
    readonly after?: number,
  ) {
    super(message);
    this.name = 'OperationRetry';
  }
}
