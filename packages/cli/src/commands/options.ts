import type { Command } from 'commander';

/** Options given many times (`-i`, `-p`, `--plugin-dir`) collect into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds a HOT template's `-e FILE` and `-p KEY=VALUE` (as Heat's client names them). */
export function heatOptions(command: Command): Command {
  return command
    .option(
      '-e, --environment <FILE>',
      "a HOT template's environment file (repeatable: merged in order, each over the ones before)",
      collect,
    )
    .option(
      '-p, --parameter <KEY=VALUE>',
      "a HOT template's parameter value, read as its type says (repeatable; also -i)",
      collect,
    );
}

/** Adds `--plugin-dir` to a command that loads blueprints or runs operations. */
export function pluginDirOption(command: Command): Command {
  return command.option(
    '--plugin-dir <DIR>',
    "a plugin directory, or a directory of them (repeatable; WEFT_PLUGIN_DIRS and the state directory's plugins/ are searched too)",
    collect,
  );
}
