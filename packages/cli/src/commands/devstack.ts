/**
 * `weft devstack stack|unstack|clean|packages`: a local.conf run as DevStack's stack.sh,
 * unstack.sh and clean.sh run it, as a deployment (default id `devstack`) of one
 * weft.nodes.DevStack node. The blueprint is written to the state directory's devstack/ID/ and
 * the ordinary commands run it: stack is `weft install` (which continues an interrupted stack),
 * unstack the stop workflow, clean uninstall (unstack, then each plugin's clean) followed by the
 * deployment's removal, so that the next stack starts afresh.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Environment, localPackageFormat, type PackageList } from '@weft/plugin-devstack';
import { NonRecoverableError } from '@weft/sdk';
import type { Command } from 'commander';
import { printJson, UsageError } from '../output.js';
import { openState, stateDir, stateOptions, workDir } from '../state.js';
import { runOptions } from './execution.js';
import { pluginDirOption } from './options.js';

interface DevStackFlags {
  deploymentId?: string;
  stateDir?: string;
  db?: string;
  allowPackages?: boolean;
  orderByRequires?: boolean;
  retryInFlight?: boolean;
  concurrency?: string;
  taskRetries?: string;
  taskRetryInterval?: string;
  json?: boolean;
  pluginDir?: string[];
  yes?: boolean;
}

const DEFAULT_ID = 'devstack';
/** The node of the generated blueprint. */
const NODE = 'devstack';

const idOption = (command: Command) =>
  command.option('-d, --deployment-id <ID>', `the environment's deployment (default ${DEFAULT_ID})`);

export function devstackCommands(program: Command): void {
  const devstack = program
    .command('devstack')
    .description('run a DevStack local.conf and the DevStack plugins it enables, as they are written');

  const stack = runOptions(
    stateOptions(
      idOption(
        devstack
          .command('stack')
          .description("stack.sh's plugin phases: fetch, settings, packages, pre-install ... test-config")
          .argument('[local.conf]', 'the local.conf', 'local.conf')
          .option(
            '--allow-packages',
            'install packages with the system package manager (else listed as needed)',
          )
          .option('--order-by-requires', 'run plugins after those they name in plugin_requires')
          .option('--retry-in-flight', 'when continuing, also run again the calls a crash interrupted'),
      ),
    ),
  ).addHelpText(
    'after',
    '\nExamples:\n  weft devstack stack\n  weft devstack stack my/local.conf --order-by-requires -d dev',
  );
  pluginDirOption(stack).action((localConf: string, flags: DevStackFlags) =>
    stackEnvironment(localConf, flags),
  );

  const unstack = runOptions(
    stateOptions(
      idOption(
        devstack
          .command('unstack')
          .description("unstack.sh: each plugin's unstack, then stops run_process's processes"),
      ),
    ),
  );
  pluginDirOption(unstack).action((flags: DevStackFlags) => delegate(['exec', 'stop', ...common(flags)]));

  const clean = runOptions(
    stateOptions(
      idOption(
        devstack
          .command('clean')
          .description("clean.sh: unstack, then each plugin's clean; the environment is removed"),
      ),
    ),
  );
  pluginDirOption(clean).action((flags: DevStackFlags) => cleanEnvironment(flags));

  stateOptions(
    idOption(
      devstack
        .command('packages')
        .description("the plugins' package lists (devstack/files/debs/NAME, rpms/NAME) for this machine")
        .argument('[local.conf]', 'the local.conf', 'local.conf')
        .option('--json', 'print the lists as JSON'),
    ),
  ).action((localConf: string, flags: DevStackFlags) => packages(localConf, flags));
}

/** The options the delegated command shares with this one. */
function common(flags: DevStackFlags): string[] {
  const args = ['-d', flags.deploymentId ?? DEFAULT_ID];
  if (flags.stateDir) args.push('--state-dir', flags.stateDir);
  if (flags.db) args.push('--db', flags.db);
  if (flags.concurrency) args.push('--concurrency', flags.concurrency);
  if (flags.taskRetries) args.push('--task-retries', flags.taskRetries);
  if (flags.taskRetryInterval) args.push('--task-retry-interval', flags.taskRetryInterval);
  if (flags.json) args.push('--json');
  for (const dir of flags.pluginDir ?? []) args.push('--plugin-dir', dir);
  return args;
}

/** Runs another weft command in this process, as if it had been typed. */
async function delegate(args: string[]): Promise<void> {
  const { createProgram } = await import('../program.js');
  const program = await createProgram(args);
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  await program.parseAsync(args, { from: 'user' });
}

function localConfPath(given: string): string {
  const path = resolve(given);
  if (!existsSync(path)) throw new UsageError(`${given}: no such file (a DevStack local.conf)`);
  return path;
}

/** A YAML string: JSON's double-quoted strings are YAML's. */
const yamlString = (text: string) => JSON.stringify(text);

/** The blueprint of one environment, written where the deployment's other state lives. */
function writeBlueprint(localConf: string, flags: DevStackFlags): string {
  const id = flags.deploymentId ?? DEFAULT_ID;
  const dir = join(stateDir(flags), 'devstack', id);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'blueprint.yaml');
  const text = `# Written by weft devstack stack: the DevStack environment of ${localConf}.
tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
  - plugin:devstack
node_templates:
  ${NODE}:
    type: weft.nodes.DevStack
    properties:
      local_conf: ${yamlString(localConf)}
      allow_packages: ${flags.allowPackages === true}
      order_by_requires: ${flags.orderByRequires === true}
`;
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
  return file;
}

/** The environment's directory of Weft files: the deployment node's (ctx.plugin.workdir, node name). */
function environmentDir(flags: DevStackFlags): string {
  return join(workDir(stateDir(flags)), flags.deploymentId ?? DEFAULT_ID, 'devstack', NODE);
}

/** local.conf's localrc run to learn its plugins; what is wrong with it is bad input (exit 2). */
async function openEnvironment(localConf: string, flags: DevStackFlags): Promise<Environment> {
  try {
    return await Environment.open({
      localConf,
      workdir: environmentDir(flags),
      log: (level, line) => level !== 'info' && process.stderr.write(`${line}\n`),
    });
  } catch (error) {
    if (error instanceof NonRecoverableError) throw new UsageError(error.message);
    throw error;
  }
}

async function stackEnvironment(localConfArg: string, flags: DevStackFlags): Promise<void> {
  const localConf = localConfPath(localConfArg);
  // Refused before a deployment exists: enable_plugin twice, a die in localrc, a missing command.
  await openEnvironment(localConf, flags);
  const blueprint = writeBlueprint(localConf, flags);
  // weft install does not install again what it installed (its instance stays started through
  // the stop workflow); after unstack, stack.sh's phases run again as three operations.
  if (await unstacked(flags)) {
    for (const operation of ['create', 'configure', 'start']) {
      await delegate([
        'exec',
        'execute_operation',
        '-p',
        `operation=cloudify.interfaces.lifecycle.${operation}`,
        ...(flags.taskRetries ? [] : ['--task-retries', '0']),
        ...common(flags),
      ]);
      if (process.exitCode) return;
    }
    return;
  }
  await delegate([
    'install',
    blueprint,
    // DevStack stops at the first failure; a plugin's failure is final, so there is nothing to retry.
    ...(flags.taskRetries ? [] : ['--task-retries', '0']),
    ...common(flags),
    ...(flags.retryInFlight ? ['--retry-in-flight'] : []),
  ]);
}

/**
 * Whether the environment was unstacked since it was last stacked: its last install, stop or
 * execute_operation is a stop that finished, or a stack run again after one.
 */
async function unstacked(flags: DevStackFlags): Promise<boolean> {
  const state = await openState(flags, { create: false });
  try {
    const id = flags.deploymentId ?? DEFAULT_ID;
    if (!(await state.store.getDeployment(id))) return false;
    const last = (await state.store.listExecutions(id))
      .filter((e) => ['install', 'stop', 'execute_operation'].includes(e.workflow))
      .at(-1);
    return (
      (last?.workflow === 'stop' && last.status === 'terminated') || last?.workflow === 'execute_operation'
    );
  } finally {
    await state.close();
  }
}

async function cleanEnvironment(flags: DevStackFlags): Promise<void> {
  await delegate(['uninstall', '--yes', ...common(flags)]);
  if (process.exitCode) return;
  await delegate([
    'deployments',
    'delete',
    flags.deploymentId ?? DEFAULT_ID,
    '--yes',
    ...storeOptions(flags),
  ]);
}

function storeOptions(flags: DevStackFlags): string[] {
  return [
    ...(flags.stateDir ? ['--state-dir', flags.stateDir] : []),
    ...(flags.db ? ['--db', flags.db] : []),
  ];
}

/**
 * The package lists of the plugins local.conf enables, fetched (into the environment's DEST, as
 * stack fetches them) when they are not there yet.
 */
async function packages(localConfArg: string, flags: DevStackFlags): Promise<void> {
  const env = await openEnvironment(localConfPath(localConfArg), flags);
  let lists: PackageList[];
  try {
    for (const plugin of env.plugins) await env.fetch(plugin);
    await env.readSettings();
    lists = env.packageLists();
  } catch (error) {
    if (error instanceof NonRecoverableError) throw new UsageError(error.message);
    throw error;
  }
  if (flags.json) {
    printJson({ format: localPackageFormat(), lists });
    return;
  }
  if (lists.length === 0) process.stdout.write(`No plugin lists ${localPackageFormat()} packages\n`);
  for (const list of lists)
    process.stdout.write(`${list.plugin} (${list.format}): ${list.packages.join(' ')}\n`);
}
