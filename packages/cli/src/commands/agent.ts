/**
 * `weft agent install`: makes the token of the agent of one host of a deployment on the server in
 * use, and prints the command that starts that agent on the host (or, with --run, starts it
 * here). The token is printed once, in that command, and kept nowhere.
 */
import type { Command } from 'commander';
import { printJson, UsageError } from '../output.js';
import { ApiClient } from '../remote/client.js';
import { activeServer } from '../remote/profiles.js';
import type { PluginDirOptions } from './plugin-search.js';
import { expiresInSeconds } from './tokens.js';
import { AGENT_TOKEN_VARIABLE, runAgent } from './worker.js';

type Flags = PluginDirOptions & {
  deployment: string;
  host: string;
  run?: boolean;
  json?: boolean;
  concurrency?: string;
  stateDir?: string;
  expiresIn?: string;
};

interface MadeToken {
  id: string;
  token: string;
  agent: { tenant: string; deployment: string; host: string };
}

/** A shell word: as it is when it has nothing the shell would read, else single-quoted. */
const shellWord = (word: string) =>
  /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;

export function agentCommands(program: Command): void {
  const agent = program
    .command('agent')
    .description("the agents of a deployment's hosts (host_agent operations)");
  agent
    .command('install')
    .description(
      'make a token for the agent of one host of a deployment on the server in use, and print the command that starts it on that host',
    )
    .requiredOption('-d, --deployment <ID>', 'the deployment')
    .requiredOption('--host <INSTANCE_ID>', 'the host: the id of a Compute node instance of the deployment')
    .option('--run', 'start the agent here, now, instead of printing the command')
    .option(
      '--expires-in <DURATION>',
      'the token expires after this long: seconds, or with a unit (90m, 12h, 30d); default never',
    )
    .option('--concurrency <N>', 'with --run: operations run at once (default 8)')
    .option('--state-dir <DIR>', 'with --run: where the agent keeps plugins and blueprint copies')
    .option('--json', 'print JSON (the token, its id and scope, and the command)')
    .addHelpText(
      'after',
      `
Examples:
  weft agent install -d web --host vm_x7k2p
  weft agent install -d web --host vm_x7k2p --run

The token is shown once; the agent stops once it is revoked (weft tokens revoke ID) or expired.`,
    )
    .action((flags: Flags) => install(flags));
}

async function install(flags: Flags): Promise<void> {
  const server = activeServer();
  if (!server)
    throw new UsageError(
      'weft agent install acts on a server: weft profiles use NAME (or set WEFT_SERVER and WEFT_TOKEN)',
    );
  const expiresIn = flags.expiresIn === undefined ? undefined : expiresInSeconds(flags.expiresIn);
  const client = new ApiClient(server);
  const made = await client.request<MadeToken>(
    'POST',
    `/deployments/${encodeURIComponent(flags.deployment)}/agents`,
    { host: flags.host, ...(expiresIn === undefined ? {} : { expiresIn }) },
  );
  if (flags.run) return runAgent(server.url, made.token, flags);
  const command = `${AGENT_TOKEN_VARIABLE}=${shellWord(made.token)} weft worker --server ${shellWord(server.url)}`;
  if (flags.json) {
    printJson({ id: made.id, token: made.token, agent: made.agent, command });
    return;
  }
  process.stdout.write(
    `Token ${made.id} for the agent of host ${made.agent.host} (deployment ${made.agent.deployment}, tenant ${made.agent.tenant}).\n` +
      'Start the agent on that host with (the token is shown this once):\n\n' +
      `  ${command}\n\n` +
      "A machine that reaches the database (with the server's WEFT_SECRET_KEY) can be that agent without the token:\n\n" +
      `  weft worker --db URL --queue ${shellWord(made.agent.host)}${made.agent.tenant === 'default_tenant' ? '' : ` --tenant ${made.agent.tenant}`}\n\n`,
  );
}
