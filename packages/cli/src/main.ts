import { type Command, CommanderError } from 'commander';
import { EXIT, exitCodeOf } from './output.js';
import { createProgram } from './program.js';

// A reader that stops early (`weft events | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(EXIT.ok);
  throw error;
});

const program = await createProgram(process.argv.slice(2));
// Every command, subcommands included, reports usage errors to us (exit 2), not by exiting 1.
const overrideExits = (command: Command): void => {
  command.exitOverride();
  command.configureOutput({ outputError: (text, write) => write(text) });
  for (const sub of command.commands) overrideExits(sub);
};
overrideExits(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  } else {
    process.exitCode = exitCodeOf(error);
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    // A usage error says all there is to say; a failure may be worth its stack.
    if (process.argv.includes('--debug') && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    else if (process.exitCode === EXIT.failed) process.stderr.write('(run again with --debug for details)\n');
  }
}
