import { BlueprintError, type Diagnostics, formatProblem, type Problem } from '@weft/engine/diagnostics';
import { type ErrorKind, WeftError } from '@weft/sdk/errors';

/** Exit codes, as documented in the README. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

/**
 * The version of the shapes of the JSON documents the CLI prints (README, "JSON output"). Every
 * document carries it; it goes up when a shape changes in a way a reader could trip on.
 */
export const SCHEMA_VERSION = 1;

/** A problem with what the user gave us: printed as one line, exit code 2. */
export class UsageError extends WeftError {
  static override readonly code = 'usage';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code of a command that an error ended: the user's to fix (usage) is 2, else 1. */
export function exitCodeOf(error: unknown): number {
  return error instanceof WeftError && error.kind === 'usage' ? EXIT.badInput : EXIT.failed;
}

/** Prints one JSON document on standard output, its schema version first. */
export function printJson(document: object): void {
  process.stdout.write(`${JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...document }, null, 2)}\n`);
}

/** One JSON document on a line of its own (JSON Lines, for streams such as `events --follow`). */
export function jsonLine(document: object): string {
  return `${JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...document })}\n`;
}

export interface ErrorJson {
  /** Stable: the error class's code (`usage`, `blueprint_invalid`, `not_found`...). */
  code: string;
  kind: ErrorKind;
  message: string;
  /** For a blueprint or inputs with problems: every one of them. */
  problems?: Problem[];
}

const counted = (n: number) => `${n} problem${n === 1 ? '' : 's'} found`;

/** What `--json` prints for an error that ended a command (under `error`). */
export function errorJson(error: unknown): ErrorJson {
  if (error instanceof BlueprintError)
    return {
      code: error.code,
      kind: error.kind,
      message: counted(error.problems.length),
      problems: error.problems,
    };
  if (error instanceof WeftError) return { code: error.code, kind: error.kind, message: error.message };
  return {
    code: WeftError.code,
    kind: 'failure',
    message: error instanceof Error ? error.message : String(error),
  };
}

/**
 * A blueprint's or inputs' problems, which end the command with exit code 2: one line each on
 * standard error, or the `error` document under --json.
 */
export function printProblems(problems: Diagnostics, json: boolean): void {
  const sorted = problems.sorted();
  if (json) {
    printJson({ error: errorJson(new BlueprintError(sorted)) });
    return;
  }
  printWarnings(problems);
  for (const problem of sorted) process.stderr.write(`${formatProblem(problem)}\n`);
  process.stderr.write(`${counted(sorted.length)}\n`);
}

/** How much a command says: `quiet` only results and errors, `verbose` debug logs too. */
export type Verbosity = 'quiet' | 'normal' | 'verbose';

let chosen: Verbosity = 'normal';

/** Set once from the global options (--quiet, --verbose) before a command runs. */
export function setVerbosity(options: { quiet?: boolean; verbose?: boolean }): void {
  if (options.quiet && options.verbose) throw new UsageError('--quiet and --verbose cannot be used together');
  chosen = options.quiet ? 'quiet' : options.verbose ? 'verbose' : 'normal';
}

export function verbosity(): Verbosity {
  return chosen;
}

/** A line that says what is happening (not a result): left out with --json and --quiet. */
export function inform(text: string, json: boolean | undefined): void {
  if (!json && chosen !== 'quiet') process.stdout.write(`${text}\n`);
}

/** Warnings (what does not make a blueprint invalid) on stderr, one line each. */
export function printWarnings(problems: Diagnostics): void {
  for (const warning of problems.warnings) process.stderr.write(`warning: ${formatProblem(warning)}\n`);
}

/**
 * How a running execution is shown: `live` redraws a progress view in place (a terminal, not in
 * CI, not TERM=dumb, which cannot move the cursor), `plain` prints one timestamped line per event
 * (pipes, files, CI), `json` prints nothing until the final JSON.
 */
export function progressMode(
  json: boolean,
  isTTY: boolean,
  env: NodeJS.ProcessEnv,
): 'live' | 'plain' | 'json' {
  if (json) return 'json';
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI !== 'false';
  return isTTY && !ci && env.TERM !== 'dumb' ? 'live' : 'plain';
}
