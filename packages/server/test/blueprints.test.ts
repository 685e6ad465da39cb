/** Blueprint uploads over real HTTP, on both stores: YAML, tar.gz and zip; validation; unsafe archives refused. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { tarArchive, zipArchive } from './archives.js';
import { type Backend, type Doc, startTestServer, type TestServer, userWithRole } from './harness.js';

export const YAML = { 'content-type': 'application/yaml' };
export const GZIP = { 'content-type': 'application/gzip' };
const ZIP = { 'content-type': 'application/zip' };

/** A blueprint with an input (typed, constrained), two nodes and an output. */
export const HELLO = `tosca_definitions_version: cloudify_dsl_1_4
description: Two nodes and an input.
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
inputs:
  port:
    type: integer
    description: where it listens
    default: 8080
    constraints:
      - in_range: [1, 65535]
  name:
    type: string
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
  app:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
outputs:
  endpoint:
    description: the address
    value: {concat: ['http://', {get_input: name}, ':', {get_input: port}]}
`;

/** A plugin directory with a usable plugin `demo` (types only, no module) and a broken one. */
export function pluginDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'weft-server-plugins-'));
  const files: Record<string, string> = {
    'demo/plugin.yaml': `plugins:
  demo:
    executor: central_deployment_agent
    package_name: weft-demo
    package_version: '1.2.0'
node_types:
  demo.Thing:
    derived_from: cloudify.nodes.Root
    properties:
      size: {type: integer, default: 1}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: demo.create
`,
    'broken/plugin.yaml': 'plugins:\n  broken: [unclosed\n',
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** The files of a tar.gz, by path. */
async function untar(bytes: Buffer): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const parser = new Parser();
  parser.on('entry', (entry: ReadEntry) => {
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => {
      files[entry.path] = Buffer.concat(chunks).toString();
    });
  });
  await new Promise((resolve) => {
    parser.on('end', resolve);
    parser.end(bytes);
  });
  return files;
}

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`blueprints (${backend})`, () => {
    let server: TestServer;
    let plugins: string;
    before(async () => {
      plugins = pluginDir();
      server = await startTestServer(backend, { pluginDirs: [plugins] });
    });
    after(async () => {
      await server.stop();
      rmSync(plugins, { recursive: true, force: true });
    });

    test('a YAML file is validated, stored and described: inputs, nodes, workflows, outputs', async () => {
      const made = await server.api('PUT', '/blueprints/hello', { body: HELLO, headers: YAML });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.id, 'hello');
      assert.equal(made.body.mainFile, 'blueprint.yaml');
      assert.equal(made.body.description, 'Two nodes and an input.');
      assert.equal(made.body.createdBy, 'admin');
      assert.deepEqual(made.body.warnings, []);
      const port = made.body.inputs.find((i: Doc) => i.name === 'port');
      assert.deepEqual(port, {
        name: 'port',
        type: 'integer',
        description: 'where it listens',
        required: false,
        default: 8080,
        constraints: [{ name: 'in_range', argument: [1, 65535] }],
      });
      assert.equal(made.body.inputs.find((i: Doc) => i.name === 'name').required, true);
      assert.deepEqual(
        made.body.nodes.map((n: Doc) => [n.name, n.type, n.containedIn, n.relationships]),
        [
          ['host', 'cloudify.nodes.Compute', null, []],
          ['app', 'cloudify.nodes.Root', 'host', []],
        ],
      );
      assert.ok(made.body.workflows.some((w: Doc) => w.name === 'install'));
      assert.deepEqual(made.body.outputs, [{ name: 'endpoint', description: 'the address' }]);

      const again = await server.api('PUT', '/blueprints/hello', { body: HELLO, headers: YAML });
      assert.equal(again.status, 409);
      const list = await server.api('GET', '/blueprints');
      assert.deepEqual(
        list.body.map((b: Doc) => b.id),
        ['hello'],
      );
      assert.equal(list.body[0].inputs, undefined, 'the list is a summary');
      const viewer = await userWithRole(server, 'bob', 'default_tenant', 'viewer');
      const shown = await server.api('GET', '/blueprints/hello', { token: viewer });
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body.inputs, made.body.inputs);
    });

    test('a blueprint stored without its topology links gets them, worked out once from its files', async () => {
      const made = await server.api('PUT', '/blueprints/older', { body: HELLO, headers: YAML });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      // As a server that did not record the links stored it.
      const { access } = server.context;
      const stored = (await access.getBlueprint('default_tenant', 'older'))!;
      const nodes = stored.details.nodes.map(({ name, type, typeHierarchy }) => ({
        name,
        type,
        typeHierarchy,
      }));
      await access.setBlueprintDetails('default_tenant', 'older', { ...stored.details, nodes });
      const shown = await server.api('GET', '/blueprints/older');
      assert.equal(shown.status, 200);
      assert.deepEqual(
        shown.body.nodes.map((n: Doc) => [n.name, n.containedIn, n.relationships]),
        [
          ['host', null, []],
          ['app', 'host', []],
        ],
      );
      const now = (await access.getBlueprint('default_tenant', 'older'))!;
      assert.equal(now.details.nodes[1]!.containedIn, 'host', 'stored again with the links');
    });

    test('an invalid blueprint is 422 with every problem, placed in its file, and nothing is stored', async () => {
      const bad = HELLO.replace('type: integer', 'type: integr').replace('target: host', 'target: nowhere');
      const refused = await server.api('PUT', '/blueprints/bad', { body: bad, headers: YAML });
      assert.equal(refused.status, 422);
      assert.equal(refused.body.code, 'invalid');
      const problems: Doc[] = refused.body.details;
      assert.ok(problems.length >= 2, JSON.stringify(problems));
      for (const p of problems) {
        assert.equal(p.file, 'blueprint.yaml');
        assert.equal(typeof p.line, 'number');
        assert.equal(typeof p.column, 'number');
      }
      assert.ok(problems.some((p) => p.path === 'inputs.port.type' && /integr/.test(p.message)));
      assert.ok(problems.some((p) => /nowhere/.test(p.message)));
      assert.doesNotMatch(JSON.stringify(problems), new RegExp(server.stateDir));
      assert.equal((await server.api('GET', '/blueprints/bad')).status, 404);
    });

    test('a directory as tar.gz (in a top-level folder) with imports, downloaded back as it was', async () => {
      const archive = tarArchive([
        { path: 'site/', directory: true },
        {
          path: 'site/main.yaml',
          content: HELLO.replace(
            '  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml',
            '  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml\n  - types/extra.yaml',
          ),
        },
        {
          path: 'site/types/extra.yaml',
          content: 'node_types:\n  site.Extra:\n    derived_from: cloudify.nodes.Root\n',
        },
        { path: 'site/scripts/start.sh', content: 'echo started\n' },
      ]);
      const made = await server.api('PUT', '/blueprints/site?main_file=main.yaml', {
        body: archive,
        headers: GZIP,
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.mainFile, 'main.yaml');
      const download = await fetch(`${server.url}/api/v1/blueprints/site/archive`, {
        headers: { authorization: `Bearer ${server.adminToken}` },
      });
      assert.equal(download.status, 200);
      assert.equal(download.headers.get('content-type'), 'application/gzip');
      const files = await untar(Buffer.from(await download.arrayBuffer()));
      assert.deepEqual(Object.keys(files).sort(), ['main.yaml', 'scripts/start.sh', 'types/extra.yaml']);
      assert.equal(files['scripts/start.sh'], 'echo started\n');
    });

    test('a zip archive; a missing main file is named with what the archive has', async () => {
      const zip = zipArchive([{ path: 'blueprint.yaml', content: HELLO }]);
      const made = await server.api('PUT', '/blueprints/zipped', { body: zip, headers: ZIP });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const other = zipArchive([{ path: 'app.yaml', content: HELLO }]);
      const missing = await server.api('PUT', '/blueprints/nomain', { body: other, headers: ZIP });
      assert.equal(missing.status, 422);
      assert.match(missing.body.message, /no blueprint\.yaml \(it has app\.yaml\)/);
    });

    test('unsafe or hostile archives are refused, and nothing is written outside', async () => {
      const outside = join(server.stateDir, 'tenants', 'escaped.yaml');
      const cases: [string, Buffer, Record<string, string>, number, RegExp][] = [
        [
          'dotdot-tar',
          tarArchive([
            { path: 'blueprint.yaml', content: HELLO },
            { path: '../../escaped.yaml', content: 'x' },
          ]),
          GZIP,
          422,
          /\.\./,
        ],
        [
          'absolute-tar',
          tarArchive([{ path: '/tmp/weft-absolute.yaml', content: 'x' }]),
          GZIP,
          422,
          /absolute/,
        ],
        [
          'link-tar',
          tarArchive([
            { path: 'blueprint.yaml', content: HELLO },
            { path: 'etc', link: '/etc' },
          ]),
          GZIP,
          422,
          /link/,
        ],
        [
          'dotdot-zip',
          zipArchive([
            { path: 'blueprint.yaml', content: HELLO },
            { path: '../escaped.yaml', content: 'x' },
          ]),
          ZIP,
          422,
          /\.\.|invalid relative path/,
        ],
        [
          'link-zip',
          zipArchive([
            { path: 'blueprint.yaml', content: HELLO },
            { path: 'passwd', link: '/etc/passwd' },
          ]),
          ZIP,
          422,
          /link/,
        ],
        [
          'many-entries',
          tarArchive(Array.from({ length: 5001 }, (_, i) => ({ path: `f${i}.txt`, content: '' }))),
          GZIP,
          413,
          /more than 5000 entries/,
        ],
        // 200 MiB of zeros are about 200 KiB gzipped.
        ['bomb', gzipSync(Buffer.alloc(200 * 1024 * 1024)), GZIP, 413, /more than 100 MiB/],
        ['garbage-gzip', Buffer.from('not gzip at all'), GZIP, 422, /gzip/],
        ['garbage-zip', Buffer.from('not a zip either'), ZIP, 422, /zip/],
      ];
      for (const [id, body, headers, status, message] of cases) {
        const refused = await server.api('PUT', `/blueprints/${id}`, { body, headers });
        assert.equal(refused.status, status, `${id}: ${JSON.stringify(refused.body)}`);
        assert.match(refused.body.message, message, id);
        assert.equal((await server.api('GET', `/blueprints/${id}`)).status, 404, id);
      }
      assert.equal(existsSync(outside), false);
      assert.equal(existsSync('/tmp/weft-absolute.yaml'), false);
      const json = await server.api('PUT', '/blueprints/json', { body: { a: 1 } });
      assert.equal(json.status, 415);
    });

    test('a blueprint over the upload limit is 413', async () => {
      const big = Buffer.alloc(51 * 1024 * 1024, 'a');
      const refused = await server.api('PUT', '/blueprints/big', { body: big, headers: YAML });
      assert.equal(refused.status, 413);
    });

    test('NS--blueprint:ID imports a stored blueprint of the tenant; a missing one is a problem', async () => {
      const base = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
node_types:
  base.Server:
    derived_from: cloudify.nodes.Root
    properties:
      flavor: {type: string, default: small}
`;
      assert.equal((await server.api('PUT', '/blueprints/base', { body: base, headers: YAML })).status, 201);
      const app = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
  - shared--blueprint:base
node_templates:
  server:
    type: shared--base.Server
`;
      const made = await server.api('PUT', '/blueprints/app', { body: app, headers: YAML });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.deepEqual(
        made.body.nodes.map((n: Doc) => n.type),
        ['shared--base.Server'],
      );
      const deployed = await server.api('PUT', '/deployments/app1', { body: { blueprintId: 'app' } });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      const missing = await server.api('PUT', '/blueprints/app2', {
        body: app.replace('blueprint:base', 'blueprint:nope'),
        headers: YAML,
      });
      assert.equal(missing.status, 422);
      assert.ok(missing.body.details.some((p: Doc) => /no stored blueprint 'nope'/.test(p.message)));
      // Another tenant's stored blueprints are not there to import.
      const other = await userWithRole(server, 'olga', 'other', 'operator');
      const elsewhere = await server.api('PUT', '/blueprints/app', {
        token: other,
        body: app,
        headers: YAML,
      });
      assert.equal(elsewhere.status, 422);
    });

    test('plugin:NAME imports resolve in the server plugin directories; a missing plugin is a problem', async () => {
      const uses = (plugin: string) => `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
  - plugin:${plugin}
node_templates:
  thing:
    type: demo.Thing
`;
      const made = await server.api('PUT', '/blueprints/withplugin', { body: uses('demo'), headers: YAML });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.ok(made.body.plugins.includes('demo'));
      // Its types are here but not its module: a warning, as weft validate gives.
      assert.ok(
        made.body.warnings.some((w: Doc) => w.code === 'plugin-not-here'),
        JSON.stringify(made.body),
      );
      const missing = await server.api('PUT', '/blueprints/noplugin', {
        body: uses('absent'),
        headers: YAML,
      });
      assert.equal(missing.status, 422);
      assert.ok(missing.body.details.some((p: Doc) => p.code === 'plugin-not-installed'));
      const listed = await server.api('GET', '/plugins');
      assert.equal(listed.status, 200);
      const demo = listed.body.find((p: Doc) => p.name === 'demo');
      assert.deepEqual(demo, {
        name: 'demo',
        version: '1.2.0',
        packageName: 'weft-demo',
        format: 'plugin.yaml',
        source: 'directory',
        uploadedBy: null,
        uploadedAt: null,
        sha256: null,
        usable: true,
        problems: [],
      });
      assert.ok(
        listed.body.some((p: Doc) => !p.usable && p.problems.length > 0),
        JSON.stringify(listed.body),
      );
    });

    test('a blueprint cannot be deleted while a deployment was made from it', async () => {
      assert.equal((await server.api('PUT', '/blueprints/keep', { body: HELLO, headers: YAML })).status, 201);
      const deployed = await server.api('PUT', '/deployments/kept', {
        body: { blueprintId: 'keep', inputs: { name: 'x' } },
      });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      const refused = await server.api('DELETE', '/blueprints/keep');
      assert.equal(refused.status, 409);
      assert.deepEqual(refused.body.details, { deployments: ['kept'] });
      assert.equal((await server.api('DELETE', '/deployments/kept')).status, 204);
      assert.equal((await server.api('DELETE', '/blueprints/keep')).status, 204);
      assert.equal((await server.api('GET', '/blueprints/keep')).status, 404);
      assert.equal((await server.api('DELETE', '/blueprints/keep')).status, 404);
    });
  });
}
