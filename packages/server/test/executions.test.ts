/**
 * Executions through the API: started, followed live over Server-Sent Events (resumed with
 * Last-Event-ID), listed, cancelled, refused by role and tenant; on both stores.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
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

/** A POST with an empty body and no content type, as `curl -X POST URL` sends it. */
function postEmpty(url: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': '0' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode!, text }));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

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

    test('a stream of an execution this server runs reads its events at each wake, the execution only once it ended', async () => {
      const record = join(server.stateDir, 'record-reads');
      const gate = join(server.stateDir, 'gate-reads');
      const tenant = await server.context.tenants.get('default_tenant');
      await deploy(tenant, blueprint, 'reads', { record, gate, count: 1 });
      const { body } = await server.api('POST', '/executions', {
        body: { deploymentId: 'reads', workflowId: 'install' },
      });
      const id = body.id as string;
      const url = `${server.url}/api/v1/events/stream?executionId=${id}`;
      await readStream(url, auth(), (m) => m.event === 'log' && /waiting at/.test(m.data));
      // The stream route's reads of this execution, counted from here (the run reads it too, for
      // cancels: told apart by the caller).
      const byStream = () => /routes\/events\.js/.test(new Error().stack ?? '');
      const { store } = tenant;
      const { getExecution, listEvents } = store;
      let executionReads = 0;
      let eventReads = 0;
      let eventsRead = () => {};
      store.getExecution = (execution) => {
        if (execution === id && byStream()) executionReads++;
        return getExecution.call(store, execution);
      };
      store.listEvents = (query) => {
        if (query.executionId === id && byStream()) {
          eventReads++;
          eventsRead();
        }
        return listEvents.call(store, query);
      };
      try {
        let read = new Promise<void>((resolve) => (eventsRead = resolve));
        const stream = readStream(url, auth());
        // Woken twice while it runs (held at the gate): the events are read each time.
        for (let wake = 0; wake < 2; wake++) {
          await read;
          read = new Promise<void>((resolve) => (eventsRead = resolve));
          server.context.notifier.notify('default_tenant', id);
        }
        await read;
        writeFileSync(gate, '');
        const { messages } = await stream;
        assert.deepEqual(JSON.parse(messages.at(-1)!.data), { status: 'terminated' });
        assert.ok(eventReads >= 3, `${eventReads} reads of events`);
        // The look that it exists, and the read after its run ended; none while it ran.
        assert.equal(executionReads, 2);
      } finally {
        store.getExecution = getExecution;
        store.listEvents = listEvents;
      }
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
      // No body at all: the same as {}.
      const cancelled = await server.api('POST', `/executions/${body.id}/cancel`);
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      assert.equal(cancelled.body.status, 'cancelling');
      writeFileSync(gate, '');
      const end = await readStream(url, auth(), (m) => m.event === 'end');
      assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'cancelled' });
      const again = await server.api('POST', `/executions/${body.id}/cancel`, { body: {} });
      assert.equal(again.status, 409);
      // Resumed, it finishes what was left.
      // An empty body with no content type (as `curl -X POST` sends): the same as {}.
      const resumed = await postEmpty(`${server.url}/api/v1/executions/${body.id}/resume`, auth());
      assert.equal(resumed.status, 202, resumed.text);
      assert.equal(JSON.parse(resumed.text).id, body.id);
      const done = await readStream(url, auth(), (m) => m.event === 'end');
      assert.deepEqual(JSON.parse(done.messages.at(-1)!.data), { status: 'terminated' });
    });

    test('cancel and resume take no body, an empty one with no content type, or {}; the document says the body is optional', async () => {
      const record = join(server.stateDir, 'record-4');
      const gate = join(server.stateDir, 'gate-4');
      await deploy(await server.context.tenants.get('default_tenant'), blueprint, 'four', {
        record,
        gate,
        count: 1,
      });
      const { body } = await server.api('POST', '/executions', {
        body: { deploymentId: 'four', workflowId: 'install' },
      });
      const url = `${server.url}/api/v1/events/stream?executionId=${body.id}`;
      await readStream(url, auth(), (m) => m.event === 'log' && /waiting at/.test(m.data));
      // A running one cannot be resumed: the empty body reaches the handler, which says why.
      const running = await postEmpty(`${server.url}/api/v1/executions/${body.id}/resume`, auth());
      assert.equal(running.status, 409, running.text);
      assert.match(JSON.parse(running.text).message, /is running/);
      // fetch sends an empty string body as text/plain.
      const forced = await fetch(`${server.url}/api/v1/executions/${body.id}/cancel`, {
        method: 'POST',
        headers: auth(),
        body: '',
      });
      assert.equal(forced.status, 200);
      assert.equal(((await forced.json()) as Doc).status, 'cancelling');
      writeFileSync(gate, '');
      const end = await readStream(url, auth(), (m) => m.event === 'end');
      assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'cancelled' });
      const again = await postEmpty(`${server.url}/api/v1/executions/${body.id}/cancel`, auth());
      assert.equal(again.status, 409, 'an ended one: the handler answered, not the validator');
      const unknown = await server.api('POST', `/executions/${body.id}/resume`, { body: { nope: 1 } });
      assert.equal(unknown.status, 202, 'unknown fields are ignored, as before');
      await readStream(url, auth(), (m) => m.event === 'end');
      const badType = await server.api('POST', `/executions/${body.id}/cancel`, { body: { force: 'yes' } });
      assert.equal(badType.status, 400, 'a body given is still validated');
      const doc = (await server.api('GET', '/openapi.json')).body;
      for (const action of ['cancel', 'resume'])
        assert.equal(doc.paths[`/api/v1/executions/{id}/${action}`].post.requestBody.required, false, action);
      assert.equal(doc.paths['/api/v1/executions'].post.requestBody.required, true);
    });

    test('install, uninstall and reinstall take the type_names, node_ids and node_instance_ids they list, and run on those instances', async () => {
      const record = join(server.stateDir, 'record-5');
      const tenant = await server.context.tenants.get('default_tenant');
      await deploy(tenant, blueprint, 'five', { record, count: 1 });
      const shown = await server.api('GET', '/deployments/five');
      const listed = new Map<string, Doc>(shown.body.workflows.map((w: Doc) => [w.name, w.parameters]));
      const selection = ['node_ids', 'node_instance_ids', 'type_names'];
      assert.deepEqual(Object.keys(listed.get('install')).sort(), selection);
      assert.deepEqual(Object.keys(listed.get('uninstall')).sort(), ['ignore_failure', ...selection]);
      assert.deepEqual(Object.keys(listed.get('reinstall')).sort(), ['ignore_failure', ...selection]);
      assert.deepEqual(listed.get('install').node_ids, { type: 'list', default: [], required: false });
      const run = async (workflowId: string, parameters: Doc) => {
        const started = await server.api('POST', '/executions', {
          body: { deploymentId: 'five', workflowId, parameters },
        });
        assert.equal(started.status, 201, JSON.stringify(started.body));
        const end = await readStream(
          `${server.url}/api/v1/events/stream?executionId=${started.body.id}`,
          auth(),
          (m) => m.event === 'end',
        );
        assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'terminated' }, workflowId);
      };
      const states = async () =>
        Object.fromEntries((await tenant.store.listInstances('five')).map((i) => [i.node, i.state]));
      const idOf = async (node: string) =>
        (await tenant.store.listInstances('five')).find((i) => i.node === node)!.id;

      await run('install', { node_ids: ['base'] });
      assert.deepEqual(await states(), { base: 'started', gated: 'uninitialized', last: 'uninitialized' });
      await run('install', { type_names: ['test.Gated'], node_instance_ids: [await idOf('gated')] });
      assert.deepEqual(await states(), { base: 'started', gated: 'started', last: 'uninitialized' });
      await run('reinstall', { node_ids: ['gated'] });
      await run('uninstall', { node_ids: ['base'] });
      assert.deepEqual(await states(), { base: 'deleted', gated: 'started', last: 'uninitialized' });
      assert.deepEqual(
        lines(record).map((l) => l.replace(/_[a-z0-9]+$/, '')),
        [
          'create base',
          'start-begin base',
          'start-end base',
          'create gated',
          'start-begin gated',
          'start-end gated',
          'delete gated',
          'create gated',
          'start-begin gated',
          'start-end gated',
          'delete base',
        ],
      );
      const unknown = await server.api('POST', '/executions', {
        body: { deploymentId: 'five', workflowId: 'install', parameters: { node_ids: ['nope'] } },
      });
      assert.equal(unknown.status, 422);
      assert.match(unknown.body.message, /node_ids names unknown node 'nope'/);
    });

    test('every workflow a deployment lists takes every parameter it lists; those Weft does not run are not listed', async () => {
      const tenant = await server.context.tenants.get('default_tenant');
      await deploy(tenant, blueprint, 'six', { record: join(server.stateDir, 'record-6'), count: 1 });
      const shown = await server.api('GET', '/deployments/six');
      const names = shown.body.workflows.map((w: Doc) => w.name as string);
      for (const name of ['install_new_agents', 'validate_agents', 'pull'])
        assert.ok(!names.includes(name), `${name} is not listed`);
      const listed = new Map<string, Doc>(shown.body.workflows.map((w: Doc) => [w.name, w.parameters]));
      assert.deepEqual(Object.keys(listed.get('heal')), ['node_instance_id'], 'no diagnose_value');
      assert.deepEqual(Object.keys(listed.get('update')).sort(), [
        'ignore_failure',
        'install_first',
        'reinstall_list',
        'skip_install',
        'skip_reinstall',
        'skip_uninstall',
      ]);
      let started = 0;
      for (const { name, parameters } of shown.body.workflows as Doc[]) {
        // The deployment update is started by its own route.
        if (name === 'update' || name === 'rollback') continue;
        const given = Object.fromEntries(
          Object.entries(parameters as Record<string, Doc>)
            .filter(([, p]) => p.default !== undefined && p.default !== null)
            .map(([parameter, p]) => [parameter, p.default]),
        );
        const answer = await server.api('POST', '/executions', {
          body: { deploymentId: 'six', workflowId: name, parameters: given },
        });
        // Some need a value with no default (heal's node_instance_id...): refused for that only.
        if (answer.status === 422) {
          assert.doesNotMatch(answer.body.message, /has no parameter|must be/, name);
          continue;
        }
        assert.equal(answer.status, 201, `${name}: ${JSON.stringify(answer.body)}`);
        started++;
        await readStream(
          `${server.url}/api/v1/events/stream?executionId=${answer.body.id}`,
          auth(),
          (m) => m.event === 'end',
        );
      }
      assert.ok(started >= 8, `${started} workflows started with every parameter they list`);
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
