/**
 * The deployment update over the API, as `weft update` does it: its plan (nothing changed), then
 * the update execution, followed like any other; refused by role and tenant; on both stores.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

const YAML = { 'content-type': 'application/yaml' };

const WEB = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
inputs:
  name: {type: string}
  port: {type: integer, default: 8080}
node_templates:
  host:
    type: cloudify.nodes.Root
  app:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
outputs:
  endpoint: {value: {concat: [{get_input: name}, ':', {get_input: port}]}}
`;

/** The same with a cache beside the app. */
const WEB2 = `${WEB.replace(
  'outputs:',
  `  cache:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
outputs:`,
)}`;

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`deployment updates (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
      for (const [id, text] of [
        ['web', WEB],
        ['web2', WEB2],
      ]) {
        const made = await server.api('PUT', `/blueprints/${id}`, { body: text, headers: YAML });
        assert.equal(made.status, 201, JSON.stringify(made.body));
      }
      const made = await server.api('PUT', '/deployments/prod', {
        body: { blueprintId: 'web', inputs: { name: 'shop' } },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const install = await server.api('POST', '/executions', {
        body: { deploymentId: 'prod', workflowId: 'install' },
      });
      assert.equal((await ended(install.body.id)).status, 'terminated');
    });
    after(() => server.stop());

    const auth = () => ({ authorization: `Bearer ${server.adminToken}` });
    /** Follows an execution's event stream to its end: its events and how it ended. */
    const ended = async (id: string) => {
      const stream = await readStream(
        `${server.url}/api/v1/events/stream?executionId=${id}`,
        auth(),
        (m) => m.event === 'end',
      );
      const end = stream.messages.at(-1)!;
      assert.equal(end.event, 'end');
      return {
        status: JSON.parse(end.data).status as string,
        events: stream.messages.slice(0, -1).map((m) => JSON.parse(m.data) as Doc),
      };
    };

    test('the plan says what an update would change, and changes nothing', async () => {
      const before = await server.api('GET', '/deployments/prod');
      const executions = (await server.api('GET', '/executions?deploymentId=prod')).body.total;
      const plan = await server.api('POST', '/deployments/prod/update-plan', {
        body: { blueprintId: 'web2', inputs: { port: 9090 } },
      });
      assert.equal(plan.status, 200, JSON.stringify(plan.body));
      assert.equal(plan.body.deploymentId, 'prod');
      assert.equal(plan.body.changes, true);
      assert.deepEqual(
        plan.body.nodes.map((n: Doc) => [n.node, n.change, n.action]),
        [['cache', 'added', 'add']],
      );
      assert.deepEqual(plan.body.inputs, [{ name: 'port', change: 'modified', before: 8080, after: 9090 }]);
      assert.deepEqual(
        plan.body.instances.map((i: Doc) => [i.node, i.action]),
        [['cache', 'add']],
      );
      assert.ok(
        plan.body.operations.every((o: Doc) => typeof o.wave === 'number' && typeof o.operation === 'string'),
      );
      // Inputs alone: the deployment's own blueprint, its other inputs kept.
      const inputsOnly = await server.api('POST', '/deployments/prod/update-plan', {
        body: { inputs: { name: 'store' } },
      });
      assert.equal(inputsOnly.status, 200, JSON.stringify(inputsOnly.body));
      assert.deepEqual(inputsOnly.body.nodes, []);
      assert.deepEqual(inputsOnly.body.inputs, [
        { name: 'name', change: 'modified', before: 'shop', after: 'store' },
      ]);
      const none = await server.api('POST', '/deployments/prod/update-plan', { body: {} });
      assert.equal(none.status, 200);
      assert.equal(none.body.changes, false);
      assert.deepEqual((await server.api('GET', '/deployments/prod')).body, before.body);
      assert.equal((await server.api('GET', '/executions?deploymentId=prod')).body.total, executions);
    });

    test('bad requests: unknown deployment or blueprint 404, bad inputs 422 with the problems, unknown parameters 400', async () => {
      for (const route of ['update-plan', 'updates']) {
        const none = await server.api('POST', `/deployments/nope/${route}`, { body: { blueprintId: 'web' } });
        assert.equal(none.status, 404, route);
        assert.equal(none.body.code, 'not_found');
        const noBlueprint = await server.api('POST', `/deployments/prod/${route}`, {
          body: { blueprintId: 'nope' },
        });
        assert.equal(noBlueprint.status, 404, route);
        assert.match(noBlueprint.body.message, /blueprint 'nope'/);
        const bad = await server.api('POST', `/deployments/prod/${route}`, {
          body: { blueprintId: 'web2', inputs: { port: 'eighty' } },
        });
        assert.equal(bad.status, 422, route);
        assert.equal(bad.body.code, 'invalid');
        assert.ok(bad.body.details.some((p: Doc) => /port/.test(p.path) || /port/.test(p.message)));
        const unknown = await server.api('POST', `/deployments/prod/${route}`, {
          body: { blueprintId: 'web2', parameters: { colour: 'red' } },
        });
        assert.equal(unknown.status, 400, route);
        assert.equal(unknown.body.code, 'bad_request');
      }
      assert.equal((await server.api('GET', '/deployments/prod')).body.blueprintId, 'web', 'nothing changed');
    });

    test('an update runs as an execution: its events stream, the deployment ends on the new blueprint and inputs', async () => {
      // Read first: the server keeps what it worked out from this version of the deployment.
      const before = await server.api('GET', '/deployments/prod');
      assert.deepEqual(
        before.body.nodes.map((n: Doc) => n.id),
        ['app', 'host'],
      );
      const started = await server.api('POST', '/deployments/prod/updates', {
        body: { blueprintId: 'web2', inputs: { port: 9090 }, parameters: { install_first: true } },
      });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.workflow, 'update');
      assert.equal(started.body.deploymentId, 'prod');
      assert.equal(started.body.parameters.install_first, true);
      const { status, events } = await ended(started.body.id);
      assert.equal(status, 'terminated');
      assert.equal(events.at(-1)!.type, 'workflow_succeeded');
      const shown = await server.api('GET', '/deployments/prod');
      assert.equal(shown.body.blueprintId, 'web2');
      assert.deepEqual(shown.body.inputs, { name: 'shop', port: 9090 });
      assert.deepEqual(
        shown.body.nodes.map((n: Doc) => [n.id, n.instances]),
        [
          ['app', 1],
          ['cache', 1],
          ['host', 1],
        ],
      );
      assert.deepEqual(shown.body.instanceStates, { started: 3 });
      assert.equal((await server.api('GET', '/deployments/prod/outputs')).body.outputs.endpoint, 'shop:9090');
      const execution = await server.api('GET', `/executions/${started.body.id}`);
      assert.equal(execution.body.status, 'terminated');
      // The blueprint it is of now cannot be deleted; the one it was of can.
      assert.equal((await server.api('DELETE', '/blueprints/web2')).status, 409);
      const again = await server.api('POST', '/deployments/prod/update-plan', { body: {} });
      assert.equal(again.body.changes, false, 'the plan of no change, against the new version');
    });

    test('a rollback updates the deployment back to its version before the last update', async () => {
      const started = await server.api('POST', '/deployments/prod/rollback');
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.workflow, 'rollback');
      assert.equal((await ended(started.body.id)).status, 'terminated');
      const shown = await server.api('GET', '/deployments/prod');
      assert.equal(shown.body.blueprintId, 'web');
      assert.deepEqual(shown.body.inputs, { name: 'shop', port: 8080 });
      assert.deepEqual(
        shown.body.nodes.map((n: Doc) => n.id),
        ['app', 'host'],
      );
      assert.deepEqual(shown.body.instanceStates, { started: 2 });
      assert.equal((await server.api('GET', '/deployments/prod/outputs')).body.outputs.endpoint, 'shop:8080');
      const fresh = await server.api('PUT', '/deployments/fresh', {
        body: { blueprintId: 'web', inputs: { name: 'new' } },
      });
      assert.equal(fresh.status, 201);
      const never = await server.api('POST', '/deployments/fresh/rollback', { body: {} });
      assert.equal(never.status, 422);
      assert.match(never.body.message, /never updated/);
      // Started as a workflow, the rollback is the route's, refused the same way.
      const direct = await server.api('POST', '/executions', {
        body: { deploymentId: 'fresh', workflowId: 'rollback' },
      });
      assert.equal(direct.status, 422);
      assert.equal(direct.body.message, never.body.message);
      assert.equal((await server.api('POST', '/deployments/nope/rollback')).status, 404);
    });

    test('after an install that did not succeed, a rollback uninstalls what it created, as weft exec rollback does locally', async () => {
      // A node whose create fails (not retried) after another was created.
      const dir = join(server.stateDir, 'breaks');
      mkdirSync(join(dir, 'plugin'), { recursive: true });
      writeFileSync(
        join(dir, 'blueprint.yaml'),
        `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
inputs:
  record: {type: string}
plugins:
  breaks:
    executor: central_deployment_agent
    source: plugin/index.mjs
node_types:
  test.Breaks:
    derived_from: cloudify.nodes.Root
    properties:
      record: {type: string}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: breaks.create
        delete: breaks.remove
node_templates:
  made:
    type: test.Breaks
    properties: {record: {get_input: record}}
  broken:
    type: test.Breaks
    properties: {record: {get_input: record}}
    relationships:
      - {type: cloudify.relationships.depends_on, target: made}
`,
      );
      writeFileSync(
        join(dir, 'plugin', 'index.mjs'),
        `import { appendFileSync } from 'node:fs';
import { NonRecoverableError } from '@weft/sdk';
export function create(ctx) {
  if (ctx.node.name === 'broken') throw new NonRecoverableError('broken on purpose');
  appendFileSync(ctx.node.properties.record, 'create ' + ctx.node.name + '\\n');
}
export function remove(ctx) {
  appendFileSync(ctx.node.properties.record, 'delete ' + ctx.node.name + '\\n');
}
`,
      );
      const record = join(server.stateDir, 'breaks-record');
      writeFileSync(record, '');
      await deploy(
        await server.context.tenants.get('default_tenant'),
        join(dir, 'blueprint.yaml'),
        'breaks',
        {
          record,
        },
      );
      const install = await server.api('POST', '/executions', {
        body: { deploymentId: 'breaks', workflowId: 'install' },
      });
      assert.equal(install.status, 201, JSON.stringify(install.body));
      assert.equal((await ended(install.body.id)).status, 'failed');
      assert.deepEqual(readFileSync(record, 'utf8').split('\n').filter(Boolean), ['create made']);
      const rollback = await server.api('POST', '/deployments/breaks/rollback', { body: {} });
      assert.equal(rollback.status, 201, JSON.stringify(rollback.body));
      assert.equal(rollback.body.workflow, 'uninstall');
      assert.equal(rollback.body.deploymentId, 'breaks');
      assert.equal((await ended(rollback.body.id)).status, 'terminated');
      assert.ok(readFileSync(record, 'utf8').split('\n').includes('delete made'));
      assert.deepEqual((await server.api('GET', '/deployments/breaks')).body.instanceStates, { deleted: 2 });
      // Started as a workflow, the same: the failed install is still the last of install, update, rollback.
      const direct = await server.api('POST', '/executions', {
        body: { deploymentId: 'breaks', workflowId: 'rollback' },
      });
      assert.equal(direct.status, 201, JSON.stringify(direct.body));
      assert.equal(direct.body.workflow, 'uninstall');
      assert.equal((await ended(direct.body.id)).status, 'terminated');
      // After an install that succeeded and no update, there is nothing to roll back.
      assert.equal(
        (
          await server.api('PUT', '/deployments/once', {
            body: { blueprintId: 'web', inputs: { name: 'x' } },
          })
        ).status,
        201,
      );
      const installed = await server.api('POST', '/executions', {
        body: { deploymentId: 'once', workflowId: 'install' },
      });
      assert.equal((await ended(installed.body.id)).status, 'terminated');
      const refused = await server.api('POST', '/deployments/once/rollback', { body: {} });
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.match(refused.body.message, /install of deployment 'once' succeeded and it was never updated/);
      const executions = (await server.api('GET', '/executions?deploymentId=once')).body.items;
      assert.deepEqual(
        executions.map((e: Doc) => e.workflow),
        ['install'],
      );
    });

    test('an update is refused (409) while the deployment runs another execution', async () => {
      const gate = join(server.stateDir, 'gate');
      await deploy(
        await server.context.tenants.get('default_tenant'),
        join(fixtures, 'gate', 'blueprint.yaml'),
        'busy',
        {
          record: join(server.stateDir, 'record'),
          gate,
          count: 1,
        },
      );
      const install = await server.api('POST', '/executions', {
        body: { deploymentId: 'busy', workflowId: 'install' },
      });
      await readStream(
        `${server.url}/api/v1/events/stream?executionId=${install.body.id}`,
        auth(),
        (m) => m.event === 'log' && /waiting at/.test(m.data),
      );
      const refused = await server.api('POST', '/deployments/busy/updates', {
        body: { blueprintId: 'web', inputs: { name: 'x' } },
      });
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'execution_active');
      writeFileSync(gate, '');
      assert.equal((await ended(install.body.id)).status, 'terminated');
      const listed = await server.api('GET', '/executions?deploymentId=busy');
      assert.deepEqual(
        listed.body.items.map((e: Doc) => e.workflow),
        ['install'],
        'no update was stored',
      );
    });

    test('roles and tenants: a viewer plans but cannot update or roll back; another tenant gets 404 for the deployment', async () => {
      const viewer = await userWithRole(server, 'vic', 'default_tenant', 'viewer');
      const plan = await server.api('POST', '/deployments/prod/update-plan', { token: viewer, body: {} });
      assert.equal(plan.status, 200);
      for (const route of ['updates', 'rollback']) {
        const refused = await server.api('POST', `/deployments/prod/${route}`, { token: viewer, body: {} });
        assert.equal(refused.status, 403, route);
        assert.equal(refused.body.code, 'forbidden');
      }
      const outsider = await userWithRole(server, 'otto', 'elsewhere', 'admin');
      for (const route of ['update-plan', 'updates', 'rollback']) {
        const answer = await server.api('POST', `/deployments/prod/${route}`, {
          token: outsider,
          body: { blueprintId: 'web' },
        });
        assert.equal(answer.status, 404, route);
        assert.doesNotMatch(JSON.stringify(answer.body), /shop/);
      }
    });

    test('the API document describes the update routes with their schemas', async () => {
      const doc = (await server.api('GET', '/openapi.json')).body;
      const plan = doc.paths['/api/v1/deployments/{id}/update-plan'].post;
      const updates = doc.paths['/api/v1/deployments/{id}/updates'].post;
      assert.ok(plan.requestBody.content['application/json'].schema.properties.parameters);
      assert.ok(plan.responses['200'] && plan.responses['404'] && plan.responses['422']);
      assert.ok(updates.responses['201'] && updates.responses['409'] && updates.responses['422']);
      assert.equal(updates.requestBody.required, false, 'every field is optional');
      const rollback = doc.paths['/api/v1/deployments/{id}/rollback'].post;
      assert.ok(rollback.responses['201'] && rollback.responses['422']);
    });

    test('a saved plan: answered with save, applied only alone, refused once the deployment changed', async () => {
      const planned = await server.api('POST', '/deployments/prod/update-plan', {
        body: { blueprintId: 'web2', inputs: { port: 9191 }, save: true },
      });
      assert.equal(planned.status, 200, JSON.stringify(planned.body));
      const { saved } = planned.body;
      assert.equal(saved.format, 'weft-update-plan');
      assert.equal(saved.deploymentId, 'prod');
      assert.equal(saved.next.inputs.port, 9191);
      // Without save, no saved plan.
      const unsaved = await server.api('POST', '/deployments/prod/update-plan', {
        body: { blueprintId: 'web2' },
      });
      assert.ok(!('saved' in unsaved.body));
      const mixed = await server.api('POST', '/deployments/prod/updates', {
        body: { plan: saved, blueprintId: 'web2' },
      });
      assert.equal(mixed.status, 422);
      assert.match(
        mixed.body.message,
        /a saved plan holds the blueprint, inputs and parameters: leave out blueprintId/,
      );
      const junk = await server.api('POST', '/deployments/prod/updates', { body: { plan: { format: 'x' } } });
      assert.equal(junk.status, 422);
      assert.match(junk.body.message, /not a saved update plan/);
      // Another execution changes the deployment: the plan is refused, and nothing starts.
      const install = await server.api('POST', '/executions', {
        body: { deploymentId: 'prod', workflowId: 'install' },
      });
      assert.equal((await ended(install.body.id)).status, 'terminated');
      const executions = (await server.api('GET', '/executions?deploymentId=prod')).body.total;
      const stale = await server.api('POST', '/deployments/prod/updates', { body: { plan: saved } });
      assert.equal(stale.status, 422);
      assert.match(stale.body.message, /deployment 'prod' has changed since the plan was saved/);
      assert.equal((await server.api('GET', '/executions?deploymentId=prod')).body.total, executions);
      const again = await server.api('POST', '/deployments/prod/update-plan', {
        body: { blueprintId: 'web2', inputs: { port: 9191 }, save: true },
      });
      const applied = await server.api('POST', '/deployments/prod/updates', {
        body: { plan: again.body.saved },
      });
      assert.equal(applied.status, 201, JSON.stringify(applied.body));
      assert.equal((await ended(applied.body.id)).status, 'terminated');
      const deployment = (await server.api('GET', '/deployments/prod')).body;
      assert.equal(deployment.blueprintId, 'web2');
      assert.equal(deployment.inputs.port, 9191);
      const versions = await server.api('GET', '/deployments/prod/versions');
      assert.equal(versions.status, 200);
      assert.deepEqual(versions.body.map((v: Doc) => [v.blueprint, v.current]).at(-1), ['web2', true]);
    });
  });
}
