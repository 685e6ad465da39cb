import { type Diagnostics, formatProblem } from '@weft/engine/diagnostics';
import { WeftError } from '@weft/sdk/errors';

/** Exit codes, as documented in the README. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

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

export function printProblems(problems: Diagnostics, json: boolean): void {
  const sorted = problems.sorted();
  if (json) {
    const document = { valid: false, problems: sorted, warnings: problems.warnings };
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    return;
  }
  printWarnings(problems);
  for (const problem of sorted) process.stderr.write(`${formatProblem(problem)}\n`);
  process.stderr.write(`${sorted.length} problem${sorted.length === 1 ? '' : 's'} found\n`);
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
