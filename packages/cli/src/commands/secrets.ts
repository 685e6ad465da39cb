import type { Command } from 'commander';
import { printJson, UsageError } from '../output.js';
import { ApiClient, ApiRefusal } from '../remote/client.js';
import { serverFor } from '../remote/profiles.js';
import { openState, type StateOptions, stateOptions } from '../state.js';

type Flags = StateOptions & { json?: boolean };

const common = (command: Command) => stateOptions(command.option('--json', 'print JSON'));

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\n$/, '');
}

/** Where secrets are kept: the local state's store, or the server in use. */
interface SecretStore {
  set(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  list(): Promise<{ key: string; createdAt: string; updatedAt: string }[]>;
  delete(key: string): Promise<boolean>;
}

/** `undefined` for a 404: the secret is not there. */
const unlessMissing = (error: unknown) => {
  if (error instanceof ApiRefusal && error.status === 404) return undefined;
  throw error;
};

function serverSecrets(client: ApiClient): SecretStore {
  const path = (key: string) => `/secrets/${encodeURIComponent(key)}`;
  return {
    set: async (key, value) => {
      await client.request('PUT', path(key), { value });
    },
    get: async (key) => (await client.get<{ value: string }>(path(key)).catch(unlessMissing))?.value,
    list: () => client.get('/secrets'),
    delete: async (key) =>
      (await client.request('DELETE', path(key)).then(() => true, unlessMissing)) === true,
  };
}

/** Runs `body` on the secrets of the server in use, else of the local state (made only when `create`). */
async function withSecrets<T>(flags: Flags, create: boolean, body: (secrets: SecretStore) => Promise<T>) {
  const server = serverFor(flags);
  if (server) return body(serverSecrets(new ApiClient(server)));
  const state = await openState(flags, { create });
  try {
    return await body(state.secrets);
  } finally {
    await state.close();
  }
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
  ).action((key: string, value: string, flags: Flags) =>
    withSecrets(flags, true, async (store) => {
      await store.set(key, value === '-' ? await readStdin() : value);
      if (flags.json) printJson({ key });
      else process.stdout.write(`Secret '${key}' stored\n`);
    }),
  );
  common(
    secrets.command('get').description("print a secret's value").argument('<key>', 'the secret name'),
  ).action((key: string, flags: Flags) =>
    withSecrets(flags, false, async (store) => {
      const value = await store.get(key);
      if (value === undefined) throw new UsageError(`no secret '${key}'`);
      if (flags.json) printJson({ key, value });
      else process.stdout.write(`${value}\n`);
    }),
  );
  common(secrets.command('list').description('list secret names (never values)')).action((flags: Flags) =>
    withSecrets(flags, false, async (store) => {
      const all = await store.list();
      if (flags.json) printJson({ secrets: all });
      else
        process.stdout.write(
          all.length === 0
            ? 'No secrets stored (weft secrets set NAME VALUE stores one)\n'
            : all.map((s) => `${s.key}  updated ${s.updatedAt}\n`).join(''),
        );
    }),
  );
  common(
    secrets.command('delete').description('delete a secret').argument('<key>', 'the secret name'),
  ).action((key: string, flags: Flags) =>
    withSecrets(flags, false, async (store) => {
      if (!(await store.delete(key))) throw new UsageError(`no secret '${key}'`);
      if (flags.json) printJson({ deleted: key });
      else process.stdout.write(`Secret '${key}' deleted\n`);
    }),
  );
}
