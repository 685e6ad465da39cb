/** `weft profiles add|use|list|remove`: the servers the CLI talks to (see remote/profiles.ts). */
import type { Command } from 'commander';
import { printJson, UsageError } from '../output.js';
import { ApiClient } from '../remote/client.js';
import { PROFILE_NAME, readProfiles, serverUrl, writeProfiles } from '../remote/profiles.js';

/** Local state, not a server: `weft profiles use local` goes back to it. */
const LOCAL = 'local';

/** A token as lists show it: its public id, never its secret. */
const shownToken = (token: string) => {
  const match = /^(weft_[0-9a-f]{16})_/.exec(token);
  return match ? `${match[1]}_***` : '***';
};

export function profileCommands(program: Command): void {
  const profiles = program
    .command('profiles')
    .description('the Weft servers this CLI talks to (without one in use: local state)')
    .addHelpText(
      'after',
      `
Examples:
  weft profiles add prod --url https://weft.example.com --token "$TOKEN"
  weft profiles use prod        (weft install, exec, events... now act on that server)
  weft profiles use local       (back to the state in ./.weft)
WEFT_SERVER and WEFT_TOKEN (and WEFT_TENANT) choose a server without a profile.`,
    );
  profiles
    .command('add')
    .description('add (or replace) a profile, checking the token with the server, and use it')
    .argument('<name>', 'a name for the server')
    .requiredOption('--url <URL>', "the server's URL, e.g. http://127.0.0.1:8080")
    .requiredOption('--token <TOKEN>', 'an API token (weft serve --init-admin, or POST /api/v1/tokens)')
    .option('--tenant <NAME>', 'the tenant to act in (default: the one the user belongs to)')
    .option('--no-check', 'do not ask the server whether the token works')
    .option('--no-use', 'add it without starting to use it')
    .action(
      async (
        name: string,
        flags: { url: string; token: string; tenant?: string; check: boolean; use: boolean },
      ) => {
        if (!PROFILE_NAME.test(name) || name === LOCAL)
          throw new UsageError(`'${name}' cannot name a profile (letters, digits, _ . -; not '${LOCAL}')`);
        const profile = {
          url: serverUrl(flags.url),
          token: flags.token,
          ...(flags.tenant ? { tenant: flags.tenant } : {}),
        };
        let who = '';
        if (flags.check) {
          const me = await new ApiClient({ name, ...profile }).get<{ name: string }>('/auth/me');
          who = ` as ${me.name}`;
        }
        const file = readProfiles();
        file.profiles[name] = profile;
        if (flags.use) file.current = name;
        writeProfiles(file);
        process.stdout.write(
          `Profile '${name}' (${profile.url}${who}) ${flags.use ? 'added and in use' : 'added'}\n`,
        );
      },
    );
  profiles
    .command('use')
    .description(`use a profile from now on ('${LOCAL}': local state again)`)
    .argument('<name>', `a profile, or ${LOCAL}`)
    .action((name: string) => {
      const file = readProfiles();
      if (name === LOCAL) delete file.current;
      else if (!file.profiles[name])
        throw new UsageError(
          `no profile '${name}'${Object.keys(file.profiles).length ? ` (there are: ${Object.keys(file.profiles).join(', ')})` : ''}`,
        );
      else file.current = name;
      writeProfiles(file);
      process.stdout.write(name === LOCAL ? 'Using local state\n' : `Using profile '${name}'\n`);
    });
  profiles
    .command('list', { isDefault: true })
    .description('list the profiles (tokens shown by their public id only)')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => {
      const file = readProfiles();
      const rows = Object.entries(file.profiles).map(([name, p]) => ({
        name,
        url: p.url,
        tenant: p.tenant ?? null,
        token: shownToken(p.token),
        current: file.current === name,
      }));
      if (flags.json) {
        printJson({ current: file.current ?? null, profiles: rows });
        return;
      }
      if (rows.length === 0) {
        process.stdout.write(
          'No profiles: commands act on local state (weft profiles add NAME --url URL --token T)\n',
        );
        return;
      }
      for (const r of rows)
        process.stdout.write(
          `${r.current ? '*' : ' '} ${r.name}  ${r.url}${r.tenant ? `  tenant ${r.tenant}` : ''}  ${r.token}\n`,
        );
      if (!file.current) process.stdout.write('(none in use: commands act on local state)\n');
    });
  profiles
    .command('remove')
    .description('remove a profile (local state is used again if it was in use)')
    .argument('<name>', 'the profile')
    .action((name: string) => {
      const file = readProfiles();
      if (!file.profiles[name]) throw new UsageError(`no profile '${name}'`);
      delete file.profiles[name];
      if (file.current === name) delete file.current;
      writeProfiles(file);
      process.stdout.write(`Profile '${name}' removed\n`);
    });
}
