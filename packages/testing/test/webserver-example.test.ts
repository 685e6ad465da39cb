// examples/webserver-plugin (the HTTP web server plugin of Cloudify's plugin guide, in TypeScript):
// installed and uninstalled through its blueprint with workflowTest, and its operations unit
// tested with mockContext.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ErrorCause, Json, OperationFunction } from '@weft/sdk';
import { tsImport } from 'tsx/esm/api';
import { mockContext, processRunning, workflowTest } from '../src/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const example = join(repoRoot, 'examples', 'webserver-plugin');
const blueprint = join(example, 'blueprint.yaml');

interface WebserverPlugin {
  start: OperationFunction;
  stop: OperationFunction;
  page(deploymentId: string): string;
}

/** The example's plugin, its TypeScript compiled as it loads (as the engine loads it). */
async function loadPlugin(): Promise<WebserverPlugin> {
  return (await tsImport(
    pathToFileURL(join(example, 'plugin', 'index.ts')).href,
    import.meta.url,
  )) as WebserverPlugin;
}

/** Servers and directories a test may leave behind when it fails, cleaned up at the end. */
const pids = new Set<number>();
const dirs = new Set<string>();
after(() => {
  for (const pid of pids) if (processRunning(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Records what a start left in runtime properties for the final clean-up. */
function track(runtimeProperties: Record<string, Json>): { pid: number; root: string } {
  const { pid, webserver_root: root } = runtimeProperties;
  assert.equal(typeof pid, 'number', 'pid runtime property');
  assert.equal(typeof root, 'string', 'webserver_root runtime property');
  pids.add(pid as number);
  dirs.add(root as string);
  return { pid: pid as number, root: root as string };
}

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port nobody listens on right now: the kernel's pick for port 0. */
async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await close(server);
  return port;
}

/** Another program's HTTP server on a port of its own. */
async function squatter(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end('someone else'));
  return { server, port: await listen(server) };
}

async function gone(url: string): Promise<void> {
  await assert.rejects(fetch(url, { signal: AbortSignal.timeout(2000) }), TypeError, `${url} still answers`);
}

describe('examples/webserver-plugin', () => {
  test('installs, serves its page, shows the URL and uninstalls (workflowTest)', async () => {
    const port = await freePort();
    const env = await workflowTest(blueprint, { inputs: { port }, taskRetries: 0 });
    dirs.add(env.dir);
    try {
      const install = await env.execute('install');
      assert.equal(install.status, 'terminated', JSON.stringify(install.error));

      const url = `http://127.0.0.1:${port}`;
      assert.deepEqual(await env.outputs(), { url });
      const [web] = await env.instances('http_web_server');
      assert.equal(web?.state, 'started');
      const { pid, root } = track(web.runtimeProperties);
      assert.ok(processRunning(pid), 'the server runs');
      assert.ok(existsSync(join(root, 'index.html')));

      const response = await fetch(`${url}/`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      const body = await response.text();
      assert.match(body, /<p>Hello Weft!<\/p>/);
      assert.match(body, /deployment test\b/);
      assert.equal(body, readFileSync(join(root, 'index.html'), 'utf8'));
      assert.equal((await fetch(`${url}/missing.html`)).status, 404);
      assert.equal((await fetch(`${url}/..%2f..%2fetc/passwd`)).status, 404);

      const logs = (await env.events(install.id)).filter((e) => e.type === 'log').map((e) => e.message);
      assert.ok(
        logs.includes(`HTTP webserver is up at ${url}/ [pid=${pid}]`),
        `logs: ${JSON.stringify(logs)}`,
      );

      const uninstall = await env.execute('uninstall');
      assert.equal(uninstall.status, 'terminated', JSON.stringify(uninstall.error));
      assert.ok(!processRunning(pid), 'the server is stopped');
      assert.ok(!existsSync(root), 'the root is removed');
      await gone(`${url}/`);
    } finally {
      await env.close();
    }
  });

  test('start fails with NonRecoverableError and its cause when the port is taken (mockContext)', async () => {
    const plugin = await loadPlugin();
    const other = await squatter();
    try {
      const ctx = mockContext({
        nodeName: 'http_web_server',
        properties: { port: other.port },
        operation: 'cloudify.interfaces.lifecycle.start',
      });
      const started = Date.now();
      await assert.rejects(
        async () => plugin.start(ctx, {}),
        (error: Error & { causes?: ErrorCause[] }) => {
          // Checked by name: the plugin's @weft/sdk, loaded through tsx, is a copy of the test's.
          assert.equal(error.name, 'NonRecoverableError');
          assert.equal(error.message, 'Failed to start HTTP webserver');
          assert.equal(error.causes?.length, 1);
          assert.match(error.causes?.[0]?.message ?? '', /EADDRINUSE/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 2500, 'it gives up as soon as the server cannot listen');

      // What start recorded before verifying is cleaned up: no process, no root, no properties.
      const recorded = ctx.mock.updates[0]?.runtimeProperties;
      assert.ok(recorded, 'start saved pid and root before verifying');
      const { pid, root } = track(recorded);
      assert.ok(!processRunning(pid));
      assert.ok(!existsSync(root));
      assert.deepEqual(ctx.mock.runtimeProperties, {});
      assert.match(ctx.mock.messages('error').join('\n'), /did not start on port \d+: .*EADDRINUSE/);

      // The other server was left alone.
      assert.equal(await (await fetch(`http://127.0.0.1:${other.port}/`)).text(), 'someone else');
    } finally {
      await close(other.server);
    }
  });

  test('install fails at once, with the cause, when the port is taken (workflowTest)', async () => {
    const other = await squatter();
    const env = await workflowTest(blueprint, { inputs: { port: other.port }, taskRetries: 2 });
    dirs.add(env.dir);
    try {
      const install = await env.execute('install');
      assert.equal(install.status, 'failed');
      const error = install.error as unknown as { message: string; causes: ErrorCause[] };
      assert.equal(error.message, 'Failed to start HTTP webserver');
      assert.match(error.causes.map((c) => c.message).join('\n'), /EADDRINUSE/);
      const types = (await env.events(install.id)).map((e) => e.type);
      assert.ok(!types.includes('task_rescheduled'), `not retried: ${types.join(' ')}`);
    } finally {
      await env.close();
      await close(other.server);
    }
  });

  test('start rejects a port that is not a port', async () => {
    const plugin = await loadPlugin();
    const ctx = mockContext({ properties: { port: 'eighty' } });
    await assert.rejects(async () => plugin.start(ctx, {}), {
      name: 'NonRecoverableError',
      message: 'port must be an integer from 1 to 65535, not "eighty"',
    });
    assert.deepEqual(ctx.mock.updates, []);
  });

  test('stop stops the server and is safe to run twice (mockContext)', async () => {
    const plugin = await loadPlugin();
    const port = await freePort();
    const ctx = mockContext({ nodeName: 'http_web_server', properties: { port }, deploymentId: 'unit' });
    await plugin.start(ctx, {});
    const recorded = structuredClone(ctx.mock.runtimeProperties);
    const { pid, root } = track(recorded);
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), plugin.page('unit'));

    await plugin.stop(ctx, {});
    assert.ok(!processRunning(pid));
    assert.ok(!existsSync(root));
    assert.deepEqual(ctx.mock.runtimeProperties, {});
    await gone(`http://127.0.0.1:${port}/`);

    // Again on the same instance: nothing left to do.
    await plugin.stop(ctx, {});
    // Again with the same runtime properties, as a stop that ran before they were saved would.
    const again = mockContext({
      nodeName: 'http_web_server',
      properties: { port },
      runtimeProperties: recorded,
    });
    await plugin.stop(again, {});
    assert.deepEqual(again.mock.runtimeProperties, {});

    assert.deepEqual(ctx.mock.messages('info').slice(-3), [
      `Stopped HTTP webserver [pid=${pid}]`,
      `Removed ${root}`,
      'HTTP webserver is not running',
    ]);
    assert.deepEqual(again.mock.messages('info'), [
      `HTTP webserver [pid=${pid}] was not running`,
      `Removed ${root}`,
    ]);
  });

  test('stop leaves alone another process that has the recorded pid since (mockContext)', async () => {
    const plugin = await loadPlugin();
    // The pid the server had, given to another process since: here, one started for the test.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    const exited = once(other, 'exit');
    try {
      const pid = other.pid!;
      const root = mkdtempSync(join(tmpdir(), 'weft-webserver-'));
      dirs.add(root);
      const ctx = mockContext({
        nodeName: 'http_web_server',
        properties: { port: 8000 },
        runtimeProperties: { pid, webserver_root: root },
      });
      await plugin.stop(ctx, {});
      assert.equal(other.exitCode, null, 'the other process was not stopped');
      assert.equal(other.signalCode, null, 'the other process was not signalled');
      assert.ok(processRunning(pid));
      assert.ok(!existsSync(root));
      assert.deepEqual(ctx.mock.runtimeProperties, {});
      assert.deepEqual(ctx.mock.messages('info'), [
        `HTTP webserver [pid=${pid}] was not running`,
        `Removed ${root}`,
      ]);
    } finally {
      other.kill('SIGKILL');
      await exited;
    }
  });
});
