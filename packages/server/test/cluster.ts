/** A `weft serve --workers` on a fresh database with the spread fixture deployed, and its workers. */
import assert from 'node:assert/strict';
import { readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPostgresStore } from '@weft/engine';
import { type Background, NO_WEFT_ENVIRONMENT, tempDir, weftInBackground } from '@weft/testing/cli';
import { deploy, fixtures, freshDatabase, readStream } from './harness.js';

export const blueprint = join(fixtures, 'spread', 'blueprint.yaml');

/** Every process shares the secret key: the server seals what it queues with it. */
export const ENV = {
  ...NO_WEFT_ENVIRONMENT,
  WEFT_SECRET_KEY: 'workers-test-key',
  WEFT_ADMIN_PASSWORD: 'workers-password',
};

export interface Cluster {
  url: string;
  /** The `weft serve --workers` process. */
  server: Background;
  /** Starts another server process on the same database (no admin made, workers on). */
  startServer(...args: string[]): Promise<{ server: Background; url: string }>;
  headers: Record<string, string>;
  database: string;
  record: string;
  dir: string;
  startWorker(tag: string, ...args: string[]): Promise<Background>;
  /** Starts an install of the deployment; resolves with the execution id. */
  install(): Promise<string>;
  /** The stream's events until the execution ends, and how it ended. */
  follow(id: string, until?: (data: string) => boolean): Promise<{ logs: string[]; status?: string }>;
  execution(id: string): Promise<{ status: string; error: { message: string } | null }>;
  /** The record's lines as [what, instance, worker]. */
  runs(): string[][];
  /** Resolves when the record has a line starting with `prefix` (watched, not polled). */
  recorded(prefix: string): Promise<void>;
}

export async function cluster(
  drops: (() => Promise<void>)[],
  inputs: Record<string, unknown>,
  { lease = 300, agentWait = 30 } = {},
): Promise<Cluster & { vm: string }> {
  const dir = tempDir();
  const database = await freshDatabase();
  drops.push(database.drop);
  const record = join(dir, 'record');
  writeFileSync(record, '');
  const store = await openPostgresStore(database.url, { schema: 'weft_tenant_default_tenant' });
  await store.migrate();
  await deploy({ store }, blueprint, 'spread', { record, ...inputs });
  const vm = (await store.listInstances('spread')).find((i) => i.node === 'vm')!.id;
  await store.close();
  const serve = async (tag: string, ...args: string[]) => {
    const server = weftInBackground(
      [
        'serve',
        ...['--state-dir', join(dir, tag), '--listen', '127.0.0.1:0', '--db', database.url],
        ...['--workers', '--lease', String(lease), '--agent-wait', String(agentWait), ...args],
      ],
      ENV,
    );
    const url = /listening on (\S+)\/api\/v1/.exec(await server.line(/listening on/))![1]!;
    return { server, url };
  };
  const { server, url } = await serve('server', '--init-admin');
  const token = /(weft_\S+)/.exec(await server.line(/API token/))![1]!;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  let servers = 0;
  return {
    url,
    server,
    startServer: (...args) => serve(`server-${++servers}`, ...args),
    headers,
    database: database.url,
    record,
    dir,
    vm,
    startWorker: async (tag, ...args) => {
      const worker = weftInBackground(
        ['worker', '--db', database.url, '--state-dir', join(dir, `worker-${tag}`), ...args],
        { ...ENV, WEFT_TEST_WORKER: tag },
      );
      await worker.line(/taking operations from/);
      return worker;
    },
    install: async () => {
      const started = await fetch(`${url}/api/v1/executions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ deploymentId: 'spread', workflowId: 'install' }),
      });
      assert.equal(started.status, 201, await started.clone().text());
      return ((await started.json()) as { id: string }).id;
    },
    follow: async (id, until) => {
      const { messages } = await readStream(
        `${url}/api/v1/events/stream?executionId=${id}`,
        headers,
        (m) => m.event === 'end' || (until !== undefined && m.event === 'log' && until(m.data)),
      );
      const end = messages.find((m) => m.event === 'end');
      return {
        logs: messages.filter((m) => m.event === 'log').map((m) => JSON.parse(m.data).message as string),
        status: end ? (JSON.parse(end.data) as { status: string }).status : undefined,
      };
    },
    execution: async (id) => {
      const response = await fetch(`${url}/api/v1/executions/${id}`, { headers });
      return (await response.json()) as { status: string; error: { message: string } | null };
    },
    recorded: (prefix) =>
      new Promise<void>((resolve) => {
        const found = () =>
          readFileSync(record, 'utf8')
            .split('\n')
            .some((l) => l.startsWith(prefix));
        const watcher = watch(record, () => {
          if (found()) {
            watcher.close();
            resolve();
          }
        });
        if (found()) {
          watcher.close();
          resolve();
        }
      }),
    runs: () =>
      readFileSync(record, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(' ')),
  };
}
