/**
 * Plugin discovery: finds plugins in plugin directories, checks what they declare and the
 * dependencies between them, and resolves `plugin:NAME` imports to the file a plugin provides.
 *
 * A plugin is a directory holding either
 * - `plugin.yaml`, in Cloudify's format: a `plugins:` section declaring exactly one plugin
 *   (package_name, package_version, executor..., and Weft's `requires:` list of plugin names),
 *   next to the node_types / relationships / data_types it provides. `plugin:NAME` imports this
 *   file. Its entry module is package.json `main`, else index.js, index.mjs or index.ts; or
 * - `plugin.json`, a Loom-style definition: `{ "name", "version", "entry", "types", "requires" }`
 *   where `types` is the YAML file `plugin:NAME` imports and `entry` the module (when left out,
 *   found as above). When a directory holds both files, plugin.json is the definition.
 *
 * A plugin directory searched (`--plugin-dir`, WEFT_PLUGIN_DIRS, the state directory's
 * `plugins/`) is a plugin itself, or holds plugin directories one level down. Like Heat's
 * plugin_dirs loader, `tests/` (and `test/`, `node_modules/` and dot-directories) are skipped.
 *
 * The entry module reaches ModuleDispatcher through its `entries` option (name -> absolute path;
 * see {@link PluginSet.entriesFor}). A plugin.yaml should therefore not declare a local
 * `source:` (it would be read relative to the importing blueprint); a URL source is ignored.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { WeftError } from '@weft/sdk/errors';
import { parseBlueprint } from '../dsl/blueprint.js';
import { Diagnostics, type Loc, type Problem, SourceFile } from '../dsl/diagnostics.js';
import type { BlueprintReader } from '../dsl/reader.js';
import { DSL_VERSIONS, isDslVersion } from '../dsl/versions.js';
import { decodeSource, isMapping, keyLocOf, locOf, parseYaml, type Value } from '../dsl/yaml-source.js';
import { generatedFile } from '../io/generated-files.js';
import { checkOwnFunctions } from './check-functions.js';
import { isLoomManifest, loomTypesFile, loomTypesYaml, readLoomManifest } from './loom-manifest.js';

export const PLUGIN_YAML = 'plugin.yaml';
export const PLUGIN_JSON = 'plugin.json';

/** Directory names never searched for plugins. */
const SKIPPED = new Set(['tests', 'test', 'node_modules']);

/** Entry module names tried, in order, when package.json names no `main`. */
const ENTRY_NAMES = ['index.js', 'index.mjs', 'index.ts'];

/** Below this a worker process cannot start Node and a plugin reliably. */
const MIN_MEMORY_LIMIT_MB = 32;

/** How a plugin's worker processes run, where its plugin.yaml says. */
export interface WorkerSettings {
  /** Operations one worker process runs at once (`operations_per_worker`). */
  operationsPerWorker?: number;
  /** Heap limit of a worker process in MB (`memory_limit_mb`). */
  memoryLimitMb?: number;
}

/** A plugin name: used in `plugin:NAME` and as the first part of `NAME.function`. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

export interface DiscoveredPlugin {
  name: string;
  /** package_version of plugin.yaml (else package.json `version`), or plugin.json `version`. */
  version?: string;
  packageName?: string;
  /** The plugin directory (absolute). */
  dir: string;
  /** The searched directory it was found in (absolute). */
  searchDir: string;
  format: 'plugin.yaml' | 'plugin.json' | 'loom';
  /** The plugin.yaml or plugin.json file. */
  definition: string;
  /** The YAML file `plugin:NAME` imports (plugin.yaml itself, or plugin.json `types`). */
  typesFile?: string;
  /** The entry module (absolute); TypeScript entries are compiled as they load. */
  entry?: string;
  /** Names of the plugins this one needs. */
  requires: string[];
  /**
   * How many operations one worker process runs at once (plugin.yaml `operations_per_worker`):
   * more than 1 suits a plugin that mostly waits (on processes, the network), at the price of
   * a crash ending all of them. Default 1.
   */
  operationsPerWorker?: number;
  /** Heap limit of the plugin's worker processes in MB (plugin.yaml `memory_limit_mb`). */
  memoryLimitMb?: number;
  /**
   * plugin.yaml `any_version: true`: the plugin stands in for another (Weft's built-in REST and
   * fabric plugins for Cloudify's): an import asking for any version of it gets this one.
   */
  anyVersion?: boolean;
  /** Everything wrong with it; a plugin with problems cannot be imported. */
  problems: Problem[];
}

/** A plugin that was found but cannot be used (bad definition, missing or cyclic dependency). */
export class PluginError extends WeftError {
  static override readonly code = 'plugin_invalid';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'PluginError';
  }
}

const isUrl = (text: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(text);

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Where each plugin's `requires` is written, for dependency problems. */
const requiresAt = new WeakMap<DiscoveredPlugin, Loc>();

const fileStart = (path: string, text = ''): Loc => ({ file: new SourceFile(path, text), offset: 0 });

/** Compares versions part by part, numbers as numbers (`1.10` > `1.9`); no version is lowest. */
export function compareVersions(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : Number.NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : Number.NaN;
    const c =
      !Number.isNaN(nx) && !Number.isNaN(ny)
        ? nx - ny
        : !Number.isNaN(nx)
          ? 1
          : !Number.isNaN(ny)
            ? -1
            : x < y
              ? -1
              : x > y
                ? 1
                : 0;
    if (c !== 0) return c < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Whether `version` satisfies what an import asks: a version equal to it or one it is a dotted
 * prefix of (`1.2` matches `1.2.3`), or Cloudify's constraints, comma-separated
 * (`>=1.22.1`, `>1.0,<2.0`, `==1.3`, `!=1.4`).
 */
export function versionMatches(version: string | undefined, asked: string): boolean {
  if (version === undefined) return false;
  const clauses = asked.split(',').map((clause) => clause.trim());
  if (!clauses.some((clause) => /^[<>=!]/.test(clause)))
    return version === asked.trim() || version.startsWith(`${asked.trim()}.`);
  return clauses.every((clause) => {
    const match = /^(>=|<=|==|!=|>|<|=)?\s*(.+)$/.exec(clause);
    if (!match) return false;
    const c = compareVersions(version, match[2]!);
    switch (match[1]) {
      case '>=':
        return c >= 0;
      case '<=':
        return c <= 0;
      case '>':
        return c > 0;
      case '<':
        return c < 0;
      case '!=':
        return c !== 0;
      default:
        return c === 0 || version.startsWith(`${match[2]}.`);
    }
  });
}

/** The entry module of a plugin directory: `declared`, package.json `main`, or an index file. */
function findEntry(
  dir: string,
  declared: string | undefined,
  declaredAt: Loc | undefined,
  problems: Diagnostics,
) {
  const check = (path: string, what: string, at: Loc | undefined, where: string): string | undefined => {
    let file = path;
    if (isDirectory(file))
      file = ENTRY_NAMES.map((n) => join(path, n)).find(isFile) ?? join(path, 'index.js');
    if (!inside(dir, file)) {
      problems.add(
        'plugin-entry',
        at,
        where,
        `${what} '${relative(dir, path)}' is outside the plugin directory`,
      );
      return undefined;
    }
    if (!isFile(file)) {
      problems.add('plugin-entry', at, where, `${what} '${relative(dir, file)}' does not exist`);
      return undefined;
    }
    return file;
  };
  if (declared !== undefined) return check(resolve(dir, declared), 'entry', declaredAt, 'entry');
  const pkgFile = join(dir, 'package.json');
  if (isFile(pkgFile)) {
    const pkg = readPackageJson(pkgFile, problems);
    if (typeof pkg?.main === 'string')
      return check(resolve(dir, pkg.main), 'package.json main', fileStart(pkgFile), 'main');
  }
  return ENTRY_NAMES.map((n) => join(dir, n)).find(isFile);
}

function readPackageJson(path: string, problems: Diagnostics): Record<string, unknown> | undefined {
  const text = readFileSync(path, 'utf8');
  try {
    const value = JSON.parse(text) as unknown;
    return isMapping(value) ? (value as Record<string, unknown>) : undefined;
  } catch (error) {
    problems.add('plugin-json', jsonErrorLoc(path, text, error), '', `invalid JSON: ${oneLine(error)}`);
    return undefined;
  }
}

const oneLine = (error: unknown) => String((error as Error).message).replace(/\s*\n\s*/g, ' ');

function jsonErrorLoc(path: string, text: string, error: unknown): Loc {
  const position = /position (\d+)/.exec(String((error as Error).message))?.[1];
  return { file: new SourceFile(path, text), offset: position ? Number(position) : 0 };
}

/** A `requires:` value: a list of plugin names. */
function readRequires(value: unknown, at: Loc | undefined, path: string, problems: Diagnostics): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || !NAME.test(item))) {
    problems.add('plugin-requires', at, path, 'expected a list of plugin names');
    return [];
  }
  return [...new Set(value as string[])];
}

function readYamlPlugin(dir: string, searchDir: string, file: string): DiscoveredPlugin {
  const problems = new Diagnostics();
  const plugin: DiscoveredPlugin = {
    name: basename(dir),
    dir,
    searchDir,
    format: 'plugin.yaml',
    definition: file,
    typesFile: file,
    requires: [],
    problems: problems.problems,
  };
  const text = decodeSource(readFileSync(file), file, problems);
  const doc = text === undefined ? undefined : parseYaml(text, file, problems);
  if (doc !== undefined && !isMapping(doc))
    problems.add('plugin-yaml', fileStart(file, text), '', 'expected a YAML mapping');
  if (isMapping(doc)) {
    const plugins = doc.plugins;
    const names = isMapping(plugins) ? Object.keys(plugins) : [];
    if (names.length !== 1) {
      problems.add(
        'plugin-declaration',
        plugins === undefined ? locOf(doc) : locOf(doc, 'plugins'),
        'plugins',
        names.length === 0
          ? "declares no plugin: add a 'plugins:' section with one entry, the plugin's name (package_name, package_version, ...)"
          : `declares ${names.length} plugins (${names.join(', ')}); a plugin directory declares exactly one`,
      );
    }
    const name = names[0];
    if (name !== undefined && isMapping(plugins)) {
      const path = `plugins.${name}`;
      if (NAME.test(name)) plugin.name = name;
      else
        problems.add(
          'plugin-name',
          keyLocOf(plugins, name),
          path,
          `'${name}' is not a usable plugin name (letters, digits, '_' and '-')`,
        );
      const decl = plugins[name];
      if (isMapping(decl)) {
        if (decl.package_version !== undefined && decl.package_version !== null)
          plugin.version = String(decl.package_version);
        if (typeof decl.package_name === 'string') plugin.packageName = decl.package_name;
        if (decl.any_version === true) plugin.anyVersion = true;
        const wholeNumber = (key: string, least: number): number | undefined => {
          const value = decl[key];
          if (value === undefined || value === null) return undefined;
          if (typeof value === 'number' && Number.isInteger(value) && value >= least) return value;
          problems.add(
            'plugin-declaration',
            locOf(decl, key),
            `${path}.${key}`,
            `expected a whole number of at least ${least}, got ${JSON.stringify(value)}`,
          );
          return undefined;
        };
        const perWorker = wholeNumber('operations_per_worker', 1);
        if (perWorker !== undefined) plugin.operationsPerWorker = perWorker;
        const memory = wholeNumber('memory_limit_mb', MIN_MEMORY_LIMIT_MB);
        if (memory !== undefined) plugin.memoryLimitMb = memory;
        plugin.requires = readRequires(decl.requires, locOf(decl, 'requires'), `${path}.requires`, problems);
        const at = decl.requires !== undefined ? locOf(decl, 'requires') : undefined;
        if (at) requiresAt.set(plugin, at);
        if (typeof decl.source === 'string' && !isUrl(decl.source) && !isAbsolute(decl.source))
          problems.add(
            'plugin-source',
            locOf(decl, 'source'),
            `${path}.source`,
            "a local source in plugin.yaml would be looked up from the importing blueprint's directory; leave it out: Weft runs the plugin's entry module (package.json main, or index.js)",
          );
      } else if (decl !== null) {
        problems.add(
          'plugin-declaration',
          locOf(plugins, name),
          path,
          'expected a mapping describing the plugin',
        );
      }
    }
  }
  if (plugin.version === undefined && isFile(join(dir, 'package.json'))) {
    const version = readPackageJson(join(dir, 'package.json'), new Diagnostics())?.version;
    if (typeof version === 'string') plugin.version = version;
  }
  const entry = findEntry(dir, undefined, undefined, problems);
  if (entry) plugin.entry = entry;
  return plugin;
}

function readJsonPlugin(dir: string, searchDir: string, file: string): DiscoveredPlugin {
  const problems = new Diagnostics();
  const plugin: DiscoveredPlugin = {
    name: basename(dir),
    dir,
    searchDir,
    format: 'plugin.json',
    definition: file,
    requires: [],
    problems: problems.problems,
  };
  const text = readFileSync(file, 'utf8');
  let def: unknown;
  try {
    def = JSON.parse(text);
  } catch (error) {
    problems.add('plugin-json', jsonErrorLoc(file, text, error), '', `invalid JSON: ${oneLine(error)}`);
    return plugin;
  }
  const at = fileStart(file, text);
  // JSON is YAML: read again for where each key is written (the problems point there).
  const positioned = parseYaml(text, file, new Diagnostics());
  const keyAt = (key: string): Loc => (isMapping(positioned) ? locOf(positioned, key) : undefined) ?? at;
  if (!isMapping(def)) {
    problems.add('plugin-json', at, '', 'expected a JSON object with name, version, entry and types');
    return plugin;
  }
  if (typeof def.name === 'string' && NAME.test(def.name)) plugin.name = def.name;
  else
    problems.add(
      'plugin-name',
      keyAt('name'),
      'name',
      def.name === undefined
        ? 'missing: the plugin name'
        : `${JSON.stringify(def.name)} is not a usable plugin name (letters, digits, '_' and '-')`,
    );
  if (typeof def.version === 'string' || typeof def.version === 'number')
    plugin.version = String(def.version);
  else if (def.version !== undefined)
    problems.add('plugin-json', keyAt('version'), 'version', 'expected a string');
  if (typeof def.types === 'string') {
    const types = resolve(dir, def.types);
    if (!inside(dir, types))
      problems.add('plugin-types', keyAt('types'), 'types', `'${def.types}' is outside the plugin directory`);
    else if (!isFile(types))
      problems.add('plugin-types', keyAt('types'), 'types', `'${def.types}' does not exist`);
    else plugin.typesFile = types;
  } else {
    problems.add(
      'plugin-types',
      at,
      'types',
      'missing: the path of the YAML file that declares the plugin and its types',
    );
  }
  if (def.entry !== undefined && typeof def.entry !== 'string')
    problems.add('plugin-entry', keyAt('entry'), 'entry', 'expected a path');
  const entry = findEntry(
    dir,
    typeof def.entry === 'string' ? def.entry : undefined,
    keyAt('entry'),
    problems,
  );
  if (entry) plugin.entry = entry;
  plugin.requires = readRequires(def.requires, keyAt('requires'), 'requires', problems);
  requiresAt.set(plugin, keyAt('requires'));
  if (typeof def.packageName === 'string') plugin.packageName = def.packageName;
  return plugin;
}

/**
 * A Loom manifest: plugin.json, or (as Coopr's plugin manager scans `plugins/*\/*.json`) any other
 * JSON file of the directory that lists providertypes or automatortypes.
 */
function loomManifestIn(dir: string): string | undefined {
  const names = readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== 'package.json' && name !== 'package-lock.json')
    .sort((a, b) => (a === PLUGIN_JSON ? -1 : b === PLUGIN_JSON ? 1 : a.localeCompare(b)));
  for (const name of names) {
    const file = join(dir, name);
    if (!isFile(file)) continue;
    try {
      if (isLoomManifest(JSON.parse(readFileSync(file, 'utf8')))) return file;
    } catch {
      // Not JSON: not a manifest (plugin.json's own problems are reported by readJsonPlugin).
    }
  }
  return undefined;
}

function readLoomPlugin(dir: string, searchDir: string, file: string): DiscoveredPlugin {
  const problems = new Diagnostics();
  const text = readFileSync(file, 'utf8');
  const def = JSON.parse(text) as Record<string, unknown>;
  const plugin: DiscoveredPlugin = {
    name: basename(dir),
    dir,
    searchDir,
    format: 'loom',
    definition: file,
    requires: [],
    problems: problems.problems,
  };
  // JSON is YAML: read again for where each key is written (the problems point there).
  const positioned = parseYaml(text, file, new Diagnostics());
  const keyAt = (path: string[]): Loc => {
    let node: unknown = positioned;
    let at: Loc | undefined;
    for (const key of path) {
      if (!isMapping(node)) break;
      at = keyLocOf(node, key) ?? at;
      node = node[key];
    }
    return at ?? fileStart(file, text);
  };
  const manifest = readLoomManifest(def, keyAt, problems);
  if (NAME.test(manifest.name)) plugin.name = manifest.name;
  else
    problems.add(
      'plugin-name',
      keyAt(['name']),
      'name',
      manifest.name === ''
        ? "missing 'name' field: the plugin name"
        : `${JSON.stringify(manifest.name)} is not a usable plugin name (letters, digits, '_' and '-')`,
    );
  if (isFile(join(dir, 'package.json'))) {
    const pkg = readPackageJson(join(dir, 'package.json'), problems);
    if (typeof pkg?.version === 'string') plugin.version = pkg.version;
  }
  const entry = findEntry(dir, undefined, undefined, problems);
  if (entry) plugin.entry = entry;
  else
    problems.add(
      'plugin-entry',
      keyAt([]),
      '',
      'no entry module (package.json main, index.js, index.mjs or index.ts) exports the classes the manifest names',
    );
  if (problems.ok) plugin.typesFile = loomTypesFile(file, loomTypesYaml(manifest, plugin.version));
  return plugin;
}

/** Reads the plugin in `dir`, or undefined when the directory holds no plugin definition. */
export function readPlugin(dir: string, searchDir = dir): DiscoveredPlugin | undefined {
  const loom = loomManifestIn(dir);
  if (loom) return readLoomPlugin(dir, searchDir, loom);
  const json = join(dir, PLUGIN_JSON);
  if (isFile(json)) return readJsonPlugin(dir, searchDir, json);
  const yaml = join(dir, PLUGIN_YAML);
  if (isFile(yaml)) return readYamlPlugin(dir, searchDir, yaml);
  return undefined;
}

/** Whether a directory holds a plugin definition (plugin.json, plugin.yaml or a Loom manifest). */
function holdsPlugin(dir: string): boolean {
  return (
    isFile(join(dir, PLUGIN_JSON)) || isFile(join(dir, PLUGIN_YAML)) || loomManifestIn(dir) !== undefined
  );
}

/** The plugin directories under (or at) a searched directory, skipping tests/ and the like. */
function pluginDirsIn(searchDir: string): string[] {
  if (!isDirectory(searchDir)) return [];
  if (holdsPlugin(searchDir)) return [searchDir];
  return readdirSync(searchDir)
    .filter((name) => !SKIPPED.has(name) && !name.startsWith('.'))
    .sort()
    .map((name) => join(searchDir, name))
    .filter((path) => isDirectory(path) && holdsPlugin(path));
}

/**
 * Finds the plugins in `dirs` (earlier directories first: one with the same name and version as
 * an earlier one is shadowed) and checks the dependencies between them. Directories that do not
 * exist are passed over.
 */
export function discoverPlugins(dirs: string[]): DiscoveredPlugin[] {
  const plugins: DiscoveredPlugin[] = [];
  const seenDirs = new Set<string>();
  for (const given of dirs) {
    const searchDir = resolve(given);
    for (const dir of pluginDirsIn(searchDir)) {
      if (seenDirs.has(dir)) continue;
      seenDirs.add(dir);
      const plugin = readPlugin(dir, searchDir);
      if (plugin) plugins.push(plugin);
    }
  }
  return checkPlugins(plugins);
}

function problem(code: string, path: string, message: string, at: Loc | undefined): Problem {
  const diagnostics = new Diagnostics();
  diagnostics.add(code, at, path, message);
  return diagnostics.problems[0]!;
}

/** Marks shadowed duplicates, then missing and cyclic dependencies (naming the chain). */
function checkPlugins(plugins: DiscoveredPlugin[]): DiscoveredPlugin[] {
  const first = new Map<string, DiscoveredPlugin>();
  for (const plugin of plugins) {
    const key = `${plugin.name}\u0000${plugin.version ?? ''}`;
    const earlier = first.get(key);
    if (earlier) {
      plugin.problems.push(
        problem(
          'plugin-shadowed',
          '',
          `plugin '${plugin.name}'${plugin.version ? ` ${plugin.version}` : ''} is also in ${earlier.dir}, which is used instead`,
          fileStart(plugin.definition),
        ),
      );
    } else first.set(key, plugin);
  }
  const set = new PluginSet(plugins);
  const own = new Map(plugins.map((p) => [p, p.problems.length > 0]));
  for (const plugin of plugins) {
    if (own.get(plugin) || plugin.requires.length === 0) continue;
    const trouble = dependencyTrouble(plugin, set, own);
    if (trouble)
      plugin.problems.push(
        problem(
          'plugin-dependency',
          plugin.format === 'plugin.yaml' ? `plugins.${plugin.name}.requires` : 'requires',
          trouble,
          requiresAt.get(plugin) ?? fileStart(plugin.definition),
        ),
      );
  }
  return plugins;
}

/** The first missing, unusable or cyclic dependency reachable from `root`, as a sentence naming the chain. */
function dependencyTrouble(
  root: DiscoveredPlugin,
  set: PluginSet,
  broken: Map<DiscoveredPlugin, boolean>,
): string | undefined {
  const chain: string[] = [root.name];
  const done = new Set<string>();
  const visit = (plugin: DiscoveredPlugin): string | undefined => {
    for (const name of plugin.requires) {
      const path = [...chain, name].join(' -> ');
      if (chain.includes(name)) {
        const start = chain.indexOf(name);
        const cycle = [...chain.slice(start), name].join(' -> ');
        return start === 0
          ? `dependency cycle: ${cycle}`
          : `dependency cycle: ${cycle} (reached through ${chain.slice(0, start + 1).join(' -> ')})`;
      }
      if (done.has(name)) continue;
      const dep = set.find(name);
      if (!dep) return `missing dependency: ${path} (no plugin '${name}' is installed)`;
      if (broken.get(dep))
        return `dependency ${path}: plugin '${name}' in ${dep.dir} cannot be used (${dep.problems[0]!.message})`;
      chain.push(name);
      const found = visit(dep);
      chain.pop();
      if (found) return found;
      done.add(name);
    }
    return undefined;
  };
  return visit(root);
}

/** The plugins found, and how `plugin:NAME` imports and operations are resolved to them. */
export class PluginSet {
  constructor(readonly plugins: DiscoveredPlugin[]) {}

  static discover(dirs: string[]): PluginSet {
    return new PluginSet(discoverPlugins(dirs));
  }

  /**
   * The plugin `plugin:NAME?version=V` means: among those named `name` (or, when none is, whose
   * package_name is `name`; shadowed ones aside), the
   * one whose version is `version` (or starts with `version.`; exact first), else the highest.
   * Plugins with problems are candidates too, so a broken plugin is reported, not passed over.
   */
  find(name: string, version?: string): DiscoveredPlugin | undefined {
    const usable = this.plugins.filter(
      (p) => !p.problems.some((problem) => problem.code === 'plugin-shadowed'),
    );
    // Cloudify's `plugin:` imports name a package (`plugin:cloudify-utilities-plugin`, whose
    // plugin is `rest`): a plugin name first, else a package_name.
    let candidates = usable.filter((p) => p.name === name);
    if (candidates.length === 0) candidates = usable.filter((p) => p.packageName === name);
    if (version !== undefined) {
      const exact = candidates.find((p) => p.version === version);
      if (exact) return exact;
      const matching = candidates
        .filter((p) => versionMatches(p.version, version))
        .sort((a, b) => compareVersions(b.version, a.version))[0];
      // A plugin that stands in for a Cloudify plugin (`any_version: true`) serves every version
      // a blueprint asks of it, when no installed plugin has that version.
      return matching ?? candidates.find((p) => p.anyVersion);
    }
    return candidates.sort((a, b) => compareVersions(b.version, a.version))[0];
  }

  /**
   * For BlueprintReader: the file `plugin:NAME` imports, or undefined when no such plugin (or
   * version) is installed. Throws PluginError for a plugin that is installed but has problems.
   */
  readonly resolvePlugin = (name: string, version: string | undefined): string | undefined => {
    const plugin = this.find(name, version);
    if (!plugin) return undefined;
    if (plugin.problems.length > 0 || !plugin.typesFile) {
      const first = plugin.problems[0];
      throw new PluginError(
        `plugin '${name}'${plugin.version ? ` ${plugin.version}` : ''} in ${plugin.dir} cannot be used: ${first ? first.message : 'it provides no types file'}${plugin.problems.length > 1 ? ` (and ${plugin.problems.length - 1} more problems; see weft plugins validate)` : ''}`,
      );
    }
    return plugin.typesFile;
  };

  /**
   * Entry modules for a deployment's plugins (name -> absolute path), for ModuleDispatcher's
   * `entries`: for each plugin the deployment declares, the installed plugin with its
   * package_version (when it has one), else the highest version.
   */
  entriesFor(model: { plugins: Record<string, { packageVersion?: string }> }): Map<string, string> {
    const entries = new Map<string, string>();
    for (const [name, plugin] of this.chosenFor(model)) if (plugin.entry) entries.set(name, plugin.entry);
    return entries;
  }

  /** `operations_per_worker` and `memory_limit_mb` of the plugins {@link entriesFor} picks, where set. */
  workerSettingsFor(model: {
    plugins: Record<string, { packageVersion?: string }>;
  }): Map<string, WorkerSettings> {
    const settings = new Map<string, WorkerSettings>();
    for (const [name, plugin] of this.chosenFor(model)) {
      if (!plugin.entry) continue;
      const { operationsPerWorker, memoryLimitMb } = plugin;
      if (operationsPerWorker === undefined && memoryLimitMb === undefined) continue;
      settings.set(name, {
        ...(operationsPerWorker !== undefined && { operationsPerWorker }),
        ...(memoryLimitMb !== undefined && { memoryLimitMb }),
      });
    }
    return settings;
  }

  private chosenFor(model: {
    plugins: Record<string, { packageVersion?: string }>;
  }): Map<string, DiscoveredPlugin> {
    const chosen = new Map<string, DiscoveredPlugin>();
    for (const [name, declared] of Object.entries(model.plugins)) {
      const plugin =
        (declared.packageVersion !== undefined
          ? this.plugins.find((p) => p.name === name && p.version === declared.packageVersion)
          : undefined) ?? this.find(name);
      if (plugin) chosen.set(name, plugin);
    }
    return chosen;
  }
}

/**
 * Checks a plugin as a user would import it: its definition, its dependencies, and its types
 * file parsed with the blueprint parser as if a blueprint (with a tosca_definitions_version and
 * the standard library) imported `plugin:NAME`. `others` resolves the `plugin:` imports the
 * types file makes itself.
 */
const UNREADABLE = new Set(['plugin-json', 'plugin-yaml', 'yaml', 'yaml-limit', 'not-text', 'too-large']);

export function validatePlugin(
  plugin: DiscoveredPlugin,
  others: PluginSet = new PluginSet([plugin]),
): Problem[] {
  return checkedTypes(plugin, others).problems;
}

/** The plugin's problems, and its types as a blueprint importing it sees them (when they parse). */
function checkedTypes(
  plugin: DiscoveredPlugin,
  others: PluginSet,
): { problems: Problem[]; types?: ReturnType<typeof parseBlueprint>['blueprint'] } {
  const problems = [...plugin.problems];
  // A definition that could not be read is not parsed again (that would repeat its problems).
  if (!plugin.typesFile || problems.some((p) => UNREADABLE.has(p.code))) return { problems };
  const parsed = parsePluginTypes(plugin, others);
  problems.push(...parsed.problems.problems);
  return { problems, types: parsed.blueprint };
}

/**
 * Whether a plugin a blueprint declares with this `source:` runs from the installed plugins (the
 * plugin directories), rather than from files of the blueprint: with no source, or a URL.
 */
export const runsInstalled = (source: string | undefined): boolean => !source || /^[a-z]+:\/\//i.test(source);

/**
 * Problems of {@link validatePluginCode} that refuse a plugin's installation (its code does not
 * load, or lacks what its types name); the others (a plugin it requires missing) may be fixed by
 * installing another one next.
 */
export const PLUGIN_CODE_PROBLEMS: ReadonlySet<string> = new Set([
  'unknown-function',
  'plugin-load',
  'plugin-entry',
]);

/**
 * {@link validatePlugin}, then the plugin's code: its entry module loads, and every operation of
 * its own types that names it is a function the module exports.
 */
export async function validatePluginCode(
  plugin: DiscoveredPlugin,
  others: PluginSet = new PluginSet([plugin]),
): Promise<Problem[]> {
  const { problems, types } = checkedTypes(plugin, others);
  if (problems.length > 0 || !plugin.typesFile) return problems;
  // Operations are resolved for templates: one of each node type the plugin declares, and a
  // pair of nodes for each of its relationship types.
  const ownNames = (declared: Iterable<{ name: string; at?: Loc }> = []) =>
    [...declared].filter((type) => type.at?.file.path === plugin.typesFile).map((type) => type.name);
  const parsed = parsePluginTypes(plugin, others, {
    nodeTypes: ownNames(types?.nodeTypes.values()),
    relationshipTypes: ownNames(types?.relationshipTypes.values()),
  });
  const diagnostics = new Diagnostics();
  if (parsed.blueprint) await checkOwnFunctions(parsed.blueprint, plugin, diagnostics);
  return diagnostics.problems;
}

/** The plugin's types file, parsed as a blueprint that imports the plugin would see it. */
function parsePluginTypes(
  plugin: DiscoveredPlugin,
  others: PluginSet,
  templatesOf: { nodeTypes: string[]; relationshipTypes: string[] } = {
    nodeTypes: [],
    relationshipTypes: [],
  },
): ReturnType<typeof parseBlueprint> {
  const types = plugin.typesFile!;
  const declared = readDeclaredVersion(types);
  const version = declared ?? DSL_VERSIONS[DSL_VERSIONS.length - 1]!;
  const main = join(plugin.dir, `(blueprint importing plugin ${plugin.name}).yaml`);
  const templates = [
    ...templatesOf.nodeTypes.map((type, i) => `  t${i}: {type: ${JSON.stringify(type)}}\n`),
    ...templatesOf.relationshipTypes.map(
      (type, i) =>
        `  r${i}: {type: cloudify.nodes.Root, relationships: [{type: ${JSON.stringify(type)}, target: r${i}_target}]}\n  r${i}_target: {type: cloudify.nodes.Root}\n`,
    ),
  ].join('');
  const text = `tosca_definitions_version: ${version}\nimports:\n  - cloudify/types/types.yaml\n  - plugin:${plugin.name}\n${templates ? `node_templates:\n${templates}` : ''}`;
  const reader: BlueprintReader = {
    read: (path) =>
      path === main ? new TextEncoder().encode(text) : (generatedFile(path) ?? readFileSync(path)),
    isFile: (path) => path === main || generatedFile(path) !== undefined || isFile(path),
    resolvePlugin: (name, asked) =>
      name === plugin.name && (asked === undefined || versionMatches(plugin.version, asked))
        ? types
        : others.find(name, asked)?.typesFile,
  };
  return parseBlueprint(main, reader);
}

function readDeclaredVersion(path: string): string | undefined {
  try {
    const text = new TextDecoder().decode(generatedFile(path) ?? readFileSync(path));
    const doc: Value | undefined = parseYaml(text, path, new Diagnostics());
    const version = isMapping(doc) ? doc.tosca_definitions_version : undefined;
    return isDslVersion(version) ? version : undefined;
  } catch {
    return undefined;
  }
}

/** The directory holding `path` when it names a plugin.yaml or plugin.json file, else `path`. */
export function pluginDirOf(path: string): string {
  const base = basename(path);
  return (base === PLUGIN_YAML || base === PLUGIN_JSON) && existsSync(path) && !isDirectory(path)
    ? dirname(path)
    : path;
}
