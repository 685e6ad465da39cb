import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { inspectCommands } from './commands/inspect.js';
import { planCommand } from './commands/plan.js';
import { pluginCommands, pluginDirOption } from './commands/plugins.js';
import { runCommands } from './commands/run.js';
import { secretCommands } from './commands/secrets.js';
import { validateCommand } from './commands/validate.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export function createProgram(): Command {
  const program = new Command('weft')
    .description('Weft: run Cloudify-style blueprints, in parallel, durably')
    .version(pkg.version, '-V, --version', 'print the version')
    .option('--debug', 'show stack traces for unexpected errors')
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Exit codes: 0 success, 1 a failed execution, 2 bad input or usage.

Examples:
  weft validate examples/three-tier/blueprint.yaml
  weft plan examples/three-tier/blueprint.yaml -i web_port=8080`,
    );
  validateCommand(program);
  planCommand(program);
  runCommands(program);
  inspectCommands(program);
  secretCommands(program);
  pluginCommands(program);
  // Every command that loads a blueprint or runs operations searches --plugin-dir too.
  for (const command of program.commands)
    if (['validate', 'plan', 'install', 'uninstall', 'exec', 'resume'].includes(command.name()))
      pluginDirOption(command);
  return program;
}
