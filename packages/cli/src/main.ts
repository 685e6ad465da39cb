import { type Command, CommanderError } from 'commander';
import { EXIT, errorJson, exitCodeOf, printJson, UsageError } from './output.js';
import { createProgram } from './program.js';

// A reader that stops early (`weft events | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(EXIT.ok);
  throw error;
});

// Read before parsing: a command line that does not parse still gets its error as JSON.
const args = process.argv.slice(2);
const end = args.indexOf('--');
const json = (end < 0 ? args : args.slice(0, end)).includes('--json');

const program = await createProgram(args);
// Every command, subcommands included, reports usage errors to us (exit 2), not by exiting 1.
const overrideExits = (command: Command): void => {
  command.exitOverride();
  command.configureOutput({ outputError: (text, write) => json || write(text) });
  for (const sub of command.commands) overrideExits(sub);
};
overrideExits(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    if (json && error.exitCode !== 0)
      printJson({ error: errorJson(new UsageError(error.message.replace(/^error: /, ''))) });
  } else {
    process.exitCode = exitCodeOf(error);
    if (json) printJson({ error: errorJson(error) });
    else process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    // A usage error says all there is to say; a failure may be worth its stack.
    if (process.argv.includes('--debug') && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    else if (process.exitCode === EXIT.failed && !json)
      process.stderr.write('(run again with --debug for details)\n');
  }
}
