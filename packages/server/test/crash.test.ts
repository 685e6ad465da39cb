/**
 * `weft serve` killed with SIGKILL while an execution runs, then started again: the execution is
 * resumed by the new process (its resumable operation runs again), and nothing that had finished
 * runs twice. On both stores.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openPostgresStore, openSqliteStore } from '@weft/engine';
import { NO_WEFT_ENVIRONMENT, tempDir, weftInBackground } from '@weft/testing/cli';
import { type Backend, deploy, fixtures, freshDatabase, readStream } from './harness.js';

const blueprint = join(fixtures, 'gate', 'blueprint.yaml');

async function serve(dir: string, database: string | undefined, first: boolean) {
  const args = ['serve', '--state-dir', dir, '--listen', '127.0.0.1:0'];
  if (database) args.push('--db', database);
  if (first) args.push('--init-admin');
  const server = weftInBackground(args, { ...NO_WEFT_ENVIRONMENT, WEFT_ADMIN_PASSWORD: 'crash-password' });
  const token = first ? /(weft_\S+)/.exec(await server.line(/API token/))![1]! : undefined;
  const url = /listening on (\S+)\/api\/v1/.exec(await server.line(/listening on/))![1]!;
  return { server, url, token };
}

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`a server killed while it runs an execution (${backend})`, () => {
    const drops: (() => Promise<void>)[] = [];
    after(async () => {
      for (const drop of drops) await drop();
    });

    test('is resumed by the next server process; finished operations do not run again', async () => {
      const dir = tempDir();
      const database = backend === 'postgres' ? await freshDatabase() : undefined;
      if (database) drops.push(database.drop);
      const first = await serve(dir, database?.url, true);
      const headers = { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' };
      const record = join(dir, 'record');
      const gate = join(dir, 'gate');
      // The deployment is made in the tenant's store directly (the server shares it).
      const store = database
        ? await openPostgresStore(database.url, { schema: 'weft_tenant_default_tenant' })
        : await openSqliteStore(join(dir, 'tenants', 'default_tenant', 'weft.db'));
      await store.migrate();
      await deploy({ store }, blueprint, 'crash', { record, gate, count: 1 });
      await store.close();

      const started = await fetch(`${first.url}/api/v1/executions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ deploymentId: 'crash', workflowId: 'install' }),
      });
      assert.equal(started.status, 201);
      const { id } = (await started.json()) as { id: string };
      const stream = `/api/v1/events/stream?executionId=${id}`;
      await readStream(
        `${first.url}${stream}`,
        headers,
        (m) => m.event === 'log' && /waiting at/.test(m.data),
      );
      first.server.child.kill('SIGKILL');
      await first.server.exit;

      const second = await serve(dir, database?.url, false);
      try {
        // The new process runs `start` again: it waits at the gate once more.
        const waiting = await readStream(
          `${second.url}${stream}`,
          headers,
          (m, all) =>
            m.event === 'log' &&
            /waiting at/.test(m.data) &&
            all.filter((x) => /waiting at/.test(x.data)).length === 2,
        );
        assert.ok(waiting.messages.length > 0);
        writeFileSync(gate, '');
        const end = await readStream(`${second.url}${stream}`, headers, (m) => m.event === 'end');
        assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'terminated' });
        const runs = readFileSync(record, 'utf8').split('\n').filter(Boolean);
        const count = (prefix: string) => runs.filter((line) => line.startsWith(prefix)).length;
        assert.equal(count('create '), 3, 'each create ran once');
        assert.equal(count('start-begin gated'), 2, 'the interrupted start ran again');
        assert.equal(count('start-end '), 3, 'each start finished once');
      } finally {
        second.server.child.kill('SIGTERM');
        await second.server.exit;
      }
    });
  });
}
