import type { Command } from 'commander';
import { printJson, UsageError } from '../output.js';
import { openState, type StateOptions, stateOptions } from '../state.js';

type Flags = StateOptions & { json?: boolean };

const common = (command: Command) => stateOptions(command.option('--json', 'print JSON'));

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\n$/, '');
}

export function secretCommands(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('secrets read by get_secret, stored encrypted (AES-256-GCM)')
    .addHelpText(
      'after',
      "\nExamples:\n  weft secrets set db_password 'S3cret!'\n  weft secrets set agent_key - < ~/.ssh/id_ed25519\n  weft secrets list --json\n  weft secrets delete db_password",
    );
  common(
    secrets
      .command('set')
      .description('store a secret (the value from the argument, or from standard input with -)')
      .argument('<key>', 'the secret name')
      .argument('<value>', 'the value, or - to read it from standard input'),
  ).action(async (key: string, value: string, flags: Flags) => {
    const state = await openState(flags);
    try {
      await state.secrets.set(key, value === '-' ? await readStdin() : value);
      if (flags.json) printJson({ key });
      else process.stdout.write(`Secret '${key}' stored\n`);
    } finally {
      await state.close();
    }
  });
  common(
    secrets.command('get').description("print a secret's value").argument('<key>', 'the secret name'),
  ).action(async (key: string, flags: Flags) => {
    const state = await openState(flags, { create: false });
    try {
      const value = await state.secrets.get(key);
      if (value === undefined) throw new UsageError(`no secret '${key}'`);
      if (flags.json) printJson({ key, value });
      else process.stdout.write(`${value}\n`);
    } finally {
      await state.close();
    }
  });
  common(secrets.command('list').description('list secret names (never values)')).action(
    async (flags: Flags) => {
      const state = await openState(flags, { create: false });
      try {
        const all = await state.secrets.list();
        if (flags.json) printJson({ secrets: all });
        else
          process.stdout.write(
            all.length === 0
              ? 'No secrets stored (weft secrets set NAME VALUE stores one)\n'
              : all.map((s) => `${s.key}  updated ${s.updatedAt}\n`).join(''),
          );
      } finally {
        await state.close();
      }
    },
  );
  common(
    secrets.command('delete').description('delete a secret').argument('<key>', 'the secret name'),
  ).action(async (key: string, flags: Flags) => {
    const state = await openState(flags, { create: false });
    try {
      if (!(await state.secrets.delete(key))) throw new UsageError(`no secret '${key}'`);
      if (flags.json) printJson({ deleted: key });
      else process.stdout.write(`Secret '${key}' deleted\n`);
    } finally {
      await state.close();
    }
  });
}
