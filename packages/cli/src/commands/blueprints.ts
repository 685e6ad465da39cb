/** `weft blueprints upload|list|delete`: blueprints stored on the server in use. */
import type { Command } from 'commander';
import { UsageError } from '../output.js';
import { ApiClient } from '../remote/client.js';
import { remoteBlueprints, remoteDeleteBlueprint } from '../remote/inspect.js';
import { uploadBlueprint } from '../remote/install.js';
import { activeServer } from '../remote/profiles.js';
import { collect } from './options.js';

/** The server in use: these commands have no local meaning (a local install reads files as they are). */
function client(): ApiClient {
  const server = activeServer();
  if (!server)
    throw new UsageError(
      'weft blueprints acts on a server: add one with weft profiles add NAME --url URL --token TOKEN (or set WEFT_SERVER and WEFT_TOKEN)',
    );
  return new ApiClient(server);
}

export function blueprintCommands(program: Command): void {
  const blueprints = program
    .command('blueprints')
    .description('blueprints stored on the server in use (weft profiles)')
    .addHelpText(
      'after',
      '\nExamples:\n  weft blueprints upload examples/hello-files --id hello\n  weft blueprints list --json\n  weft blueprints delete hello',
    );
  blueprints
    .command('upload')
    .description("upload a blueprint's directory (checked by the server as weft validate checks it)")
    .argument('<blueprint>', 'the main blueprint file, or a directory holding blueprint.yaml')
    .option('--id <ID>', "the blueprint's id (default: its directory's name)")
    .option(
      '-e, --environment <FILE>',
      "a HOT template's environment file to check it with, uploaded with it (repeatable, merged in order)",
      collect,
    )
    .option('--json', 'print JSON')
    .action((blueprint: string, flags: { id?: string; environment?: string[]; json?: boolean }) =>
      uploadBlueprint(client(), blueprint, flags),
    );
  blueprints
    .command('list', { isDefault: true })
    .description('list the stored blueprints')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => remoteBlueprints(client(), flags.json));
  blueprints
    .command('delete')
    .description('delete a stored blueprint (refused while a deployment was made from it)')
    .argument('<id>', 'the blueprint id')
    .option('--json', 'print JSON')
    .action((id: string, flags: { json?: boolean }) => remoteDeleteBlueprint(client(), id, flags.json));
}
