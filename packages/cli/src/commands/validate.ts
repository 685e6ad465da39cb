import type { Command } from 'commander';
import { EXIT, printJson, printProblems, printWarnings } from '../output.js';
import {
  type BlueprintOptions,
  checkOperationFunctions,
  checkSecretReferences,
  loadFromArgs,
} from './common.js';
import { collect, heatOptions } from './options.js';

export function validateCommand(program: Command): void {
  heatOptions(
    program
      .command('validate')
      .description('check a blueprint (and inputs, when given) and report every problem at once')
      .argument('<blueprint>', 'the main blueprint file')
      .option(
        '-i, --input <KEY=VALUE|FILE>',
        'an input value or a YAML/JSON inputs file (repeatable)',
        collect,
      )
      .option(
        '--state-dir <DIR>',
        'the state directory whose plugins/ is searched (default ./.weft, or WEFT_HOME)',
      )
      .option('--json', 'print the result as JSON'),
  )
    .addHelpText(
      'after',
      `
Without -i only the blueprint is checked; with -i the inputs are bound and checked too
(missing required inputs, types, constraints).

Examples:
  weft validate blueprint.yaml
  weft validate blueprint.yaml -i port=8080 -i inputs.yaml
  weft validate template.yaml -e env.yaml -p flavor=small   # a HOT template`,
    )
    .action(async (blueprint: string, options: BlueprintOptions & { json?: boolean }) => {
      const result = loadFromArgs(blueprint, options, true);
      await checkOperationFunctions(result, options, 'warn');
      await checkSecretReferences(result, options);
      const { problems } = result;
      // Invalid is validate's answer, not an error: the same document as valid, exit code 2.
      if (options.json)
        printJson({ valid: problems.ok, problems: problems.sorted(), warnings: problems.warnings });
      else if (!problems.ok) printProblems(problems, false);
      else {
        printWarnings(problems);
        process.stdout.write('valid\n');
      }
      if (!problems.ok) process.exitCode = EXIT.badInput;
    });
}
