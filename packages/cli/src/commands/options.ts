import type { Command } from 'commander';

/** Options given many times (`-i`, `-p`, `--plugin-dir`) collect into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds `--plugin-dir` to a command that loads blueprints or runs operations. */
export function pluginDirOption(command: Command): Command {
  return command.option(
    '--plugin-dir <DIR>',
    "a plugin directory, or a directory of them (repeatable; WEFT_PLUGIN_DIRS and the state directory's plugins/ are searched too)",
    collect,
  );
}
