/**
 * Executions through the API: started, followed live over Server-Sent Events (resumed with
 * Last-Event-ID), listed, cancelled, refused by role and tenant; on both stores.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type Backend,
  type Doc,
  deploy,
  fixtures,
  readStream,
  startTestServer,
  type TestServer,
  userWithRole,
} from './harness.js';

const blueprint = join(fixtures, 'gate', 'blueprint.yaml');

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`executions (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.stop());

    const auth = () => ({ authorization: `Bearer ${server.adminToken}` });

    test('install runs in the server; its stream carries every event in order and ends with the status', async () => {
      const record = join(server.stateDir, 'record-1');
      await deploy(await server.context.tenants.get('default_tenant'), blueprint, 'one', { record });
      const started = await server.api('POST', '/executions', {
        body: { deploymentId: 'one', workflowId: 'install' },
      });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.workflow, 'install');
      const id = started.body.id as string;
      const stream = await readStream(`${server.url}/api/v1/events/stream?executionId=${id}`, auth());
      assert.equal(stream.status, 200);
      assert.match(stream.contentType ?? '', /text\/event-stream/);
      const end = stream.messages.at(-1)!;
      assert.equal(end.event, 'end');
      assert.deepEqual(JSON.parse(end.data), { status: 'terminated' });
      const events = stream.messages.slice(0, -1).map((m) => JSON.parse(m.data) as Doc);
      const seqs = events.map((e) => e.seq as number);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'in seq order',
      );
      assert.deepEqual(
        stream.messages.slice(0, -1).map((m) => Number(m.id)),
        seqs,
        'each SSE id is the seq',
      );
      assert.ok(events.some((e) => e.type === 'log' && /creating base_/.test(e.message)));
      assert.equal(events.at(-1)!.type, 'workflow_succeeded');
      // The same events, as a page.
      const page = await server.api('GET', `/events?executionId=${id}`);
      assert.deepEqual(
        page.body.items.map((e: Doc) => e.seq),
        seqs,
      );
      const execution = await server.api('GET', `/executions/${id}`);
      assert.equal(execution.body.status, 'terminated');
      assert.equal(execution.body.running, false);
      assert.equal(lines(record).filter((l) => l.startsWith('create ')).length, 4);
      const tasks = await server.api('GET', `/executions/${id}/tasks`);
      assert.ok(
        tasks.body.length > 0 &&
          tasks.body.every((t: Doc) => t.state === 'succeeded' || t.kind !== 'operation'),
      );
      const errors = await server.api('GET', `/events?executionId=${id}&level=warning`);
      assert.deepEqual(errors.body.items, [], 'level filters');
    });

    test('a stream resumed with Last-Event-ID misses and repeats nothing', async () => {
      const record = join(server.stateDir, 'record-2');
      await deploy(await server.context.tenants.get('default_tenant'), blueprint, 'two', {
        record,
        count: 5,
      });
      const { body } = await server.api('POST', '/executions', {
        body: { deploymentId: 'two', workflowId: 'install' },
      });
      const url = `${server.url}/api/v1/events/stream?executionId=${body.id}`;
      const first = await readStream(url, auth(), (_m, all) => all.length === 4);
      assert.equal(first.messages.length, 4);
      const rest = await readStream(url, { ...auth(), 'last-event-id': first.messages.at(-1)!.id! });
      assert.equal(rest.messages.at(-1)!.event, 'end');
      const ids = [...first.messages, ...rest.messages.slice(0, -1)].map((m) => Number(m.id));
      const all = await server.api('GET', `/events?executionId=${body.id}`);
      assert.deepEqual(
        ids,
        all.body.items.map((e: Doc) => e.seq),
      );
    });

    test('executions are listed newest first, filtered and paged', async () => {
      const list = await server.api('GET', '/executions?size=1');
      assert.equal(list.status, 200);
      assert.equal(list.body.items.length, 1);
      assert.ok(list.body.total >= 2);
      assert.equal(list.body.items[0].deploymentId, 'two');
      const one = await server.api('GET', '/executions?deploymentId=one&status=terminated');
      assert.deepEqual(
        one.body.items.map((e: Doc) => e.deploymentId),
        ['one'],
      );
    });

    test('cancel: a running execution stops starting operations and ends cancelled', async () => {
      const record = join(server.stateDir, 'record-3');
      const gate = join(server.stateDir, 'gate-3');
      await deploy(await server.context.tenants.get('default_tenant'), blueprint, 'three', {
        record,
        gate,
        count: 1,
      });
      const { body } = await server.api('POST', '/executions', {
        body: { deploymentId: 'three', workflowId: 'install' },
      });
      const url = `${server.url}/api/v1/events/stream?executionId=${body.id}`;
      await readStream(url, auth(), (m) => m.event === 'log' && /waiting at/.test(m.data));
      const busy = await server.api('POST', '/executions', {
        body: { deploymentId: 'three', workflowId: 'install' },
      });
      assert.equal(busy.status, 409, 'one active execution per deployment');
      const cancelled = await server.api('POST', `/executions/${body.id}/cancel`, { body: {} });
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.status, 'cancelling');
      writeFileSync(gate, '');
      const end = await readStream(url, auth(), (m) => m.event === 'end');
      assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'cancelled' });
      const again = await server.api('POST', `/executions/${body.id}/cancel`, { body: {} });
      assert.equal(again.status, 409);
      // Resumed, it finishes what was left.
      const resumed = await server.api('POST', `/executions/${body.id}/resume`, { body: {} });
      assert.equal(resumed.status, 202);
      const done = await readStream(url, auth(), (m) => m.event === 'end');
      assert.deepEqual(JSON.parse(done.messages.at(-1)!.data), { status: 'terminated' });
    });

    test('bad starts: unknown deployment 404, unknown workflow and bad parameters 422', async () => {
      const none = await server.api('POST', '/executions', {
        body: { deploymentId: 'nope', workflowId: 'install' },
      });
      assert.equal(none.status, 404);
      const unknown = await server.api('POST', '/executions', {
        body: { deploymentId: 'one', workflowId: 'dance' },
      });
      assert.equal(unknown.status, 422);
      assert.match(unknown.body.message, /unknown workflow 'dance'/);
      const param = await server.api('POST', '/executions', {
        body: { deploymentId: 'one', workflowId: 'uninstall', parameters: { task_retries: 'abc' } },
      });
      assert.equal(param.status, 422);
      assert.match(param.body.message, /task_retries/);
    });

    test('roles and tenants: a viewer reads but cannot start; another tenant sees nothing of these', async () => {
      const viewer = await userWithRole(server, 'val', 'default_tenant', 'viewer');
      const list = await server.api('GET', '/executions', { token: viewer });
      assert.equal(list.status, 200);
      assert.ok(list.body.total >= 1);
      const start = await server.api('POST', '/executions', {
        token: viewer,
        body: { deploymentId: 'one', workflowId: 'uninstall' },
      });
      assert.equal(start.status, 403);
      const outsider = await userWithRole(server, 'olga', 'other', 'admin');
      const theirs = await server.api('GET', '/executions', { token: outsider });
      assert.equal(theirs.body.total, 0);
      const id = list.body.items[0].id;
      assert.equal((await server.api('GET', `/executions/${id}`, { token: outsider })).status, 404);
      assert.equal(
        (await server.api('POST', `/executions/${id}/cancel`, { token: outsider, body: {} })).status,
        404,
      );
      const stream = await readStream(`${server.url}/api/v1/events/stream?executionId=${id}`, {
        authorization: `Bearer ${outsider}`,
      });
      assert.equal(stream.status, 404);
      const events = await server.api('GET', '/events', { token: outsider });
      assert.deepEqual(events.body.items, []);
    });
  });
}
