/** The server's problems with a blueprint (a 422's details), printed as the local command prints its own. */
import { join } from 'node:path';
import { Diagnostics, type Problem } from '@weft/engine/language';
import { EXIT, printProblems } from '../output.js';
import type { ApiRefusal } from './client.js';
import { environmentFile, type SentEnvironment } from './environment.js';

/**
 * Prints them with their files as paths on this machine where it has them (the blueprint's
 * directory uploaded, the environment files sent), exit 2; false when the answer lists none.
 */
export function printServerProblems(
  error: ApiRefusal,
  json: boolean,
  places: { blueprintDir?: string; environment?: SentEnvironment | undefined },
): boolean {
  const list = error.body.details;
  if (error.status !== 422 || !Array.isArray(list) || list.length === 0) return false;
  const problems = new Diagnostics();
  for (const p of list as {
    code: string;
    file?: string | null;
    line?: number | null;
    column?: number | null;
    path: string;
    message: string;
  }[]) {
    const problem: Problem = { code: p.code, path: p.path, message: p.message };
    if (p.file) {
      const file =
        environmentFile(p.file, places.environment) ??
        (places.blueprintDir !== undefined ? join(places.blueprintDir, p.file) : p.file);
      problem.file = file;
      if (typeof p.line === 'number') problem.line = p.line;
      if (typeof p.column === 'number') problem.col = p.column;
    }
    problems.problems.push(problem);
  }
  printProblems(problems, json);
  process.exitCode = EXIT.badInput;
  return true;
}
