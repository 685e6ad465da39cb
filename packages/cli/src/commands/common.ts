import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  blueprintName,
  checkPluginFunctions,
  Diagnostics,
  fileSystemReader,
  type LoadResult,
  loadBlueprint,
  type MissingPlugins,
  runsInstalled,
  type ValueMap,
} from '@weft/engine/language';
import { readInputs, readParameters } from '../inputs.js';
import { UsageError } from '../output.js';
import type { StateOptions } from '../state.js';
import { installedPlugins, type PluginDirOptions, pluginReaderOptions } from './plugin-search.js';

export interface BlueprintOptions extends PluginDirOptions {
  input?: string[];
  deploymentId?: string;
  /** A HOT template's environment files (-e) and parameters (-p). */
  environment?: string[];
  parameter?: string[];
}

/** The inputs given with -i and, for a HOT template, its parameters given with -p (which win). */
export function givenInputs(
  options: Pick<BlueprintOptions, 'input' | 'parameter'>,
  problems: Diagnostics,
): ValueMap | undefined {
  const inputs = options.input?.length ? readInputs(options.input, problems) : undefined;
  const parameters = options.parameter?.length ? readParameters(options.parameter, problems) : undefined;
  if (!inputs && !parameters) return undefined;
  return Object.assign(inputs ?? {}, parameters);
}

/** The environment files given with -e, as absolute paths. */
export function environmentFiles(options: Pick<BlueprintOptions, 'environment'>): {
  environments?: string[];
} {
  return options.environment?.length ? { environments: options.environment.map((e) => resolve(e)) } : {};
}

/**
 * The blueprint file an argument names: a directory means its blueprint.yaml. A path that does
 * not exist is left as it is, for loading to report where it looked.
 */
export function blueprintFile(arg: string): string {
  const isDirectory = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  if (!isDirectory(arg)) return arg;
  const file = join(arg, 'blueprint.yaml');
  if (statSync(file, { throwIfNoEntry: false })?.isFile()) return file;
  const candidates = readdirSync(arg).filter(
    (name) => /\.ya?ml$/i.test(name) && !isDirectory(join(arg, name)),
  );
  throw new UsageError(
    `${arg} is a directory without a blueprint.yaml; name the blueprint file${candidates.length > 0 ? ` (it has ${candidates.sort().join(', ')})` : ''}`,
  );
}

/** A deployment id made from the blueprint's directory name when none is given. */
export function defaultDeploymentId(blueprint: string): string {
  return blueprintName(dirname(resolve(blueprintFile(blueprint))));
}

/** Validates (and plans, when inputs are bound) a blueprint given on the command line. */
export function loadFromArgs(
  blueprint: string,
  options: BlueprintOptions,
  validateOnly: boolean,
): LoadResult {
  const inputProblems = new Diagnostics();
  const inputs = givenInputs(options, inputProblems);
  if (!inputProblems.ok) return { problems: inputProblems };
  const deploymentId = options.deploymentId ?? defaultDeploymentId(blueprint);
  if (!/^[A-Za-z0-9_.-]+$/.test(deploymentId)) {
    throw new UsageError(`deployment id '${deploymentId}' may only hold letters, digits, '_', '.' and '-'`);
  }
  return loadBlueprint(blueprintFile(blueprint), {
    reader: fileSystemReader(pluginReaderOptions(options)),
    deploymentId,
    ...instanceCeiling(),
    ...(inputs !== undefined ? { inputs } : {}),
    ...environmentFiles(options),
    validateOnly,
  });
}

/**
 * Adds a problem for every plugin operation whose function the plugin's module does not export
 * (modules are found from a local `source`, or among installed plugins), also when the blueprint
 * has other problems, so that one run reports them all. A plugin that is not here is a warning
 * where the blueprint is only checked (`missingPlugins: 'warn'`), a problem where it is about to run.
 */
export async function checkOperationFunctions(
  result: LoadResult,
  options: PluginDirOptions,
  missingPlugins: MissingPlugins = 'error',
): Promise<void> {
  const blueprint = result.blueprint;
  if (!blueprint) return;
  const plugins = [...blueprint.plugins.values()];
  const needed = plugins.some((p) => runsInstalled(p.source));
  const declared = Object.fromEntries(
    plugins.map((p) => [p.name, p.packageVersion !== undefined ? { packageVersion: p.packageVersion } : {}]),
  );
  const entries = needed
    ? installedPlugins(options).entriesFor({ plugins: declared })
    : new Map<string, string>();
  await checkPluginFunctions(blueprint, entries, result.problems, missingPlugins);
}

/**
 * Warns about each secret the blueprint names with get_secret that the state does not hold: the
 * install would stop at the first operation needing it. The store is opened (and never created)
 * only for a blueprint that names secrets.
 */
export async function checkSecretReferences(result: LoadResult, options: StateOptions): Promise<void> {
  const references = result.blueprint?.secretReferences;
  if (!references || references.size === 0) return;
  const { openState } = await import('../state.js');
  const state = await openState(options, { create: false });
  try {
    const stored = new Set((await state.store.listSecrets()).map((secret) => secret.key));
    for (const { name, at, path } of references.values()) {
      if (stored.has(name)) continue;
      result.problems.warn(
        'missing-secret',
        at,
        path,
        `get_secret: no secret '${name}' in ${state.location}; set it before installing (weft secrets set ${name} VALUE)`,
      );
    }
  } finally {
    await state.close();
  }
}

/** WEFT_MAX_INSTANCES, the ceiling on a deployment's node instances, when set. */
export function instanceCeiling(): { maxInstances?: number } {
  const text = process.env.WEFT_MAX_INSTANCES;
  if (text === undefined || text === '') return {};
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`WEFT_MAX_INSTANCES must be a positive whole number, not '${text}'`);
  return { maxInstances: value };
}
