/**
 * `-e` with a server: the environment files, and the files they name (resource_registry templates
 * and what those read), sent with the request as the API's `environment`, by their paths relative
 * to the one directory that holds them all. The server loads the blueprint with them as the local
 * command loads it with the files themselves.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { environmentFiles, fileSystemReader } from '@weft/engine/language';
import { EXIT, printProblems } from '../output.js';

export interface EnvironmentBody {
  files: Record<string, string>;
  order: string[];
}

/** What is sent, and the directory its paths are relative to (where the server's problems are). */
export interface SentEnvironment {
  environment: EnvironmentBody;
  root: string;
}

/** The deepest directory holding every file. */
function commonDir(files: string[]): string {
  let common = dirname(files[0]!).split(sep);
  for (const file of files.slice(1)) {
    const parts = dirname(file).split(sep);
    let same = 0;
    while (same < common.length && same < parts.length && common[same] === parts[same]) same++;
    common = common.slice(0, same);
  }
  return common.join(sep) || sep;
}

/**
 * The environment to send for `-e` (undefined without it), or null when an environment file cannot
 * be read: its problems are printed as the local command prints them (exit 2).
 */
export function sentEnvironment(flags: {
  environment?: string[];
  json?: boolean;
}): SentEnvironment | undefined | null {
  if (!flags.environment?.length) return undefined;
  const paths = flags.environment.map((path) => resolve(path));
  const { files, problems } = environmentFiles(paths, fileSystemReader());
  if (!problems.ok) {
    printProblems(problems, flags.json === true);
    process.exitCode = EXIT.badInput;
    return null;
  }
  const root = commonDir(files);
  const name = (file: string) => relative(root, file).split(sep).join('/');
  return {
    root,
    environment: {
      files: Object.fromEntries(files.map((file) => [name(file), readFileSync(file).toString('base64')])),
      order: paths.map(name),
    },
  };
}

/** Where in an uploaded blueprint's archive the environment's files are (as the upload's query names them). */
export const ENVIRONMENT_DIR = '.weft-environment';

/**
 * How the API names a file among the environment files sent: `environment:PATH` when they came
 * with a request, `.weft-environment/PATH` when they came in a blueprint's archive.
 */
const ENVIRONMENT_PREFIXES = ['environment:', `${ENVIRONMENT_DIR}/`];

/** The local path of a file the server names among the environment's, else undefined. */
export function environmentFile(file: string, sent: SentEnvironment | undefined): string | undefined {
  const prefix = ENVIRONMENT_PREFIXES.find((p) => file.startsWith(p));
  if (!sent || prefix === undefined) return undefined;
  return join(sent.root, ...file.slice(prefix.length).split('/'));
}
