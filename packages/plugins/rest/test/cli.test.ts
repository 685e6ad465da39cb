// The REST plugin through the weft CLI, as users run it: seed 000's blueprint (https with a
// self-signed certificate, a raw payload file, a header from a secret, a recoverable code,
// a response expectation) against a real server, a failure's message, and the rest-calls example
// (its own plugin's stop also unit tested with mockContext).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { OperationFunction } from '@weft/sdk';
import { mockContext, processRunning } from '@weft/testing';
import { tempDir, weftAsync as weft } from '@weft/testing/cli';
import { tsImport } from 'tsx/esm/api';
import {
  type Certificate,
  deadPort,
  repoRoot,
  selfSignedCertificate,
  startServer,
  type TestServer,
} from './helpers.js';

const SECRET = 's3cr3t-fauxapi-token';

let https: TestServer;
let cert: Certificate;
let dir: string;

before(async () => {
  cert = await selfSignedCertificate();
  https = await startServer(cert);
  dir = tempDir('weft-rest-cli-');
});

after(async () => {
  await https.close();
});

/** Writes a blueprint directory with these files; returns its path. */
function blueprint(name: string, files: Record<string, string>): string {
  const root = join(dir, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return join(root, 'blueprint.yaml');
}

// Seed 000's REST example, with the API on this test's server (and a dead host before it).
const SEED_BLUEPRINT = `tosca_definitions_version: cloudify_dsl_1_3
imports:
  - http://cloudify.co/spec/cloudify/5.0.0/types.yaml
  - plugin:cloudify-utilities-plugin
inputs:
  api_endpoint:
    description: REST API endpoint of the pfSense instance
  api_port:
    type: integer
  hostname:
    default: newhostname
node_templates:
  config_patch:
    type: cloudify.rest.Requests
    properties:
      hosts: ['127.0.0.2', { get_input: api_endpoint }]
      port: { get_input: api_port }
      ssl: true
      verify: false
    interfaces:
      cloudify.interfaces.lifecycle:
        start:
          inputs:
            template_file: templates/template.yaml
            params:
              fauxapi_auth: { get_secret: fauxapi_token }
              hostname: { get_input: hostname }
outputs:
  hostname:
    value: { get_attribute: [config_patch, result_properties, hostname] }
`;

const SEED_TEMPLATE = `rest_calls:
  - path: /fauxapi/v1/?action=config_patch
    method: POST
    headers:
      Content-type: application/json
      fauxapi-auth: '{{ fauxapi_auth }}'
    raw_payload: resources/config.json
    payload_format: raw
    response_format: json
    recoverable_codes: [400]
    response_expectation:
      - ['message', 'ok']
    response_translation:
      data:
        system:
          hostname: [hostname]
`;

const SEED_CONFIG = `{
  "system": {
    "dnsserver": ["8.8.8.8", "8.8.4.4"],
    "hostname": "{{ hostname }}"
  }
}
`;

describe('weft install/uninstall with cloudify.rest.Requests', () => {
  test("seed 000's blueprint: https, failover, a secret header, a rendered raw payload, a retried 400", async () => {
    https.route('POST', '/fauxapi/v1/', (hit, count) =>
      count === 1
        ? { status: 400, body: { message: 'not yet' } }
        : { body: { message: 'ok', data: JSON.parse(hit.body) } },
    );
    const path = blueprint('seed', {
      'blueprint.yaml': SEED_BLUEPRINT,
      'templates/template.yaml': SEED_TEMPLATE,
      'resources/config.json': SEED_CONFIG,
    });
    const state = join(dir, 'seed-state');
    const common = ['--state-dir', state];
    assert.equal((await weft(['secrets', 'set', 'fauxapi_token', SECRET, ...common])).code, 0);
    const from = https.hits.length;
    const install = await weft([
      'install',
      path,
      ...common,
      '-i',
      'api_endpoint=127.0.0.1',
      '-i',
      `api_port=${https.port}`,
      '-i',
      'hostname=fw1',
      '--task-retry-interval',
      '0',
    ]);
    assert.equal(install.code, 0, install.stdout + install.stderr);

    const hits = https.hits.slice(from);
    assert.equal(hits.length, 2, 'the 400 is retried once');
    for (const hit of hits) {
      assert.equal(hit.url, '/fauxapi/v1/?action=config_patch');
      assert.equal(hit.headers['fauxapi-auth'], SECRET);
      assert.equal(hit.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(hit.body), {
        system: { dnsserver: ['8.8.8.8', '8.8.4.4'], hostname: 'fw1' },
      });
    }

    const instances = await weft(['instances', '--json', ...common]);
    const [instance] = (
      JSON.parse(instances.stdout) as { instances: { runtimeProperties: Record<string, unknown> }[] }
    ).instances;
    assert.deepEqual(instance?.runtimeProperties.result_properties, { hostname: 'fw1' });
    const outputs = await weft(['outputs', '--json', ...common]);
    assert.deepEqual(JSON.parse(outputs.stdout).outputs, { hostname: 'fw1' });

    // The secret is in no event, log or runtime property.
    const events = await weft(['events', '--json', ...common]);
    assert.equal(events.code, 0);
    assert.match(events.stdout, /HTTP 400, defined as recoverable/);
    for (const text of [install.stdout, install.stderr, events.stdout, instances.stdout])
      assert.ok(!text.includes(SECRET));

    const uninstall = await weft(['uninstall', ...common, '--task-retry-interval', '0']);
    assert.equal(uninstall.code, 0, uninstall.stdout + uninstall.stderr);
    assert.equal(https.hits.length, from + 2, 'no calls on uninstall: its operations have no template');
  });

  test('an HTTP error not listed as recoverable fails the install at once, with the status and the body', async () => {
    https.route('GET', '/broken', { status: 500, body: { error: 'database is down' } });
    const path = blueprint('broken', {
      'blueprint.yaml': `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml, plugin:cloudify-utilities-plugin]
node_templates:
  call:
    type: cloudify.rest.Requests
    properties: {hosts: [127.0.0.1], port: ${https.port}, ssl: true, verify: ${JSON.stringify(cert.certPath)}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {inputs: {template_file: call.yaml}}
`,
      'call.yaml': 'rest_calls:\n  - {path: /broken, method: GET, recoverable_codes: [503]}\n',
    });
    const from = https.hits.length;
    const install = await weft([
      'install',
      path,
      '--state-dir',
      join(dir, 'broken-state'),
      '--task-retry-interval',
      '0',
    ]);
    assert.equal(install.code, 1);
    const output = install.stdout + install.stderr;
    assert.match(output, /GET https:\/\/127\.0\.0\.1:\d+\/broken: HTTP 500/);
    assert.match(output, /database is down/);
    assert.equal(https.hits.length, from + 1, 'not retried');
  });
});

describe('examples/rest-calls', () => {
  test('installs (its API started by the blueprint), gives the translated outputs, and uninstalls (API stopped)', async () => {
    // Installed from where it is, so its plugin finds @weft/sdk; the state goes to the test directory.
    const example = join(repoRoot, 'examples/rest-calls/blueprint.yaml');
    const port = await deadPort();
    const common = ['--state-dir', join(dir, 'example-state'), '--task-retry-interval', '0'];
    const install = await weft(['install', example, '-i', `port=${port}`, '--json', ...common]);
    assert.equal(install.code, 0, install.stdout + install.stderr);
    assert.deepEqual(JSON.parse(install.stdout).outputs, {
      api_url: `http://127.0.0.1:${port}`,
      item_id: 1,
      item_status: 'ready',
    });
    const { instances } = JSON.parse(
      (await weft(['instances', '--json', '--state-dir', join(dir, 'example-state')])).stdout,
    ) as {
      instances: { node: string; runtimeProperties: Record<string, unknown> }[];
    };
    const pid = instances.find((i) => i.node === 'api_server')?.runtimeProperties.pid as number;
    assert.ok(processRunning(pid));

    const uninstall = await weft(['uninstall', ...common]);
    assert.equal(uninstall.code, 0, uninstall.stdout + uninstall.stderr);
    assert.match(uninstall.stdout, /DELETE http:\/\/127\.0\.0\.1:\d+\/items\/1: HTTP 204/);
    // The API process is gone (stop waits for it; allow the kernel a moment to reap it).
    for (const deadline = Date.now() + 2000; processRunning(pid) && Date.now() < deadline; ) await sleep(20);
    assert.ok(!processRunning(pid), `the API process ${pid} is still running`);
  });

  test('stop leaves alone another process that has the recorded pid since (mockContext)', async () => {
    // The example's plugin, its TypeScript compiled as it loads (as the engine loads it).
    const plugin = (await tsImport(
      pathToFileURL(join(repoRoot, 'examples/rest-calls/plugin/index.ts')).href,
      import.meta.url,
    )) as { stop: OperationFunction };
    // The pid the API had, given to another process since: here, one started for the test.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    const exited = once(other, 'exit');
    try {
      const pid = other.pid!;
      const ctx = mockContext({
        nodeName: 'api_server',
        properties: { port: 8010 },
        runtimeProperties: { pid, url: 'http://127.0.0.1:8010' },
      });
      await plugin.stop(ctx, {});
      assert.equal(other.exitCode, null, 'the other process was not stopped');
      assert.equal(other.signalCode, null, 'the other process was not signalled');
      assert.ok(processRunning(pid));
      assert.deepEqual(ctx.mock.runtimeProperties, {});
      assert.deepEqual(ctx.mock.messages('info'), [`The API [pid=${pid}] was not running`]);
    } finally {
      other.kill('SIGKILL');
      await exited;
    }
  });
});
