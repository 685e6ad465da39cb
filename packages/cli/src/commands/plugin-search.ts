/**
 * The plugin directories every command that loads blueprints or runs operations searches:
 * `--plugin-dir` (repeatable), WEFT_PLUGIN_DIRS (a path list), the state directory's `plugins/`
 * and the built-in plugins, in that order (the first plugin with a given name and version wins).
 * Only the blueprint language is loaded here, so that validate and plan start fast.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { PluginSet } from '@weft/engine/language';
import { UsageError } from '../output.js';

export interface PluginDirOptions {
  pluginDir?: string[];
  stateDir?: string;
}

export interface SearchDir {
  dir: string;
  via: '--plugin-dir' | 'WEFT_PLUGIN_DIRS' | 'state' | 'built-in';
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

const BUILT_IN = ['script', 'rest', 'remote', 'utilities', 'devstack'].map((name) => `@weft/plugin-${name}`);

/** The plugins that ship with Weft (script, REST, remote commands, utilities, DevStack): their directories. */
export function builtInPluginDirs(): string[] {
  const require = createRequire(import.meta.url);
  return BUILT_IN.map((name) => dirname(require.resolve(`${name}/package.json`)));
}

/** The state directory's plugins/ (without creating anything). */
export function statePluginsDir(options: PluginDirOptions, stateDirPath?: string): string {
  return join(stateDirPath ?? resolve(options.stateDir ?? process.env.WEFT_HOME ?? '.weft'), 'plugins');
}

/** The directories searched for plugins, first match first. */
export function pluginSearchDirs(options: PluginDirOptions, stateDirPath?: string): SearchDir[] {
  const dirs: SearchDir[] = [];
  for (const given of options.pluginDir ?? []) {
    if (!isDirectory(given)) throw new UsageError(`--plugin-dir ${given}: no such directory`);
    dirs.push({ dir: resolve(given), via: '--plugin-dir' });
  }
  for (const given of (process.env.WEFT_PLUGIN_DIRS ?? '').split(delimiter))
    if (given) dirs.push({ dir: resolve(given), via: 'WEFT_PLUGIN_DIRS' });
  dirs.push({ dir: statePluginsDir(options, stateDirPath), via: 'state' });
  // Searched last, so an installed plugin of the same name and version takes precedence.
  for (const dir of builtInPluginDirs()) dirs.push({ dir, via: 'built-in' });
  return dirs;
}

const found = new Map<string, PluginSet>();

/** The plugins in the search directories (discovered once per process). */
export function installedPlugins(options: PluginDirOptions, stateDirPath?: string): PluginSet {
  const dirs = pluginSearchDirs(options, stateDirPath).map((d) => d.dir);
  const key = dirs.join('\u0000');
  let set = found.get(key);
  if (!set) {
    set = PluginSet.discover(dirs);
    found.set(key, set);
  }
  return set;
}

/**
 * `resolvePlugin` for fileSystemReader: the types file of an installed plugin; a plugin that is
 * installed but cannot be used is a one-line error (exit 2).
 */
export function pluginResolver(
  options: PluginDirOptions,
  stateDirPath?: string,
): (name: string, version: string | undefined) => string | undefined {
  pluginSearchDirs(options, stateDirPath); // a bad --plugin-dir is reported even when nothing is imported
  // A plugin that cannot be used throws a PluginError: a usage error (exit 2).
  return (name, version) => installedPlugins(options, stateDirPath).resolvePlugin(name, version);
}

/** What fileSystemReader needs to find installed plugins: their types files, and their names. */
export function pluginReaderOptions(
  options: PluginDirOptions,
  stateDirPath?: string,
): { resolvePlugin: ReturnType<typeof pluginResolver>; pluginNames: () => string[] } {
  return {
    resolvePlugin: pluginResolver(options, stateDirPath),
    pluginNames: () => [...new Set(installedPlugins(options, stateDirPath).plugins.map((p) => p.name))],
  };
}
