/**
 * `weft plugins list|validate|install|remove`.
 */

import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import {
  type DiscoveredPlugin,
  discoverPlugins,
  formatProblem,
  PLUGIN_CODE_PROBLEMS,
  PluginSet,
  type Problem,
  pluginDirOf,
  readPlugin,
  runsInstalled,
  validatePluginCode,
} from '@weft/engine';
import type { Command } from 'commander';
import { create as createTar } from 'tar';
import { EXIT, printJson, UsageError } from '../output.js';
import { type ApiClient, ApiRefusal } from '../remote/client.js';
import { remoteOr } from '../remote/commands.js';
import { type PluginView, remotePlugins } from '../remote/inspect.js';
import { openState, stateDir } from '../state.js';
import { pluginDirOption } from './options.js';
import {
  installedPlugins,
  isDirectory,
  type PluginDirOptions,
  pluginSearchDirs,
  type SearchDir,
  statePluginsDir,
} from './plugin-search.js';

/** Written into an installed plugin's directory: where it came from. */
const ORIGIN_FILE = '.weft-origin.json';

interface Origin {
  source: string;
  kind: 'path' | 'git' | 'npm' | 'tarball';
  ref?: string;
  commit?: string;
  installedAt: string;
}

const PLUGIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function readOrigin(dir: string): Origin | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, ORIGIN_FILE), 'utf8')) as Origin;
  } catch {
    return undefined;
  }
}

function originText(origin: Origin): string {
  if (origin.kind === 'git')
    return `${origin.source}${origin.commit ? ` (${origin.commit.slice(0, 12)})` : ''}`;
  return origin.source;
}

function describePlugin(plugin: DiscoveredPlugin, search: SearchDir[]) {
  const via = search.find((s) => s.dir === plugin.searchDir)?.via;
  const origin = via === 'state' ? readOrigin(plugin.dir) : undefined;
  return {
    name: plugin.name,
    version: plugin.version ?? null,
    packageName: plugin.packageName ?? null,
    dir: plugin.dir,
    searchDir: plugin.searchDir,
    foundVia: via ?? null,
    origin: origin ?? null,
    format: plugin.format,
    typesFile: plugin.typesFile ?? null,
    entry: plugin.entry ?? null,
    requires: plugin.requires,
    problems: plugin.problems,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => `${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`)
    .join('');
}

function printProblemLines(problems: Problem[], cwd?: string): void {
  for (const problem of problems) process.stderr.write(`${formatProblem(problem, cwd)}\n`);
  process.stderr.write(`${problems.length} problem${problems.length === 1 ? '' : 's'} found\n`);
}

/** Runs a command, its failure being a one-line usage error. */
function run(command: string, args: string[], what: string, cwd?: string): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UsageError(
      `${what}: ${missing ? `the '${command}' command is not installed` : result.error.message}`,
    );
  }
  if (result.status !== 0) {
    const lines = result.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^npm (warn|notice)/i.test(l));
    const reason =
      lines.find((l) => /^(fatal|error|npm error)\b/i.test(l) && !/^npm error (code|errno)\b/i.test(l)) ??
      lines.pop() ??
      `exit code ${result.status}`;
    throw new UsageError(`${what}: ${reason.replace(/^(fatal|error|npm error):\s*/i, '')}`);
  }
  return result.stdout;
}

function refuseOption(text: string, what: string): void {
  if (text.startsWith('-')) throw new UsageError(`${what} '${text}' may not start with '-'`);
}

/** Clones `git+URL#REF` into `into` at REF (a branch, tag or commit; default: the default branch). */
function fetchGit(spec: string, into: string): { ref?: string; commit: string } {
  const rest = spec.slice('git+'.length);
  const hash = rest.lastIndexOf('#');
  const url = hash >= 0 ? rest.slice(0, hash) : rest;
  const ref = hash >= 0 ? rest.slice(hash + 1) : undefined;
  if (!url) throw new UsageError(`${spec}: expected git+URL#REF`);
  refuseOption(url, 'git URL');
  if (ref !== undefined) refuseOption(ref, 'git ref');
  run('git', ['clone', '--quiet', '--no-checkout', '--', url, into], `git clone ${url} failed`);
  let commit: string | undefined;
  for (const candidate of ref === undefined ? ['HEAD'] : [ref, `origin/${ref}`]) {
    const result = spawnSync(
      'git',
      ['-C', into, 'rev-parse', '--verify', '--quiet', `${candidate}^{commit}`],
      {
        encoding: 'utf8',
      },
    );
    if (result.status === 0) {
      commit = result.stdout.trim();
      break;
    }
  }
  if (!commit)
    throw new UsageError(
      ref === undefined ? `${url} has no commits` : `${url} has no branch, tag or commit '${ref}'`,
    );
  run(
    'git',
    ['-C', into, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit],
    `git checkout ${ref ?? 'HEAD'} failed`,
  );
  rmSync(join(into, '.git'), { recursive: true, force: true });
  return ref === undefined ? { commit } : { ref, commit };
}

/** Extracts a package tarball; the plugin is its `package/` directory (or its only directory). */
function extractTarball(file: string, into: string): string {
  mkdirSync(into, { recursive: true });
  run('tar', [/\.tar$/.test(file) ? '-xf' : '-xzf', file, '-C', into], `cannot extract ${basename(file)}`);
  if (readPlugin(into)) return into;
  if (readPlugin(join(into, 'package'))) return join(into, 'package');
  const dirs = readdirSync(into).filter((name) => isDirectory(join(into, name)));
  return dirs.length === 1 ? join(into, dirs[0]!) : into;
}

const isTarball = (path: string) => /\.(tgz|tar\.gz|tar)$/.test(path);

/** Fetches SOURCE into the staging directory; returns the plugin's directory there and its origin. */
function fetchPlugin(source: string, staging: string, state: string): { dir: string; origin: Origin } {
  const installedAt = new Date().toISOString();
  if (source.startsWith('git+')) {
    const dir = join(staging, 'git');
    return { dir, origin: { source, kind: 'git', ...fetchGit(source, dir), installedAt } };
  }
  const local = resolve(source);
  if (!source.startsWith('npm:') && isDirectory(local)) {
    const dir = join(staging, 'copy');
    cpSync(local, dir, {
      recursive: true,
      filter: (path) => basename(path) !== '.git' && resolve(path) !== state,
    });
    return { dir, origin: { source: local, kind: 'path', installedAt } };
  }
  if (!source.startsWith('npm:') && isTarball(source) && existsSync(local))
    return {
      dir: extractTarball(local, join(staging, 'tarball')),
      origin: { source: local, kind: 'tarball', installedAt },
    };
  if (!source.startsWith('npm:')) {
    if (existsSync(local))
      throw new UsageError(`${source}: not a plugin directory or a package tarball (.tgz)`);
    if (/^[./~]/.test(source) || isTarball(source))
      throw new UsageError(`${source}: no such file or directory`);
  }
  const spec = source.startsWith('npm:') ? source.slice('npm:'.length) : source;
  if (!spec) throw new UsageError(`${source}: expected an npm package name`);
  refuseOption(spec, 'npm package');
  const out = run(
    'npm',
    ['pack', spec, '--json', '--pack-destination', staging, '--ignore-scripts'],
    `npm pack ${spec} failed`,
    staging,
  );
  let filename: string | undefined;
  try {
    filename = (JSON.parse(out.slice(out.indexOf('['))) as { filename?: string }[])[0]?.filename;
  } catch {
    filename = undefined;
  }
  if (!filename) throw new UsageError(`npm pack ${spec} did not say which file it wrote`);
  return {
    dir: extractTarball(join(staging, basename(filename)), join(staging, 'npm')),
    origin: { source, kind: 'npm', installedAt },
  };
}

/**
 * Installs a fetched plugin's npm `dependencies` into its node_modules (unless it ships one).
 * `@weft/*` packages are left out: plugins use the engine's. They go through a package.json of
 * their own, so that the plugin's (which names `@weft/sdk`) is not touched; relative `file:`
 * paths are read from `base`, where the plugin came from. Dependencies are copied, not linked
 * (--install-links): the plugin directory moves after this.
 */
function installDependencies(dir: string, base: string, staging: string, source: string): void {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest) || existsSync(join(dir, 'node_modules'))) return;
  let declared: Record<string, string>;
  try {
    declared =
      (JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> })
        .dependencies ?? {};
  } catch (error) {
    throw new UsageError(`${source}: package.json: ${(error as Error).message}`);
  }
  const dependencies: Record<string, string> = {};
  for (const [name, spec] of Object.entries(declared)) {
    if (name.startsWith('@weft/')) continue;
    const path = /^file:(?!\/)/.test(spec) ? `file:${resolve(base, spec.slice('file:'.length))}` : spec;
    dependencies[name] = path;
  }
  if (Object.keys(dependencies).length === 0) return;
  const work = join(staging, 'dependencies');
  mkdirSync(work);
  writeFileSync(join(work, 'package.json'), JSON.stringify({ private: true, dependencies }, null, 2));
  run(
    'npm',
    ['install', '--omit=dev', '--install-links', '--no-audit', '--no-fund', '--no-package-lock'],
    `${source}: installing its dependencies failed`,
    work,
  );
  renameSync(join(work, 'node_modules'), join(dir, 'node_modules'));
}

interface InstallFlags {
  stateDir?: string;
  force?: boolean;
  json?: boolean;
}

/** The error that refuses an installation: its problem, or each of them on a line of its own. */
function refusal(source: string, problems: Problem[], dir: string): UsageError {
  const all = problems.map((problem) => formatProblem(problem, dir));
  return new UsageError(
    all.length === 1
      ? `cannot install ${source}: ${all[0]}`
      : `cannot install ${source}: ${all.length} problems:\n${all.map((line) => `  ${line}`).join('\n')}`,
  );
}

/**
 * Installs a plugin on the server: fetched and given its npm dependencies here as for a local
 * install, then sent as a tar.gz of its directory, which the server checks and keeps.
 */
async function remoteInstall(client: ApiClient, source: string, flags: InstallFlags): Promise<void> {
  const staging = mkdtempSync(join(tmpdir(), 'weft-plugin-'));
  try {
    const { dir, origin } = fetchPlugin(source, staging, staging);
    const plugin = readPlugin(dir);
    if (!plugin) throw new UsageError(`${source} holds no plugin.yaml or plugin.json`);
    if (plugin.problems.length > 0) throw refusal(source, plugin.problems, dir);
    installDependencies(dir, origin.kind === 'path' ? origin.source : dir, staging, source);
    const archive = await streamBytes(
      createTar({ gzip: true, cwd: dir, portable: true }, readdirSync(dir).sort()),
    );
    const query = flags.force ? '?force=true' : '';
    const made = await client
      .upload<PluginView>('POST', `/plugins${query}`, 'application/gzip', archive)
      .catch((error: unknown) => {
        if (error instanceof ApiRefusal && error.status === 409 && !flags.force)
          throw new UsageError(
            `plugin '${plugin.name}' is already installed on ${client.server.url}; remove it first (weft plugins remove ${plugin.name}) or use --force`,
          );
        if (error instanceof ApiRefusal) throw new UsageError(`cannot install ${source}: ${error.message}`);
        throw error;
      });
    if (flags.json) printJson({ ...made, origin });
    else
      process.stdout.write(
        `Installed plugin '${made.name}'${made.version ? ` ${made.version}` : ''} on ${client.server.url} (from ${originText(origin)})\n`,
      );
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

async function streamBytes(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function remoteRemove(
  client: ApiClient,
  name: string,
  flags: { json?: boolean; force?: boolean },
): Promise<void> {
  if (!PLUGIN_NAME.test(name)) throw new UsageError(`'${name}' is not a plugin name`);
  await client
    .request('DELETE', `/plugins/${name}${flags.force ? '?force=true' : ''}`)
    .catch((error: unknown) => {
      if (error instanceof ApiRefusal && error.status === 404)
        throw new UsageError(`no plugin '${name}' is installed on ${client.server.url}`);
      if (error instanceof ApiRefusal && error.status === 409 && error.body.details)
        throw new UsageError(`${error.message.replace('?force=true', '--force')}`);
      throw error;
    });
  if (flags.json) printJson({ name, removed: [client.server.url] });
  else process.stdout.write(`Removed plugin '${name}' from ${client.server.url}\n`);
}

async function install(source: string, flags: InstallFlags): Promise<void> {
  const state = stateDir(flags);
  const root = statePluginsDir(flags, state);
  mkdirSync(root, { recursive: true });
  const staging = mkdtempSync(join(root, '.install-'));
  try {
    const { dir, origin } = fetchPlugin(source, staging, state);
    const plugin = readPlugin(dir);
    if (!plugin) throw new UsageError(`${source} holds no plugin.yaml or plugin.json`);
    if (plugin.problems.length > 0) throw refusal(source, plugin.problems, dir);
    installDependencies(dir, origin.kind === 'path' ? origin.source : dir, staging, source);
    // Its code, now that its dependencies are there: the module loads and exports what its types
    // name. (Missing plugin dependencies stay warnings: they may be installed next.)
    const others = new PluginSet([
      plugin,
      ...installedPlugins(flags).plugins.filter((p) => p.name !== plugin.name),
    ]);
    const code = (await validatePluginCode(plugin, others)).filter((p) => PLUGIN_CODE_PROBLEMS.has(p.code));
    if (code.length > 0) throw refusal(source, code, dir);
    const target = join(root, plugin.name);
    if (existsSync(target)) {
      if (!flags.force)
        throw new UsageError(
          `plugin '${plugin.name}' is already installed in ${shown(target)}; remove it first (weft plugins remove ${plugin.name}) or use --force`,
        );
      rmSync(target, { recursive: true, force: true });
    }
    writeFileSync(join(dir, ORIGIN_FILE), `${JSON.stringify(origin, null, 2)}\n`);
    renameSync(dir, target);
    const installed = PluginSet.discover([root]).plugins.find((p) => p.dir === target);
    if (flags.json) printJson({ name: plugin.name, version: plugin.version ?? null, dir: target, origin });
    else
      process.stdout.write(
        `Installed plugin '${plugin.name}'${plugin.version ? ` ${plugin.version}` : ''} in ${shown(target)} (from ${originText(origin)})\n`,
      );
    for (const problem of installed?.problems ?? [])
      if (problem.code === 'plugin-dependency') process.stderr.write(`warning: ${problem.message}\n`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** What still needs plugin NAME: deployments of this state whose model runs it, and installed plugins requiring it. */
async function usersOf(
  name: string,
  flags: { stateDir?: string; db?: string },
  dirs: Set<string>,
): Promise<string[]> {
  const users = installedPlugins(flags)
    .plugins.filter((p) => !dirs.has(p.dir) && p.requires.includes(name))
    .map((p) => `plugin '${p.name}'`);
  const state = stateDir(flags);
  if (!flags.db && !process.env.WEFT_DATABASE_URL && !existsSync(join(state, 'weft.db'))) return users;
  const opened = await openState(flags);
  try {
    for (const deployment of await opened.store.listDeployments()) {
      const declared = (deployment.model as { plugins?: Record<string, { source?: string }> } | null)
        ?.plugins?.[name];
      if (declared && runsInstalled(declared.source)) users.push(`deployment '${deployment.id}'`);
    }
  } finally {
    await opened.close();
  }
  return users;
}

async function remove(
  name: string,
  flags: { stateDir?: string; db?: string; pluginDir?: string[]; json?: boolean; force?: boolean },
): Promise<void> {
  if (!PLUGIN_NAME.test(name)) throw new UsageError(`'${name}' is not a plugin name`);
  const root = statePluginsDir(flags);
  const dirs = new Set(
    discoverPlugins([root])
      .filter((p) => p.name === name && p.dir !== root)
      .map((p) => p.dir),
  );
  if (isDirectory(join(root, name))) dirs.add(join(root, name));
  if (dirs.size === 0) {
    const elsewhere = installedPlugins(flags).find(name);
    throw new UsageError(
      elsewhere
        ? `plugin '${name}' is not installed in ${shown(root)}; it is found in ${shown(elsewhere.dir)}, which weft does not manage`
        : `no plugin '${name}' is installed in ${shown(root)}`,
    );
  }
  if (!flags.force) {
    const users = await usersOf(name, flags, dirs);
    if (users.length > 0) {
      const deployments = users.some((user) => user.startsWith('deployment'));
      throw new UsageError(
        `plugin '${name}' is still used by ${users.join(', ')}; ${deployments ? 'uninstall and delete those deployments' : 'remove those plugins'} first, or use --force`,
      );
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (flags.json) printJson({ name, removed: [...dirs] });
  else for (const dir of dirs) process.stdout.write(`Removed plugin '${name}' (${shown(dir)})\n`);
}

function list(flags: PluginDirOptions & { json?: boolean }): void {
  const search = pluginSearchDirs(flags);
  const plugins = installedPlugins(flags).plugins.map((p) => describePlugin(p, search));
  if (flags.json) {
    printJson({ plugins });
    return;
  }
  if (plugins.length === 0) {
    process.stdout.write(`No plugins found (searched ${search.map((s) => shown(s.dir)).join(', ')})\n`);
    return;
  }
  const rows = [['NAME', 'VERSION', 'DIR', 'SOURCE']];
  for (const p of plugins) {
    const source = p.origin ? originText(p.origin) : `${p.foundVia} ${shown(p.searchDir)}`;
    rows.push([p.name, p.version ?? '-', shown(p.dir), source]);
  }
  process.stdout.write(table(rows));
  for (const p of plugins)
    for (const problem of p.problems) process.stdout.write(`${p.name}: ${formatProblem(problem)}\n`);
}

async function validate(given: string, flags: PluginDirOptions & { json?: boolean }): Promise<void> {
  const dir = resolve(pluginDirOf(given));
  if (!isDirectory(dir)) throw new UsageError(`${given}: no such directory`);
  if (!readPlugin(dir)) throw new UsageError(`${given} holds no plugin.yaml or plugin.json`);
  const set = new PluginSet(discoverPlugins([dir, ...pluginSearchDirs(flags).map((s) => s.dir)]));
  const plugin = set.plugins.find((p) => p.dir === dir)!;
  const problems = await validatePluginCode(plugin, set);
  if (flags.json) {
    printJson({ valid: problems.length === 0, name: plugin.name, version: plugin.version ?? null, problems });
  } else if (problems.length > 0) {
    printProblemLines(problems);
  } else {
    const parts = [
      `types ${shown(plugin.typesFile!)}`,
      plugin.entry ? `entry ${shown(plugin.entry)}` : 'no entry module',
    ];
    if (plugin.requires.length > 0) parts.push(`requires ${plugin.requires.join(', ')}`);
    process.stdout.write(
      `valid: plugin '${plugin.name}'${plugin.version ? ` ${plugin.version}` : ''} (${parts.join('; ')})\n`,
    );
  }
  if (problems.length > 0) process.exitCode = EXIT.badInput;
}

const stateDirOption = (command: Command) =>
  command.option(
    '--state-dir <DIR>',
    'the state directory, whose plugins/ holds installed plugins (default ./.weft, or WEFT_HOME)',
  );

export function pluginCommands(program: Command): void {
  const plugins = program
    .command('plugins')
    .description(
      'plugins: list the ones found, validate one, install (from a path, git+URL#REF or npm) and remove',
    )
    .addHelpText(
      'after',
      `
Plugins are searched in --plugin-dir directories, then WEFT_PLUGIN_DIRS, then the state
directory's plugins/ (where install puts them), then the built-in ones (script, rest, fabric,
utilities). A blueprint imports one as plugin:NAME (or plugin:NAME?version=1.2, or a constraint
such as ?version=>=1.2).

Examples:
  weft plugins install ./my-plugin
  weft plugins install git+https://example.com/my-plugin.git#v1.2.0
  weft plugins install my-plugin-package
  weft plugins validate ./my-plugin
  weft plugins list --json
  weft plugins remove my-plugin`,
    );
  pluginDirOption(
    stateDirOption(
      plugins.command('list').description('the plugins found, with version, directory and source'),
    ),
  )
    .option('--json', 'print JSON')
    .action((flags: PluginDirOptions & { json?: boolean }) =>
      remoteOr(
        // --plugin-dir names local directories: listing them is local too.
        { ...flags, ...(flags.pluginDir ? { stateDir: flags.stateDir ?? '' } : {}) },
        (client) => remotePlugins(client, flags.json),
        async () => list(flags),
      ),
    );
  pluginDirOption(
    stateDirOption(
      plugins
        .command('validate')
        .description('check a plugin directory: its plugin.yaml or plugin.json, its types, its dependencies')
        .argument('<dir>', 'the plugin directory'),
    ),
  )
    .option('--json', 'print JSON')
    .action((dir: string, flags: PluginDirOptions & { json?: boolean }) => validate(dir, flags));
  stateDirOption(
    plugins
      .command('install')
      .description(
        "copy a plugin into the state directory's plugins/NAME; with a server profile, pack it and upload it to the server (a superuser's token)",
      )
      .argument(
        '<source>',
        'a directory, a .tgz package, git+URL#REF (branch, tag or commit), or an npm package name',
      ),
  )
    .option('--force', 'replace an installed plugin of the same name')
    .option('--json', 'print JSON')
    .action((source: string, flags: InstallFlags) =>
      remoteOr(
        flags,
        (client) => remoteInstall(client, source, flags),
        () => install(source, flags),
      ),
    );
  stateDirOption(
    plugins
      .command('remove')
      .description(
        "delete an installed plugin from the state directory's plugins/, or one uploaded to the server",
      )
      .argument('<name>', 'the plugin name'),
  )
    .option(
      '--db <URL>',
      "the database whose deployments are checked for use (default WEFT_DATABASE_URL, else the state directory's)",
    )
    .option('--force', 'remove it even while deployments or other plugins use it')
    .option('--json', 'print JSON')
    .action((name: string, flags: { stateDir?: string; db?: string; json?: boolean; force?: boolean }) =>
      remoteOr(
        flags,
        (client) => remoteRemove(client, name, flags),
        () => remove(name, flags),
      ),
    );
}
