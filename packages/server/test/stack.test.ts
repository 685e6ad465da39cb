/**
 * A HOT stack's snapshots over the API, as `weft stack snapshot|snapshots|snapshot-show|
 * snapshot-delete|restore` do them locally: taken and deleted by executions followed like any
 * other, restored by an update; the CLI's refusals; on both stores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Backend, type Doc, readStream, startTestServer, type TestServer } from './harness.js';

const YAML = { 'content-type': 'application/yaml' };
/** The plugins that ship with Weft (HOT's resource types are the utilities plugin's). */
const BUILT_IN_PLUGINS = fileURLToPath(new URL('../../../plugins', import.meta.url));

const PASSWORD = `heat_template_version: 2018-08-31
parameters:
  length: {type: number, default: 12}
resources:
  password:
    type: OS::Heat::RandomString
    properties: {length: {get_param: length}}
outputs:
  password: {value: {get_attr: [password, value]}}
`;

const PLAIN = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
node_templates:
  box: {type: cloudify.nodes.Root}
`;

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`HOT stack snapshots (${backend})`, () => {
    let server: TestServer;
    /** Follows an execution's event stream to its end: how it ended. */
    const ended = async (id: string) => {
      const stream = await readStream(
        `${server.url}/api/v1/events/stream?executionId=${id}`,
        { authorization: `Bearer ${server.adminToken}` },
        (m) => m.event === 'end',
      );
      const end = stream.messages.at(-1)!;
      assert.equal(end.event, 'end');
      return JSON.parse(end.data).status as string;
    };
    const outputs = async () => (await server.api('GET', '/deployments/stack/outputs')).body.outputs as Doc;

    before(async () => {
      server = await startTestServer(backend, { pluginDirs: [BUILT_IN_PLUGINS] });
      for (const [id, text] of [
        ['stack', PASSWORD],
        ['stack16', PASSWORD.replace('default: 12', 'default: 16')],
        ['plain', PLAIN],
      ] as const) {
        const made = await server.api('PUT', `/blueprints/${id}`, { body: text, headers: YAML });
        assert.equal(made.status, 201, JSON.stringify(made.body));
      }
      for (const id of ['stack', 'plain']) {
        const made = await server.api('PUT', `/deployments/${id}`, { body: { blueprintId: id } });
        assert.equal(made.status, 201, JSON.stringify(made.body));
      }
      const install = await server.api('POST', '/executions', {
        body: { deploymentId: 'stack', workflowId: 'install' },
      });
      assert.equal(await ended(install.body.id), 'terminated');
    });
    after(() => server.stop());

    test('a snapshot is taken by an execution, listed, shown, survives an update that replaces a resource, is restored and deleted', async () => {
      assert.deepEqual((await server.api('GET', '/deployments/stack/snapshots')).body, []);
      const before = await outputs();
      assert.equal((before.password as string).length, 12);

      const taken = await server.api('POST', '/deployments/stack/snapshots', { body: { name: 'first' } });
      assert.equal(taken.status, 201, JSON.stringify(taken.body));
      assert.equal(taken.body.snapshot.name, 'first');
      assert.equal(taken.body.execution.workflow, 'snapshot');
      assert.equal(taken.body.execution.parameters.snapshot, taken.body.snapshot.id);
      assert.equal(await ended(taken.body.execution.id), 'terminated');
      // Stored by the time the execution's stream has ended.
      const listed = await server.api('GET', '/deployments/stack/snapshots');
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.map((s: Doc) => [s.id, s.name, s.status, 'data' in s]),
        [[taken.body.snapshot.id, 'first', 'COMPLETE', false]],
      );
      const shown = await server.api('GET', '/deployments/stack/snapshots/first');
      assert.equal(shown.status, 200);
      assert.equal(shown.body.id, taken.body.snapshot.id);
      assert.equal(`${shown.body.data.action}_${shown.body.data.status}`, 'SNAPSHOT_COMPLETE');
      assert.deepEqual(Object.keys(shown.body.data.resources), ['password']);
      assert.deepEqual(
        (await server.api('GET', `/deployments/stack/snapshots/${taken.body.snapshot.id}`)).body,
        shown.body,
        'by id as by name',
      );

      // An update that replaces the password, then the restore brings its value back.
      const update = await server.api('POST', '/deployments/stack/updates', {
        body: { blueprintId: 'stack16' },
      });
      assert.equal(update.status, 201, JSON.stringify(update.body));
      assert.equal(await ended(update.body.id), 'terminated');
      assert.equal(((await outputs()).password as string).length, 16);
      const restore = await server.api('POST', '/deployments/stack/snapshots/first/restore', { body: {} });
      assert.equal(restore.status, 201, JSON.stringify(restore.body));
      assert.equal(restore.body.workflow, 'update');
      assert.equal(restore.body.parameters.restore, taken.body.snapshot.id);
      assert.equal(await ended(restore.body.id), 'terminated');
      assert.deepEqual(await outputs(), before, "the snapshot's values are back");

      const deleted = await server.api('DELETE', '/deployments/stack/snapshots/first');
      assert.equal(deleted.status, 202, JSON.stringify(deleted.body));
      assert.equal(deleted.body.workflow, 'delete_snapshot');
      assert.equal(await ended(deleted.body.id), 'terminated');
      assert.deepEqual((await server.api('GET', '/deployments/stack/snapshots')).body, []);
      const gone = await server.api('GET', '/deployments/stack/snapshots/first');
      assert.equal(gone.status, 404);
      assert.equal(gone.body.code, 'not_found');
    });

    test("refusals as the CLI's: not a Heat stack, a FAILED snapshot, a name two have, an execution running", async () => {
      const plain = await server.api('GET', '/deployments/plain/snapshots');
      assert.equal(plain.status, 422);
      assert.match(plain.body.message, /^deployment 'plain' is not a Heat stack/);
      assert.equal((await server.api('POST', '/deployments/plain/snapshots', { body: {} })).status, 422);
      assert.equal((await server.api('GET', '/deployments/nowhere/snapshots')).status, 404);

      const tenant = await server.context.tenants.get('default_tenant');
      const deployment = (await tenant.store.getDeployment('stack'))!;
      const record = (id: string, name: string, status: string) => ({
        id,
        deploymentId: 'stack',
        name,
        blueprintId: deployment.blueprintId,
        inputs: deployment.inputs,
        model: deployment.model,
        data: { status, resources: {} },
        createdAt: new Date().toISOString(),
      });
      await tenant.store.putSnapshot(record('snap-failed', 'broken', 'FAILED'));
      await tenant.store.putSnapshot(record('snap-a', 'twice', 'COMPLETE'));
      await tenant.store.putSnapshot(record('snap-b', 'twice', 'COMPLETE'));
      const failed = await server.api('POST', '/deployments/stack/snapshots/broken/restore', { body: {} });
      assert.equal(failed.status, 422);
      assert.equal(
        failed.body.message,
        'Restoring incomplete snapshot is not supported: snapshot snap-failed (broken) is FAILED',
      );
      const twice = await server.api('GET', '/deployments/stack/snapshots/twice');
      assert.equal(twice.status, 422);
      assert.match(twice.body.message, /has 2 snapshots named 'twice' \(snap-a, snap-b\); give its id/);
      assert.equal((await server.api('GET', '/deployments/stack/snapshots/snap-a')).status, 200);

      // An execution running on the stack (stored as a crashed process left it): each action is 409.
      const at = new Date().toISOString();
      await tenant.store.createExecution(
        {
          id: 'exec-running',
          deploymentId: 'stack',
          workflow: 'install',
          parameters: {},
          status: 'started',
          error: null,
          createdAt: at,
          startedAt: at,
          endedAt: null,
        },
        [],
      );
      try {
        for (const [method, path] of [
          ['POST', '/deployments/stack/snapshots'],
          ['DELETE', '/deployments/stack/snapshots/snap-a'],
          ['POST', '/deployments/stack/snapshots/snap-a/restore'],
          ['POST', '/deployments/stack/abandon'],
        ] as const) {
          const refused = await server.api(method, path, method === 'POST' ? { body: {} } : {});
          assert.equal(refused.status, 409, `${method} ${path}`);
          assert.match(
            refused.body.message,
            /^stack 'stack' has a running execution exec-running \(install\)/,
          );
        }
      } finally {
        await tenant.store.applyBatch({
          execution: { id: 'exec-running', status: 'cancelled', endedAt: at },
        });
      }
      for (const id of ['snap-failed', 'snap-a', 'snap-b']) await tenant.store.deleteSnapshot('stack', id);
    });

    test("abandon answers the stack's abandon data and forgets it; PUT with adopt takes its resources over, refused as the CLI's --adopt", async () => {
      assert.equal(
        (await server.api('PUT', '/deployments/old', { body: { blueprintId: 'stack' } })).status,
        201,
      );
      const install = await server.api('POST', '/executions', {
        body: { deploymentId: 'old', workflowId: 'install' },
      });
      assert.equal(await ended(install.body.id), 'terminated');
      const password = (await server.api('GET', '/deployments/old/outputs')).body.outputs.password;

      const plain = await server.api('POST', '/deployments/plain/abandon', { body: {} });
      assert.equal(plain.status, 422);
      assert.match(plain.body.message, /^deployment 'plain' is not a Heat stack/);
      assert.equal((await server.api('POST', '/deployments/nowhere/abandon', { body: {} })).status, 404);
      const abandoned = await server.api('POST', '/deployments/old/abandon', { body: {} });
      assert.equal(abandoned.status, 200, JSON.stringify(abandoned.body));
      const data = abandoned.body;
      // Heat's Stack.prepare_abandon keys.
      assert.deepEqual(Object.keys(data).sort(), [
        'action',
        'environment',
        'files',
        'id',
        'name',
        'project_id',
        'resources',
        'stack_user_project_id',
        'status',
        'tags',
        'template',
      ]);
      assert.deepEqual(
        [data.project_id, data.stack_user_project_id, data.tags],
        ['default_tenant', null, []],
      );
      assert.equal(data.name, 'old');
      assert.equal(data.resources.password.type, 'OS::Heat::RandomString');
      assert.equal(typeof data.resources.password.resource_id, 'string');
      assert.equal(data.template.heat_template_version, '2018-08-31');
      assert.equal((await server.api('GET', '/deployments/old')).status, 404);

      const put = (id: string, blueprintId: string) =>
        server.api('PUT', `/deployments/${id}`, { body: { blueprintId, adopt: data } });
      const notHot = await put('new', 'plain');
      assert.equal(notHot.status, 422);
      assert.match(notHot.body.message, /^an adopt takes a HOT template \(heat_template_version\)/);
      const other = await put('new', 'stack16');
      assert.equal(other.status, 422);
      assert.match(
        other.body.message,
        /^the stack was abandoned with another template than blueprint 'stack16'/,
      );
      const exists = await put('stack', 'stack');
      assert.equal(exists.status, 409);
      assert.match(exists.body.message, /^deployment 'stack' exists; an adopt creates a new stack/);
      assert.equal((await server.api('GET', '/deployments/new')).status, 404, 'nothing made by a refusal');

      assert.equal((await put('new', 'stack')).status, 201);
      const adopt = await server.api('POST', '/executions', {
        body: { deploymentId: 'new', workflowId: 'install' },
      });
      assert.equal(await ended(adopt.body.id), 'terminated');
      assert.equal((await server.api('GET', '/deployments/new/outputs')).body.outputs.password, password);
      assert.equal((await server.api('GET', '/deployments/new')).body.stackStatus, 'ADOPT_COMPLETE');
    });
  });
}
