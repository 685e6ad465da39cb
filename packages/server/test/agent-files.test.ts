/**
 * What a host agent over HTTP gets from the server, with real processes: the blueprint's files
 * when its directory is not on the agent's machine (the agent runs in a directory of its own and
 * the blueprint's is deleted), and the uploaded plugins, installed on first use and checked
 * against the checksum recorded at upload (an archive that does not match it is refused).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openPostgresStore } from '@weft/engine';
import { NO_WEFT_ENVIRONMENT, tempDir, weft, weftInBackground } from '@weft/testing/cli';
import { type ArchiveEntry, tarArchive } from './archives.js';
import { cluster } from './cluster.js';
import { deploy } from './harness.js';

/** A blueprint whose host's operation is a script of the blueprint's directory. */
const SCRIPTED = `tosca_definitions_version: cloudify_dsl_1_4
imports: [http://cloudify.co/spec/cloudify/6.4.0/types.yaml]
inputs:
  record: { type: string }
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties: { agent_config: { install_method: none } }
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/on-host.sh
          executor: host_agent
          inputs:
            record: { get_input: record }
    relationships:
      - { type: cloudify.relationships.contained_in, target: vm }
`;

/** A plugin whose operations run on the host's agent. */
const HOST_PLUGIN: ArchiveEntry[] = [
  {
    path: 'package/plugin.yaml',
    content: [
      'plugins:',
      '  hostgreet:',
      '    executor: host_agent',
      "    package_version: '1.0'",
      'node_types:',
      '  hostgreet.Thing:',
      '    derived_from: cloudify.nodes.Root',
      '    interfaces:',
      '      cloudify.interfaces.lifecycle:',
      '        create: { implementation: hostgreet.create, max_retries: 0 }',
      '',
    ].join('\n'),
  },
  {
    path: 'package/package.json',
    content: JSON.stringify({
      name: 'weft-plugin-hostgreet',
      version: '1.0.0',
      type: 'module',
      main: 'index.js',
    }),
  },
  {
    path: 'package/index.js',
    content:
      "export async function create(ctx) { ctx.instance.runtimeProperties.ran_by = process.env.WEFT_TEST_WORKER ?? 'server'; }\n",
  },
];

const HOST_BLUEPRINT = `tosca_definitions_version: cloudify_dsl_1_4
imports: [http://cloudify.co/spec/cloudify/6.4.0/types.yaml, plugin:hostgreet]
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties: { agent_config: { install_method: none } }
  app:
    type: hostgreet.Thing
    relationships:
      - { type: cloudify.relationships.contained_in, target: vm }
`;

describe('a host agent over HTTP gets blueprint files and plugins from the server', () => {
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const drop of drops) await drop();
  });

  test("an agent on a machine without the blueprint's directory runs its host's script from the files the server sends", {
    timeout: 240_000,
  }, async () => {
    const c = await cluster(drops, { count: 1 });
    // Deployed from a directory that is then deleted: only the store keeps the script.
    const source = join(tempDir(), 'made-elsewhere');
    mkdirSync(join(source, 'scripts'), { recursive: true });
    writeFileSync(join(source, 'blueprint.yaml'), SCRIPTED);
    const script = '#!/bin/bash\necho "on-host $(ctx instance id) $WEFT_TEST_WORKER" >> "$record"\n';
    writeFileSync(join(source, 'scripts', 'on-host.sh'), script, { mode: 0o755 });
    const store = await openPostgresStore(c.database, { schema: 'weft_tenant_default_tenant' });
    await deploy({ store }, join(source, 'blueprint.yaml'), 'elsewhere', { record: c.record });
    const instances = await store.listInstances('elsewhere');
    const { blueprintId } = (await store.getDeployment('elsewhere'))!;
    await store.close();
    rmSync(source, { recursive: true });
    const vm = instances.find((i) => i.node === 'vm')!.id;
    const app = instances.find((i) => i.node === 'app')!.id;

    // The agent's machine: a directory of its own, as its working directory and state.
    const machine = tempDir();
    const agent = weftInBackground(
      ['agent', 'install', '-d', 'elsewhere', '--host', vm, '--run'],
      {
        ...NO_WEFT_ENVIRONMENT,
        WEFT_SERVER: c.url,
        WEFT_TOKEN: c.headers.authorization!.slice('Bearer '.length),
        WEFT_HOME: join(machine, 'home'),
        WEFT_TEST_WORKER: 'agent',
      },
      { cwd: machine },
    );
    await agent.line(/taking its operations from/);
    const started = await fetch(`${c.url}/api/v1/executions`, {
      method: 'POST',
      headers: c.headers,
      body: JSON.stringify({ deploymentId: 'elsewhere', workflowId: 'install' }),
    });
    assert.equal(started.status, 201, await started.clone().text());
    const id = ((await started.json()) as { id: string }).id;
    assert.equal((await c.follow(id)).status, 'terminated', (await c.execution(id)).error?.message);
    assert.deepEqual(
      c.runs().filter(([what]) => what === 'on-host'),
      [['on-host', app, 'agent']],
    );
    // It ran from the copy written in the agent's state directory, from what the server sent.
    const copy = join(machine, 'home', 'blueprints', 'default_tenant', blueprintId);
    assert.equal(readFileSync(join(copy, 'scripts', 'on-host.sh'), 'utf8'), script);
    assert.equal(readFileSync(join(copy, 'blueprint.yaml'), 'utf8'), SCRIPTED);
    assert.equal(existsSync(source), false);
  });

  test('an uploaded plugin is installed by the agent on first use, checked against its checksum: an archive that does not match is refused', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster(drops, { count: 1 });
    const call = (method: string, path: string, body: string | Buffer, type: string) =>
      fetch(`${c.url}/api/v1${path}`, { method, headers: { ...c.headers, 'content-type': type }, body });
    const archive = tarArchive(HOST_PLUGIN);
    const uploaded = await call('POST', '/plugins', archive, 'application/gzip');
    assert.equal(uploaded.status, 201, await uploaded.clone().text());
    assert.equal((await call('PUT', '/blueprints/greet', HOST_BLUEPRINT, 'application/yaml')).status, 201);
    const made = await call(
      'PUT',
      '/deployments/greet',
      JSON.stringify({ blueprintId: 'greet' }),
      'application/json',
    );
    assert.equal(made.status, 201, await made.clone().text());
    const listed = await fetch(`${c.url}/api/v1/node-instances?deploymentId=greet`, { headers: c.headers });
    const items = ((await listed.json()) as { items: { id: string; node: string }[] }).items;
    const vm = items.find((i) => i.node === 'vm')!.id;

    // Between the agent and the server, a proxy that alters the plugin's archive while it
    // tamper is on (as a network or cache on the way could): the checksum no longer matches.
    let tamper = true;
    let altered = 0;
    const target = new URL(c.url);
    const proxy = createServer((incoming, outgoing) => {
      const forward = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (answer) => {
          const plugin = /^\/api\/v1\/agent\/plugins\/[^/]+$/.test(incoming.url ?? '');
          if (!(plugin && tamper)) {
            outgoing.writeHead(answer.statusCode!, answer.headers);
            answer.pipe(outgoing);
            return;
          }
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              sha256: string;
              archive: string;
            };
            const bytes = Buffer.from(body.archive, 'base64');
            bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
            body.archive = bytes.toString('base64');
            altered++;
            const text = JSON.stringify(body);
            const { 'content-length': _, ...headers } = answer.headers;
            outgoing.writeHead(answer.statusCode!, { ...headers, 'content-length': Buffer.byteLength(text) });
            outgoing.end(text);
          });
        },
      );
      forward.on('error', () => outgoing.destroy());
      incoming.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    drops.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    proxy.unref();
    const through = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const installed = weft(['agent', 'install', '-d', 'greet', '--host', vm, '--json'], {
      env: {
        ...NO_WEFT_ENVIRONMENT,
        WEFT_SERVER: c.url,
        WEFT_TOKEN: c.headers.authorization!.slice('Bearer '.length),
      },
    });
    assert.equal(installed.code, 0, installed.stderr);
    const home = join(tempDir(), 'home');
    const agent = weftInBackground(['worker', '--server', through], {
      ...NO_WEFT_ENVIRONMENT,
      WEFT_AGENT_TOKEN: JSON.parse(installed.stdout).token,
      WEFT_HOME: home,
      WEFT_TEST_WORKER: 'agent',
    });
    await agent.line(/taking its operations from/);
    const start = async () => {
      const started = await call(
        'POST',
        '/executions',
        JSON.stringify({ deploymentId: 'greet', workflowId: 'install' }),
        'application/json',
      );
      assert.equal(started.status, 201, await started.clone().text());
      return ((await started.json()) as { id: string }).id;
    };
    const unpacked = () =>
      existsSync(join(home, 'plugins'))
        ? readdirSync(join(home, 'plugins')).filter((name) => !name.startsWith('.'))
        : [];

    const refused = await start();
    assert.equal((await c.follow(refused)).status, 'failed');
    const error = (await c.execution(refused)).error!.message;
    assert.match(error, /plugin 'hostgreet': the stored archive does not match its sha256 [0-9a-f]{64}/);
    assert.equal(altered, 1);
    assert.deepEqual(unpacked(), [], 'nothing was unpacked');

    // Untouched on the way: installed, and the operation runs on the agent.
    tamper = false;
    const again = await start();
    assert.equal((await c.follow(again)).status, 'terminated', (await c.execution(again)).error?.message);
    const after = await fetch(`${c.url}/api/v1/node-instances?deploymentId=greet`, { headers: c.headers });
    const app = (
      (await after.json()) as { items: { node: string; runtimeProperties: Record<string, string> }[] }
    ).items.find((i) => i.node === 'app')!;
    assert.deepEqual(app.runtimeProperties, { ran_by: 'agent' });
    const [name] = unpacked();
    assert.ok(name, 'the plugin was unpacked on the agent');
    const sha = (await (await fetch(`${c.url}/api/v1/plugins/${name}`, { headers: c.headers })).json()) as {
      sha256: string;
    };
    assert.deepEqual(JSON.parse(readFileSync(join(home, 'plugins', name!, '.weft-upload.json'), 'utf8')), {
      sha256: sha.sha256,
    });
    assert.equal(altered, 1, 'the second fetch was not altered');
  });
});
