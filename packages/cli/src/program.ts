import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { pluginDirOption } from './commands/options.js';
import { setVerbosity } from './output.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

type Define = (program: Command) => void;

/**
 * The modules that define the commands, by the names of the commands each defines. A module is
 * imported only when one of its commands runs (or help lists them all): loading the engine and
 * every command's dependencies is most of the start-up time of a short command.
 */
export const COMMAND_MODULES: { names: string[]; load: () => Promise<Define> }[] = [
  { names: ['validate'], load: async () => (await import('./commands/validate.js')).validateCommand },
  { names: ['plan'], load: async () => (await import('./commands/plan.js')).planCommand },
  {
    names: ['install', 'uninstall', 'exec', 'resume', 'cancel'],
    load: async () => (await import('./commands/run.js')).runCommands,
  },
  {
    names: ['outputs', 'instances', 'executions', 'events', 'deployments'],
    load: async () => (await import('./commands/inspect.js')).inspectCommands,
  },
  { names: ['update'], load: async () => (await import('./commands/update.js')).updateCommand },
  { names: ['check'], load: async () => (await import('./commands/check.js')).checkCommand },
  { names: ['stack'], load: async () => (await import('./commands/stack.js')).stackCommands },
  { names: ['signal'], load: async () => (await import('./commands/signal.js')).signalCommand },
  { names: ['secrets'], load: async () => (await import('./commands/secrets.js')).secretCommands },
  { names: ['plugins'], load: async () => (await import('./commands/plugins.js')).pluginCommands },
  { names: ['serve'], load: async () => (await import('./commands/serve.js')).serveCommand },
  { names: ['worker'], load: async () => (await import('./commands/worker.js')).workerCommand },
  { names: ['agent'], load: async () => (await import('./commands/agent.js')).agentCommands },
  { names: ['tokens'], load: async () => (await import('./commands/tokens.js')).tokenCommands },
  { names: ['profiles'], load: async () => (await import('./commands/profiles.js')).profileCommands },
  { names: ['blueprints'], load: async () => (await import('./commands/blueprints.js')).blueprintCommands },
  { names: ['devstack'], load: async () => (await import('./commands/devstack.js')).devstackCommands },
];

/** Every command that loads a blueprint or runs operations searches --plugin-dir too. */
const PLUGIN_DIR_COMMANDS = [
  'validate',
  'plan',
  'install',
  'update',
  'check',
  'uninstall',
  'exec',
  'resume',
  'serve',
  'worker',
];

/** The program with its global options and no commands. */
function root(): Command {
  return new Command('weft')
    .description('Weft: run Cloudify-style blueprints, in parallel, durably')
    .version(pkg.version, '-v, --version', 'print the version')
    .option('-q, --quiet', 'print only results and errors (no progress, no events)')
    .option('--verbose', 'also print debug logs of operations')
    .option('--debug', 'show stack traces for unexpected errors')
    .hook('preAction', (weft) => setVerbosity(weft.opts()))
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Exit codes: 0 success, 1 a failed execution, 2 bad input or usage.

Examples:
  weft validate examples/three-tier/blueprint.yaml
  weft plan examples/three-tier/blueprint.yaml -i web_port=8080`,
    );
}

/**
 * The command that arguments select, as the program's own parsing finds it (global options may
 * come first); undefined when they name none, or name one that does not exist (help and
 * suggestions then need every command); null when global options alone end the run (--version,
 * a global option's error).
 */
function selectedCommand(args: string[]): string | undefined | null {
  const probe = root()
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  let operands: string[];
  try {
    operands = probe.parseOptions(args).operands;
  } catch {
    return null;
  }
  const name = operands[0] === 'help' ? operands[1] : operands[0];
  return COMMAND_MODULES.some((m) => m.names.includes(name ?? '')) ? name : undefined;
}

/**
 * The weft program. Given the command-line arguments, it defines only what they need: the selected
 * command's module, or every command when they select none (help, a mistyped command).
 */
export async function createProgram(args?: string[]): Promise<Command> {
  const program = root();
  const selected = args === undefined ? undefined : selectedCommand(args);
  const wanted = COMMAND_MODULES.filter(
    (m) => selected === undefined || (selected !== null && m.names.includes(selected)),
  );
  for (const define of await Promise.all(wanted.map((m) => m.load()))) define(program);
  for (const command of program.commands)
    if (PLUGIN_DIR_COMMANDS.includes(command.name())) pluginDirOption(command);
  return program;
}
