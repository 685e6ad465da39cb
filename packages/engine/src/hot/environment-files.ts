/**
 * The files a set of HOT environments needs, wherever the template they are given with is: the
 * environment files themselves and the templates their resource_registry names, with what those
 * read in turn (nested templates, get_file). What a client sends a server with `-e`. And the file
 * a stack's own environment is given as when an update keeps it (`--existing`).
 */
import { relative, resolve } from 'node:path';
import { Diagnostics } from '../dsl/diagnostics.js';
import type { BlueprintReader } from '../dsl/reader.js';
import { readEnvironments } from './environment.js';
import { loadHotTemplate } from './template.js';

export interface EnvironmentFiles {
  /** Absolute paths of every file read, sorted. */
  files: string[];
  /** Absolute paths of every file named, whether it could be read or not, sorted. */
  named: string[];
  /** Environment files that cannot be read or parsed, reported as loading them reports them. */
  problems: Diagnostics;
}

/**
 * With `within`, a file outside that directory is named but not read (as if it were not there):
 * a server learns what a request's environment names without opening files of its own.
 */
export function environmentFiles(
  paths: string[],
  reader: BlueprintReader,
  within?: string,
): EnvironmentFiles {
  const read = new Set<string>();
  const named = new Set<string>();
  const recording: BlueprintReader = {
    ...reader,
    read: (path) => {
      const file = resolve(path);
      named.add(file);
      if (within !== undefined && relative(within, file).startsWith('..'))
        throw Object.assign(new Error(`${file} is outside ${within}`), { code: 'ENOENT' });
      const bytes = reader.read(file);
      read.add(file);
      return bytes;
    },
  };
  const problems = new Diagnostics();
  const env = readEnvironments(paths, recording, problems);
  const templates = new Set<string>();
  for (const registry of [env.registry, ...env.resourceRegistry.values()])
    for (const target of registry.values()) if (target.template !== undefined) templates.add(target.template);
  // Each is loaded as the environment makes it (its problems are the whole load's to report):
  // only to learn what it reads.
  for (const template of templates)
    loadHotTemplate(
      template,
      { reader: recording, stackName: 'environment', environments: paths, checkOnly: true },
      new Diagnostics(),
    );
  return { files: [...read].sort(), named: [...named].sort(), problems };
}

/**
 * A HOT stack's own environment (as given when it was made or last updated) as an environment
 * file: JSON text, named `environment.json`, else `environment-2.json` and on, as none of the
 * files in `taken` (keyed by name) is, so that it replaces none of the stack's or the request's.
 */
export function ownEnvironmentFile(
  environment: Readonly<Record<string, unknown>> | undefined,
  taken: Readonly<Record<string, unknown>>,
): { name: string; text: string } {
  let name = 'environment.json';
  for (let n = 2; Object.hasOwn(taken, name); n++) name = `environment-${n}.json`;
  return { name, text: `${JSON.stringify(environment ?? {})}\n` };
}
