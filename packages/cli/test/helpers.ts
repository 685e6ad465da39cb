import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NO_WEFT_ENVIRONMENT, tempDir, weftAsync, weftBin } from '@weft/testing/cli';
import pg from 'pg';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const fixtures = join(repoRoot, 'packages', 'cli', 'test', 'fixtures');

export {
  type Background,
  tempDir,
  type WeftRun as RunResult,
  weft,
  weftBin,
  weftInBackground,
} from '@weft/testing/cli';

const POSTGRES = process.env.WEFT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A PostgreSQL database of its own (the server keeps each tenant in a schema), and its removal. */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `weft_cli_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: POSTGRES });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * `weft serve` in another process (on SQLite, or on a PostgreSQL database of its own), with a
 * first admin, stopped when `t` ends (not weftInBackground: @weft/testing stops those after each
 * subtest); `run` runs the CLI against it (WEFT_SERVER and WEFT_TOKEN set).
 */
export async function serveForCli(
  t: { after(fn: () => void | Promise<void>): void },
  options: { postgres?: boolean } = {},
) {
  const database = options.postgres ? await freshDatabase() : undefined;
  const server = spawn(
    process.execPath,
    [
      weftBin,
      'serve',
      '--state-dir',
      tempDir(),
      '--listen',
      '127.0.0.1:0',
      '--init-admin',
      ...(database ? ['--db', database.url] : []),
    ],
    {
      env: { ...process.env, ...NO_WEFT_ENVIRONMENT, WEFT_ADMIN_PASSWORD: 'remote-password' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.after(async () => {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = once(server, 'exit');
      server.kill();
      await exited;
    }
    await database?.drop();
  });
  const lines = createInterface({ input: server.stdout });
  let token = '';
  let url = '';
  for await (const line of lines) {
    token ||= /API token.*?(weft_\S+)/.exec(line)?.[1] ?? '';
    url = /listening on (\S+)\/api\/v1/.exec(line)?.[1] ?? '';
    if (url) break;
  }
  const env = {
    ...NO_WEFT_ENVIRONMENT,
    WEFT_CONFIG_DIR: tempDir(),
    WEFT_SERVER: url,
    WEFT_TOKEN: token,
    CI: 'true',
  };
  return {
    server,
    url,
    env,
    run: (args: string[], cwd?: string) => weftAsync(args, { env, ...(cwd ? { cwd } : {}) }),
  };
}
