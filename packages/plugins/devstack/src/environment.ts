/**
 * A DevStack environment: a local.conf and the plugins it enables, each step of stack.sh,
 * unstack.sh and clean.sh that concerns plugins run in a bash of its own (see shell.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NonRecoverableError } from '@weft/sdk';
import { fetchPlugin, type PluginSource } from './fetch.js';
import { type LocalConf, localrcScript, type MergeGroup, mergeScript, parseLocalConf } from './local-conf.js';
import { installCommand, localPackageFormat, type PackageList, pluginPackages } from './packages.js';
import { checkRequirements, misordered, orderByRequires, requirementGraph } from './requires.js';
import { type Action, runShell, type ShellResult } from './shell.js';

export interface EnvironmentOptions {
  /** local.conf (absolute). */
  localConf: string;
  /** Weft's files for this environment; DEST is its `stack/` unless localrc sets DEST. */
  workdir: string;
  /** install_package and the plugins' package lists go through the system package manager. */
  allowPackages?: boolean;
  /** Run plugins with their plugin_requires first (otherwise in declaration order). */
  orderByRequires?: boolean;
  log?: (level: 'info' | 'warning' | 'error', line: string) => void;
  signal?: AbortSignal;
}

export interface EnabledPlugin extends PluginSource {
  /** Where local.conf enables it (`local.conf:LINE`). */
  where: string;
}

export interface PluginCall {
  mode: 'stack' | 'unstack' | 'clean';
  phase?: string;
  plugin: string;
}

export class Environment {
  readonly options: EnvironmentOptions;
  readonly conf: LocalConf;
  readonly localrcCopy: string;
  /** DEST as localrc leaves it. */
  dest = '';
  /** In declaration order. */
  plugins: EnabledPlugin[] = [];
  /** The order plugins run in (declaration order, or requirements first). */
  order: string[] = [];
  /** ENABLED_SERVICES after the plugins' settings. */
  services: string[] = [];
  readonly neededPackagesFile: string;

  private constructor(options: EnvironmentOptions, conf: LocalConf) {
    this.options = options;
    this.conf = conf;
    mkdirSync(options.workdir, { recursive: true });
    this.localrcCopy = join(options.workdir, 'localrc.sh');
    this.neededPackagesFile = join(options.workdir, 'packages-needed');
    writeFileSync(this.localrcCopy, localrcScript(conf));
  }

  /** Reads local.conf and runs its localrc section to learn the plugins it enables and DEST. */
  static async open(options: EnvironmentOptions): Promise<Environment> {
    let text: string;
    try {
      text = readFileSync(options.localConf, 'utf8');
    } catch (error) {
      throw new NonRecoverableError(
        `cannot read ${options.localConf}: ${(error as NodeJS.ErrnoException).code}`,
      );
    }
    const env = new Environment(options, parseLocalConf(options.localConf, text));
    const result = await env.shell('discover');
    if (result.code !== 0) {
      // A located error (`[ERROR] local.conf:4 message`) is the whole story: `local.conf:4: message`.
      const located = result.tail.map((l) => /^\[ERROR\] (\S+:\d+):? (.*)$/.exec(l)).findLast(Boolean);
      throw new NonRecoverableError(
        located ? `${located[1]}: ${located[2]}` : shellFailure(`${options.localConf}: localrc`, result),
      );
    }
    for (const report of result.reports) {
      if (report[0] === 'dest') env.dest = resolve(dirname(options.localConf), report[1] ?? '');
      if (report[0] === 'plugin') {
        const [, name = '', url = '', ref = 'master', where = ''] = report;
        env.plugins.push({ name, url, ref, where, dir: '' });
      }
    }
    // GITDIR[NAME], $DEST/NAME as DEST was when enable_plugin ran.
    for (const report of result.reports) {
      const plugin = report[0] === 'gitdir' ? env.plugins.find((p) => p.name === report[1]) : undefined;
      if (plugin) plugin.dir = resolve(dirname(options.localConf), report[2] ?? '');
    }
    env.order = env.plugins.map((p) => p.name);
    return env;
  }

  get defaultDest(): string {
    return join(this.options.workdir, 'stack');
  }

  private log(level: 'info' | 'warning' | 'error', line: string): void {
    this.options.log?.(level, line);
  }

  private shell(action: Action, extra: Partial<Parameters<typeof runShell>[0]> = {}): Promise<ShellResult> {
    return runShell({
      action,
      localConf: this.options.localConf,
      localrcCopy: this.localrcCopy,
      defaultDest: this.defaultDest,
      order: this.order,
      signal: this.options.signal,
      env: {
        WEFT_ALLOW_PACKAGES: this.options.allowPackages ? 'True' : 'False',
        WEFT_NEEDED_PACKAGES: this.neededPackagesFile,
      },
      ...extra,
    });
  }

  /** Clones every plugin not cloned yet at its ref; returns the commit checked out. */
  async fetch(plugin: EnabledPlugin): Promise<string> {
    const commit = await fetchPlugin(plugin, dirname(this.options.localConf));
    this.log(
      'info',
      `${plugin.name}: ${plugin.url} at ${plugin.ref} (${commit.slice(0, 12)}) in ${plugin.dir}`,
    );
    return commit;
  }

  /**
   * Sources the plugins' settings: ENABLED_SERVICES, and define_plugin / plugin_requires, whose
   * requirements are checked (and order the plugins with orderByRequires).
   */
  async readSettings(): Promise<void> {
    const declared = this.plugins.map((p) => p.name);
    this.order = declared;
    const result = await this.shell('settings', {
      onLine: (line, stream) => this.log(stream === 'stderr' ? 'warning' : 'info', line),
    });
    if (result.code !== 0) throw new NonRecoverableError(shellFailure('the plugins settings', result));
    const defines = new Map<string, string>();
    const requires: [string, string][] = [];
    for (const report of result.reports) {
      if (report[0] === 'services') this.services = (report[1] ?? '').split(',').filter(Boolean);
      if (report[0] === 'define' && report[1]) defines.set(report[1], report[2] ?? '');
      if (report[0] === 'requires') requires.push([report[1] ?? '', report[2] ?? '']);
    }
    const graph = requirementGraph(declared, { defines, requires });
    checkRequirements(declared, graph);
    if (this.options.orderByRequires) {
      this.order = orderByRequires(declared, graph);
    } else {
      for (const [plugin, requirement] of misordered(declared, graph))
        this.log(
          'warning',
          `${plugin} requires ${requirement}, which local.conf enables after it: plugins run in declaration order (--order-by-requires runs ${requirement} first)`,
        );
    }
  }

  /** The plugins in run order. */
  ordered(): EnabledPlugin[] {
    return this.order.map((name) => this.plugins.find((p) => p.name === name)!);
  }

  /** Whether a plugin has a devstack/plugin.sh to call (DevStack skips those without). */
  hasScript(plugin: EnabledPlugin): boolean {
    return existsSync(join(plugin.dir, 'devstack', 'plugin.sh'));
  }

  /** `source devstack/plugin.sh MODE [PHASE]` of one plugin. */
  async call(call: PluginCall): Promise<void> {
    const label = [call.mode, call.phase].filter(Boolean).join(' ');
    this.log('info', `${call.plugin}: ${label}`);
    const result = await this.shell('call', {
      mode: call.mode,
      phase: call.phase,
      plugin: call.plugin,
      onLine: (line, stream) => this.log(stream === 'stderr' ? 'warning' : 'info', `${call.plugin}: ${line}`),
    });
    if (result.code !== 0) {
      throw new NonRecoverableError(shellFailure(`DevStack plugin ${call.plugin} at ${label}`, result), {
        causes: result.tail.length ? [{ type: 'output', message: result.tail.join('\n') }] : [],
      });
    }
  }

  /** Merges local.conf's `[[GROUP|FILE]]` sections into their files (merge_config_group). */
  async merge(group: MergeGroup): Promise<void> {
    const script = join(this.options.workdir, `merge-${group}.sh`);
    writeFileSync(script, mergeScript(this.conf, group));
    const result = await this.shell('merge', {
      mergeScript: script,
      onLine: (line, stream) => this.log(stream === 'stderr' ? 'warning' : 'info', line),
    });
    if (result.code !== 0)
      throw new NonRecoverableError(shellFailure(`merging ${group} of local.conf`, result));
  }

  /** Stops what run_process started and is still running (unstack.sh stops the services). */
  async stopProcesses(): Promise<void> {
    const result = await this.shell('stop-processes', {
      onLine: (line, stream) => this.log(stream === 'stderr' ? 'warning' : 'info', line),
    });
    if (result.code !== 0) throw new NonRecoverableError(shellFailure('stopping processes', result));
  }

  /** The plugins' package lists for this machine. */
  packageLists(): PackageList[] {
    return pluginPackages(this.ordered(), localPackageFormat());
  }

  /** Packages install_package was asked for and did not install (without allowPackages). */
  neededByScripts(): string[] {
    if (!existsSync(this.neededPackagesFile)) return [];
    return [...new Set(readFileSync(this.neededPackagesFile, 'utf8').split('\n').filter(Boolean))];
  }

  /**
   * The plugins' package lists: installed with allowPackages, otherwise listed in a warning.
   * Returns the packages still needed.
   */
  async installPackages(): Promise<string[]> {
    const lists = this.packageLists();
    const packages = [...new Set(lists.flatMap((l) => l.packages))];
    if (packages.length === 0) return [];
    if (!this.options.allowPackages) {
      for (const list of lists)
        this.log(
          'warning',
          `${list.plugin} lists packages (${list.format}), not installed without --allow-packages: ${list.packages.join(' ')}`,
        );
      return packages;
    }
    const [command, ...args] = installCommand(localPackageFormat(), packages);
    this.log('info', `installing packages: ${packages.join(' ')}`);
    const tail: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      for (const stream of [child.stdout, child.stderr]) {
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          for (const line of chunk.split('\n').filter(Boolean)) {
            tail.push(line);
            if (tail.length > 20) tail.shift();
            this.log('info', line);
          }
        });
      }
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0)
      throw new NonRecoverableError(`installing packages ${packages.join(' ')} failed (exit ${code})`, {
        causes: [{ type: 'output', message: tail.join('\n') }],
      });
    return [];
  }
}

/** A failed step's report: what failed, how it ended, and its last line of error output. */
function shellFailure(what: string, result: ShellResult): string {
  const ended = result.signal ? `killed by ${result.signal}` : `exit ${result.code}`;
  const error = [...result.tail].reverse().find((line) => line.startsWith('[ERROR]'));
  const last = error ?? result.tail.at(-1);
  return `${what} failed (${ended})${last ? `: ${last.replace(/^\[ERROR\] /, '')}` : ''}`;
}
