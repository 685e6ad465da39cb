/**
 * A HOT stack's update or uninstall through the API while its create runs takes the stack over,
 * as Heat's convergence (and `weft update`/`weft uninstall` locally) does: the running execution
 * is stopped (without rollback for an update, with its running operations for a delete), the new
 * one starts once it has ended, answered 202 naming the one stopped. A Cloudify deployment keeps
 * refusing (409). And the update with `existing` (Heat's PATCH update); on both stores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Backend, type Doc, readStream, startTestServer, type TestServer } from './harness.js';

const YAML = { 'content-type': 'application/yaml' };
/** The plugins that ship with Weft (HOT's resource types are the utilities plugin's). */
const BUILT_IN_PLUGINS = fileURLToPath(new URL('../../../plugins', import.meta.url));

/** test1's create takes `wait` seconds (-1: forever); test2 comes after it. */
const TWO = (value: string, wait: number) => `heat_template_version: pike
resources:
  test1:
    type: OS::Heat::TestResource
    properties: {value: ${value}, action_wait_secs: {create: ${wait}}}
  test2:
    type: OS::Heat::TestResource
    properties: {value: ${value}}
    depends_on: [test1]
outputs:
  value: {value: {get_attr: [test2, output]}}
`;

const VALUES = `heat_template_version: rocky
parameters:
  value: {type: string}
  other: {type: string, default: kept}
resources:
  res:
    type: OS::Heat::TestResource
    properties: {value: {list_join: ['-', [{get_param: value}, {get_param: other}]]}}
outputs:
  value: {value: {get_attr: [res, output]}}
`;

const PLAIN = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
node_templates:
  box: {type: cloudify.nodes.Root}
`;

const base64 = (text: string) => Buffer.from(text).toString('base64');

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`HOT stack take-over (${backend})`, () => {
    let server: TestServer;
    const auth = () => ({ authorization: `Bearer ${server.adminToken}` });
    /** Follows an execution's event stream to its end: how it ended. */
    const ended = async (id: string) => {
      const stream = await readStream(
        `${server.url}/api/v1/events/stream?executionId=${id}`,
        auth(),
        (m) => m.event === 'end',
      );
      const end = stream.messages.at(-1)!;
      assert.equal(end.event, 'end');
      return JSON.parse(end.data).status as string;
    };
    /** Reads the execution's events until one says test1 waits (its create is under way). */
    const waiting = (id: string) =>
      readStream(`${server.url}/api/v1/events/stream?executionId=${id}`, auth(), (m) =>
        /test1_\w+ waits/.test(m.data),
      );
    const blueprint = async (id: string, text: string) => {
      const made = await server.api('PUT', `/blueprints/${id}`, { body: text, headers: YAML });
      assert.equal(made.status, 201, JSON.stringify(made.body));
    };
    const deployment = async (id: string, body: Doc) => {
      const made = await server.api('PUT', `/deployments/${id}`, { body });
      assert.equal(made.status, 201, JSON.stringify(made.body));
    };
    const start = async (deploymentId: string, workflowId: string) =>
      server.api('POST', '/executions', { body: { deploymentId, workflowId } });
    const execution = async (id: string) => (await server.api('GET', `/executions/${id}`)).body as Doc;
    const stackState = async (id: string) =>
      (await server.api('GET', `/deployments/${id}`)).body.stackStatus as string;

    before(async () => {
      server = await startTestServer(backend, { pluginDirs: [BUILT_IN_PLUGINS] });
      await blueprint('slow', TWO('Test1', 4));
      await blueprint('fast', TWO('Test2', 0));
      await blueprint('forever', TWO('Test1', -1));
      await blueprint('values', VALUES);
      await blueprint('plain', PLAIN);
      await deployment('plain', { blueprintId: 'plain' });
    });
    after(() => server.stop());

    test('an update while the create runs stops it without rollback, what is under way finishing, then updates', async () => {
      await deployment('upd', { blueprintId: 'slow' });
      const install = await start('upd', 'install');
      assert.equal(install.status, 201, JSON.stringify(install.body));
      await waiting(install.body.id);
      const update = await server.api('POST', '/deployments/upd/updates', { body: { blueprintId: 'fast' } });
      assert.equal(update.status, 202, JSON.stringify(update.body));
      assert.equal(update.body.workflow, 'update');
      assert.equal(update.body.tookOver, install.body.id);
      const stopped = await execution(install.body.id);
      assert.deepEqual([stopped.status, stopped.cancelRequest], ['cancelled', { rollback: false }]);
      assert.equal(await ended(update.body.id), 'terminated');
      assert.equal(await stackState('upd'), 'UPDATE_COMPLETE');
      // test1, whose create the install was in, is updated to the new template; test2, which the
      // install never got to, is made by the update, as Heat's new traversal makes it.
      const instances = (await server.api('GET', '/node-instances?deploymentId=upd')).body.items as Doc[];
      assert.deepEqual(
        instances.map((i) => [i.node, i.runtimeProperties.output, i.runtimeProperties.heat.state]),
        [
          ['test1', 'Test2', { action: 'UPDATE', status: 'COMPLETE' }],
          ['test2', 'Test2', { action: 'CREATE', status: 'COMPLETE' }],
        ],
      );
      assert.equal((await server.api('GET', '/deployments/upd/outputs')).body.outputs.value, 'Test2');
    });

    test('an uninstall while the create runs stops it with its running operations, then deletes', async () => {
      await deployment('del', { blueprintId: 'forever' });
      const install = await start('del', 'install');
      assert.equal(install.status, 201, JSON.stringify(install.body));
      await waiting(install.body.id);
      const uninstall = await start('del', 'uninstall');
      assert.equal(uninstall.status, 202, JSON.stringify(uninstall.body));
      assert.deepEqual([uninstall.body.workflow, uninstall.body.tookOver], ['uninstall', install.body.id]);
      // Not rolled back either (Heat's stop_traversal), and stopped at once.
      const stopped = await execution(install.body.id);
      assert.deepEqual([stopped.status, stopped.cancelRequest], ['cancelled', { rollback: false }]);
      assert.equal(await ended(uninstall.body.id), 'terminated');
      assert.equal(await stackState('del'), 'DELETE_COMPLETE');
    });

    test('an execution no process runs any more ends cancelled; a Cloudify deployment is still refused (409)', async () => {
      await deployment('crashed', { blueprintId: 'fast' });
      const tenant = await server.context.tenants.get('default_tenant');
      const at = new Date().toISOString();
      // Stored as a crashed process leaves them.
      for (const [id, deploymentId] of [
        ['exec-crashed', 'crashed'],
        ['exec-plain', 'plain'],
      ] as const)
        await tenant.store.createExecution(
          {
            id,
            deploymentId,
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
      const update = await server.api('POST', '/deployments/crashed/updates', { body: {} });
      assert.equal(update.status, 202, JSON.stringify(update.body));
      assert.equal(update.body.tookOver, 'exec-crashed');
      assert.equal((await execution('exec-crashed')).status, 'cancelled');
      assert.equal(await ended(update.body.id), 'terminated');

      for (const refused of [
        await server.api('POST', '/deployments/plain/updates', { body: {} }),
        await start('plain', 'uninstall'),
      ]) {
        assert.equal(refused.status, 409, JSON.stringify(refused.body));
        assert.match(refused.body.message, /already has a running execution exec-plain \(install\)/);
      }
      assert.equal((await execution('exec-plain')).status, 'started');
      await tenant.store.applyBatch({ execution: { id: 'exec-plain', status: 'cancelled', endedAt: at } });
    });

    test("existing: the stack's own template and environment, the inputs given over its own (Heat's PATCH update)", async () => {
      const environment = {
        files: { 'env.yaml': base64('parameters:\n  other: two\n') },
        order: ['env.yaml'],
      };
      await deployment('patch', {
        blueprintId: 'values',
        inputs: { value: 'one', other: 'two' },
        environment,
      });
      assert.equal(await ended((await start('patch', 'install')).body.id), 'terminated');
      assert.equal((await server.api('GET', '/deployments/patch/outputs')).body.outputs.value, 'one-two');
      const plan = await server.api('POST', '/deployments/patch/update-plan', {
        body: { existing: true, inputs: { value: 'three' } },
      });
      assert.equal(plan.status, 200, JSON.stringify(plan.body));
      assert.deepEqual(
        plan.body.nodes.map((n: Doc) => [n.node, n.action]),
        [['res', 'update']],
      );
      const update = await server.api('POST', '/deployments/patch/updates', {
        body: { existing: true, inputs: { value: 'three' } },
      });
      assert.equal(update.status, 201, JSON.stringify(update.body));
      assert.equal(await ended(update.body.id), 'terminated');
      assert.equal((await server.api('GET', '/deployments/patch/outputs')).body.outputs.value, 'three-two');
      assert.equal(await stackState('patch'), 'UPDATE_COMPLETE');

      const named = await server.api('POST', '/deployments/patch/updates', {
        body: { existing: true, blueprintId: 'values' },
      });
      assert.equal(named.status, 422);
      assert.match(
        named.body.message,
        /existing updates the stack with its own template: leave out blueprintId/,
      );
      const plain = await server.api('POST', '/deployments/plain/updates', { body: { existing: true } });
      assert.equal(plain.status, 422);
      assert.match(plain.body.message, /deployment 'plain' is no HOT stack/);
    });
  });
}
