/** Deployments, node instances and outputs over real HTTP, on both stores; secrets masked wherever state is shown. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tarArchive } from './archives.js';
import { type Backend, type Doc, startTestServer, type TestServer } from './harness.js';

const YAML = { 'content-type': 'application/yaml' };
/** The plugins that ship with Weft (this file is packages/server/dist/test/). */
const BUILT_IN_PLUGINS = fileURLToPath(new URL('../../../plugins', import.meta.url));

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
  address: {value: {get_attribute: [host, address]}}
  password: {value: {get_secret: db_password}}
`;

const HOT = `heat_template_version: 2018-08-31
parameters:
  db_password: {type: string, hidden: true, default: default-hidden-pw}
  name: {type: string, default: shop}
resources:
  password:
    type: OS::Heat::Value
    properties: {value: {get_param: db_password}}
outputs:
  password: {value: {get_param: db_password}}
  name: {value: {get_param: name}}
`;

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`deployments (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
      for (const [id, text] of [
        ['web', WEB],
        ['web2', WEB.replace('port: {type: integer, default: 8080}', 'port: {type: integer, default: 9090}')],
      ]) {
        const made = await server.api('PUT', `/blueprints/${id}`, { body: text, headers: YAML });
        assert.equal(made.status, 201, JSON.stringify(made.body));
      }
    });
    after(() => server.stop());

    const store = async () => (await server.context.tenants.get('default_tenant')).store;

    test('created from a blueprint and inputs: nothing runs, its nodes and inputs are shown', async () => {
      const made = await server.api('PUT', '/deployments/prod', {
        body: { blueprintId: 'web', inputs: { name: 'shop' } },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.id, 'prod');
      assert.equal(made.body.blueprintId, 'web');
      assert.equal(made.body.status, 'created');
      assert.equal(made.body.createdBy, 'admin');
      assert.equal(made.body.lastExecution, null);
      assert.deepEqual(made.body.inputs, { name: 'shop', port: 8080 });
      assert.deepEqual(
        made.body.nodes.map((n: Doc) => [n.id, n.instances]),
        [
          ['app', 1],
          ['host', 1],
        ],
      );
      assert.deepEqual(made.body.instanceStates, { uninitialized: 2 });
      assert.ok(made.body.workflows.some((w: Doc) => w.name === 'install'));
      assert.deepEqual(await (await store()).listExecutions('prod'), []);
      assert.equal(
        (
          await server.api('PUT', '/deployments/prod', {
            body: { blueprintId: 'web', inputs: { name: 'x' } },
          })
        ).status,
        409,
      );
      const shown = await server.api('GET', '/deployments/prod');
      assert.deepEqual(shown.body, made.body);
      assert.equal(shown.headers.get('content-type'), 'application/json; charset=utf-8');
    });

    test('compared with a blueprint sent with the request: same 200, differences 409, problems 422; nothing is stored', async () => {
      const archive = (text: string, extra: Record<string, string> = {}) =>
        tarArchive([
          { path: 'blueprint.yaml', content: text },
          ...Object.entries(extra).map(([path, content]) => ({ path, content })),
        ]).toString('base64');
      const blueprintsBefore = (await server.api('GET', '/blueprints')).body;
      const compare = (body: Doc) => server.api('POST', '/deployments/prod/compare', { body });
      const same = await compare({ archive: archive(WEB), inputs: { name: 'shop' } });
      assert.equal(same.status, 200, JSON.stringify(same.body));
      assert.deepEqual(same.body, { same: true });
      // The inputs not given are the deployment's.
      assert.equal((await compare({ archive: archive(WEB) })).status, 200);
      const otherInputs = await compare({ archive: archive(WEB), inputs: { name: 'x' } });
      assert.equal(otherInputs.status, 409, JSON.stringify(otherInputs.body));
      assert.deepEqual(otherInputs.body.details.inputs, ['name']);
      const otherFiles = await compare({
        archive: archive(WEB.replace('  app:', '  cache:\n    type: cloudify.nodes.Root\n  app:'), {
          'README.md': 'hi',
        }),
      });
      assert.equal(otherFiles.status, 409, JSON.stringify(otherFiles.body));
      assert.match(otherFiles.body.message, /deployment 'prod' was created from another blueprint/);
      assert.deepEqual(otherFiles.body.details.nodes, { added: ['cache'], removed: [], changed: [] });
      const broken = await compare({ archive: archive(WEB.replace('cloudify.nodes.Root', 'no.such.Type')) });
      assert.equal(broken.status, 422, JSON.stringify(broken.body));
      assert.ok(broken.body.details.some((p: Doc) => p.file === 'blueprint.yaml' && p.line > 0));
      const noMain = await compare({ archive: archive(WEB), mainFile: 'other.yaml' });
      assert.equal(noMain.status, 422);
      assert.equal(
        (await server.api('POST', '/deployments/nope/compare', { body: { archive: archive(WEB) } })).status,
        404,
      );
      // Nothing of what was compared is kept: no blueprint, no files.
      assert.deepEqual((await server.api('GET', '/blueprints')).body, blueprintsBefore);
      const blueprintsDir = (await server.context.tenants.get('default_tenant')).blueprintsDir;
      assert.deepEqual(
        readdirSync(blueprintsDir).filter((name) => name.startsWith('.')),
        [],
        'no staging directory left',
      );
      assert.equal(readdirSync(join(blueprintsDir)).length, 2, 'the files of web and web2 only');
    });

    test("a blueprint lists the workflows and parameters a deployment of it lists (the engine's)", async () => {
      const deployment = await server.api('GET', '/deployments/prod');
      const blueprint = await server.api('GET', '/blueprints/web');
      assert.equal(blueprint.status, 200);
      const byName = (workflows: Doc[], names: (p: Doc) => string[]) =>
        Object.fromEntries(workflows.map((w) => [w.name, names(w.parameters).sort()]));
      const listed = byName(blueprint.body.workflows, (ps) => ps.map((p: Doc) => p.name));
      assert.deepEqual(listed, byName(deployment.body.workflows, Object.keys));
      assert.deepEqual(listed.install, ['node_ids', 'node_instance_ids', 'type_names']);
      assert.ok(!('install_new_agents' in listed) && 'update' in listed);
      const install = blueprint.body.workflows.find((w: Doc) => w.name === 'install');
      assert.deepEqual(
        install.parameters.find((p: Doc) => p.name === 'node_ids'),
        { name: 'node_ids', type: 'list', description: null, required: false, default: [], constraints: [] },
      );
    });

    test('bad inputs are 422 with every problem; an unknown blueprint is 404; nothing is kept', async () => {
      const bad = await server.api('PUT', '/deployments/bad', {
        body: { blueprintId: 'web', inputs: { port: 'eighty', colour: 'red' } },
      });
      assert.equal(bad.status, 422, JSON.stringify(bad.body));
      const paths = bad.body.details.map((p: Doc) => p.path).sort();
      assert.deepEqual(paths, ['inputs.colour', 'inputs.name', 'inputs.port']);
      assert.equal((await server.api('GET', '/deployments/bad')).status, 404);
      const unknown = await server.api('PUT', '/deployments/bad', { body: { blueprintId: 'nope' } });
      assert.equal(unknown.status, 404);
      // The name was not kept by the refusals.
      const good = await server.api('PUT', '/deployments/bad', {
        body: { blueprintId: 'web', inputs: { name: 'x' } },
      });
      assert.equal(good.status, 201);
      assert.equal((await server.api('DELETE', '/deployments/bad')).status, 204);
    });

    test('listed a page at a time, and by blueprint', async () => {
      for (const [id, blueprintId] of [
        ['a1', 'web'],
        ['a2', 'web2'],
        ['a3', 'web2'],
      ])
        assert.equal(
          (await server.api('PUT', `/deployments/${id}`, { body: { blueprintId, inputs: { name: id } } }))
            .status,
          201,
        );
      const page = await server.api('GET', '/deployments?offset=1&size=2');
      assert.equal(page.status, 200);
      assert.equal(page.body.total, 4);
      assert.deepEqual(
        page.body.items.map((d: Doc) => d.id),
        ['a1', 'a2'],
      );
      assert.equal(page.body.items[0].status, 'created');
      const web2 = await server.api('GET', '/deployments?blueprintId=web2');
      assert.deepEqual(
        web2.body.items.map((d: Doc) => [d.id, d.blueprintId]),
        [
          ['a2', 'web2'],
          ['a3', 'web2'],
        ],
      );
    });

    test('node instances: by deployment and node; runtime properties and outputs with secrets masked', async () => {
      assert.equal(
        (await server.api('PUT', '/secrets/db_password', { body: { value: 'hunter2-secret' } })).status,
        201,
      );
      const list = await server.api('GET', '/node-instances?deploymentId=prod');
      assert.equal(list.status, 200);
      assert.equal(list.body.total, 2);
      const host = list.body.items.find((i: Doc) => i.node === 'host');
      const app = list.body.items.find((i: Doc) => i.node === 'app');
      assert.equal(app.containedIn, host.id);
      assert.deepEqual(app.relationships, [
        { type: 'cloudify.relationships.contained_in', target: 'host', targetId: host.id },
      ]);
      const byNode = await server.api('GET', '/node-instances?nodeId=host');
      assert.ok(byNode.body.items.every((i: Doc) => i.node === 'host'));
      assert.equal(byNode.body.total, 4, 'one host in each of the four deployments');
      assert.equal((await server.api('GET', '/node-instances?deploymentId=nope')).status, 404);

      await (await store()).updateRuntimeProperties(
        host.id,
        { address: '10.0.0.7', dsn: 'postgres://shop:hunter2-secret@db/shop' },
        0,
      );
      const one = await server.api('GET', `/node-instances/${host.id}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.runtimeProperties, {
        address: '10.0.0.7',
        dsn: 'postgres://shop:******@db/shop',
      });
      assert.equal(one.body.version, 1);
      assert.equal((await server.api('GET', '/node-instances/nope_123')).status, 404);

      const outputs = await server.api('GET', '/deployments/prod/outputs');
      assert.equal(outputs.status, 200);
      assert.deepEqual(outputs.body, {
        deploymentId: 'prod',
        outputs: { endpoint: 'shop:8080', address: '10.0.0.7', password: '******' },
        capabilities: {},
      });
      assert.doesNotMatch(JSON.stringify(outputs.body), /hunter2/);
      assert.equal((await server.api('GET', '/deployments/nope/outputs')).status, 404);
    });

    test('inputs that hold a secret value are shown masked', async () => {
      await server.api('PUT', '/secrets/api_token', { body: { value: 'tok-very-secret' } });
      const made = await server.api('PUT', '/deployments/masked', {
        body: { blueprintId: 'web', inputs: { name: 'tok-very-secret' } },
      });
      assert.equal(made.status, 201);
      assert.equal(made.body.inputs.name, '******');
      assert.equal((await server.api('GET', '/deployments/masked')).body.inputs.name, '******');
    });

    test("a HOT template's hidden parameters are shown masked: inputs, outputs", async () => {
      // HOT's resource types are the utilities plugin's, which this server is given.
      const hot = await startTestServer(backend, { pluginDirs: [BUILT_IN_PLUGINS] });
      after(() => hot.stop());
      const put = await hot.api('PUT', '/blueprints/hot', { body: HOT, headers: YAML });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const made = await hot.api('PUT', '/deployments/hot', {
        body: { blueprintId: 'hot', inputs: { db_password: 'given-hidden-pw' } },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.deepEqual(made.body.inputs, { db_password: '******', name: 'shop' });
      const shown = [
        made.body,
        (await hot.api('GET', '/deployments/hot')).body,
        (await hot.api('GET', '/deployments')).body,
        (await hot.api('GET', '/deployments/hot/outputs')).body,
      ];
      assert.deepEqual(shown[3].outputs, { password: '******', name: 'shop' });
      assert.doesNotMatch(JSON.stringify(shown), /hidden-pw/);
      // Only that deployment's: the same text as another deployment's plain input is shown.
      assert.equal((await hot.api('PUT', '/blueprints/web', { body: WEB, headers: YAML })).status, 201);
      const plain = await hot.api('PUT', '/deployments/plain', {
        body: { blueprintId: 'web', inputs: { name: 'given-hidden-pw' } },
      });
      assert.equal(plain.status, 201, JSON.stringify(plain.body));
      assert.equal(plain.body.inputs.name, 'given-hidden-pw');
    });

    test('shown as stored now, though the server keeps what it works out from the record: after a secret is added, the model changed, the deployment made again', async () => {
      const made = await server.api('PUT', '/deployments/kept', {
        body: { blueprintId: 'web', inputs: { name: 'kept-plain' } },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const shown = async () => (await server.api('GET', '/deployments/kept')).body;
      assert.equal((await shown()).inputs.name, 'kept-plain');
      assert.equal((await shown()).inputs.name, 'kept-plain', 'read again, from what is kept');
      // A secret of that value: masked from the next read on.
      assert.equal(
        (await server.api('PUT', '/secrets/kept_secret', { body: { value: 'kept-plain' } })).status,
        201,
      );
      assert.equal((await shown()).inputs.name, '******');
      assert.equal((await server.api('DELETE', '/secrets/kept_secret')).status, 204);
      assert.equal((await shown()).inputs.name, 'kept-plain');
      // Written to the store, not through this server's routes (as another server process on the
      // same database would): the next read shows it.
      const engine = await store();
      const model = (await engine.getDeployment('kept'))!.model as { nodes: Record<string, unknown> };
      const { app: _app, ...nodes } = model.nodes;
      await engine.updateDeploymentModel('kept', { ...model, nodes } as never);
      assert.deepEqual(
        (await shown()).nodes.map((n: Doc) => n.id),
        ['host'],
      );
      // Deleted and made again under the same id, from other inputs and blueprint.
      assert.equal((await server.api('DELETE', '/deployments/kept')).status, 204);
      const again = await server.api('PUT', '/deployments/kept', {
        body: { blueprintId: 'web2', inputs: { name: 'kept-again' } },
      });
      assert.equal(again.status, 201, JSON.stringify(again.body));
      const now = await shown();
      assert.deepEqual(now.inputs, { name: 'kept-again', port: 9090 });
      assert.equal(now.blueprintId, 'web2');
      assert.deepEqual(
        now.nodes.map((n: Doc) => n.id),
        ['app', 'host'],
      );
    });

    test('deleting: refused while an execution runs, and with live instances unless forced', async () => {
      const made = await server.api('PUT', '/deployments/doomed', {
        body: { blueprintId: 'web', inputs: { name: 'd' } },
      });
      assert.equal(made.status, 201);
      const engine = await store();
      const [host] = (await engine.listInstances('doomed')).filter((i) => i.node === 'host');
      const at = new Date().toISOString();
      await engine.createExecution(
        {
          id: 'exec-1',
          deploymentId: 'doomed',
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
      await engine.applyBatch({ instanceStates: [{ id: host!.id, state: 'started' }] });
      const running = await server.api('DELETE', '/deployments/doomed');
      assert.equal(running.status, 409);
      assert.match(running.body.message, /running execution exec-1/);
      assert.equal((await server.api('GET', '/deployments/doomed')).body.status, 'running');
      await engine.applyBatch({ execution: { id: 'exec-1', status: 'terminated', endedAt: at } });
      const live = await server.api('DELETE', '/deployments/doomed');
      assert.equal(live.status, 409);
      assert.deepEqual(live.body.details, { liveInstances: [host!.id] });
      assert.equal((await server.api('DELETE', '/deployments/doomed?force=true')).status, 204);
      assert.equal((await server.api('GET', '/deployments/doomed')).status, 404);
      assert.equal((await server.api('DELETE', '/deployments/doomed')).status, 404);
      assert.equal(await engine.getInstance(host!.id), undefined);
    });
  });
}
