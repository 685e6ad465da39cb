/**
 * `weft tokens list|create|revoke`: the API tokens of the signed-in user on the server in use
 * (a script's or CI's, the host agents' made by weft agent install). A new token's secret is
 * printed once, and kept nowhere.
 */
import type { Command } from 'commander';
import { printJson, UsageError } from '../output.js';
import { ApiClient } from '../remote/client.js';
import { activeServer } from '../remote/profiles.js';

export interface TokenView {
  id: string;
  user: string;
  description: string;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  agent: { tenant: string; deployment: string; host: string } | null;
}

/** The API's longest expiry: ten years. */
const MAX_SECONDS = 10 * 365 * 24 * 3600;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * `--expires-in`: seconds, or a number with a unit (s, m, h, d), as the API's `expiresIn` takes
 * it (seconds). 0 is refused: a token that never expires is made by leaving the option out.
 */
export function expiresInSeconds(value: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  const seconds = match ? Number(match[1]) * UNITS[match[2] || 's']! : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_SECONDS))
    throw new UsageError(
      `--expires-in ${value}: expected a duration such as 3600, 90m, 12h or 30d (at most 3650d)`,
    );
  return seconds;
}

function client(): ApiClient {
  const server = activeServer();
  if (!server)
    throw new UsageError(
      'weft tokens acts on a server: add one with weft profiles add NAME --url URL --token TOKEN (or set WEFT_SERVER and WEFT_TOKEN)',
    );
  return new ApiClient(server);
}

export function tokenCommands(program: Command): void {
  const tokens = program
    .command('tokens')
    .description("your API tokens on the server in use (weft profiles), host agents' included")
    .addHelpText(
      'after',
      '\nExamples:\n  weft tokens create "nightly CI" --expires-in 30d\n  weft tokens list\n  weft tokens revoke 0123456789abcdef',
    );
  tokens
    .command('list', { isDefault: true })
    .description('list your tokens (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const list = await client().get<TokenView[]>('/tokens');
      if (flags.json) return printJson({ tokens: list });
      if (list.length === 0) {
        process.stdout.write('No tokens.\n');
        return;
      }
      const rows = list.map((t) => [
        t.id,
        t.expiresAt ?? 'never',
        t.lastUsedAt ?? 'never',
        t.agent
          ? `${t.description} [agent of ${t.agent.host}, ${t.agent.tenant}/${t.agent.deployment}]`
          : t.description,
      ]);
      const header = ['ID', 'EXPIRES', 'LAST USED', 'DESCRIPTION'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [header, ...rows])
        process.stdout.write(
          `${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`,
        );
    });
  tokens
    .command('create')
    .description('make another token for you (for a script or CI); its secret is printed this once')
    .argument('<description>', 'what it is for')
    .option(
      '--expires-in <DURATION>',
      'it expires after this long: seconds, or with a unit (90m, 12h, 30d); default never',
    )
    .option('--json', 'print JSON')
    .action(async (description: string, flags: { expiresIn?: string; json?: boolean }) => {
      const expiresIn = flags.expiresIn === undefined ? undefined : expiresInSeconds(flags.expiresIn);
      if (description.length === 0 || description.length > 200)
        throw new UsageError('a token description has 1 to 200 characters');
      const made = await client().request<TokenView & { token: string }>('POST', '/tokens', {
        description,
        ...(expiresIn === undefined ? {} : { expiresIn }),
      });
      if (flags.json) return printJson({ ...made });
      process.stdout.write(
        `Token ${made.id} (${made.expiresAt ? `expires ${made.expiresAt}` : 'never expires'}); it is shown this once:\n\n  ${made.token}\n\n`,
      );
    });
  tokens
    .command('revoke')
    .description('revoke a token: refused from then on (yours; a superuser may revoke anyone’s)')
    .argument('<id>', "the token's id (weft tokens list; the 16 hex digits after weft_)")
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      // The whole token given instead of its id: its public part, and the secret not sent.
      const publicId = /^weft_([0-9a-f]{16})_/.exec(id)?.[1] ?? id;
      await client().request('DELETE', `/tokens/${encodeURIComponent(publicId)}`);
      if (flags.json) return printJson({ revoked: publicId });
      process.stdout.write(`Token ${publicId} revoked\n`);
    });
}
