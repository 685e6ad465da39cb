// The script-based examples, installed and uninstalled through the CLI as their READMEs say.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { ok, weft as run, tempDir } from '@weft/testing/cli';
import { gone } from './helpers.js';

const pids: number[] = [];
after(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Runs `weft`, asserting it exits 0. */
const weft = (args: string[]) => ok(run(args));
const stateDir = tempDir;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('hello-webserver serves its rendered page, and uninstall stops it and cleans up', async () => {
  const state = stateDir();
  const port = await freePort();
  const install = weft([
    'install',
    'examples/hello-webserver/blueprint.yaml',
    '--state-dir',
    state,
    '-i',
    `webserver_port=${port}`,
    '--json',
  ]);
  const { outputs } = JSON.parse(install.stdout) as { outputs: Record<string, string> };
  assert.equal(outputs.http_endpoint, `http://127.0.0.1:${port}`);
  const server = (
    JSON.parse(weft(['instances', '--json', '--state-dir', state]).stdout) as {
      instances: { id: string; node: string; runtimeProperties: { pid: string; document_root: string } }[];
    }
  ).instances.find((i) => i.node === 'http_web_server');
  const pid = Number(server!.runtimeProperties.pid);
  pids.push(pid);
  const page = await (await fetch(outputs.http_endpoint!)).text();
  assert.match(page, new RegExp(`Deployment <b>hello-webserver</b>, node instance <b>${server!.id}</b>`));
  assert.match(page, new RegExp(`serving on port ${port} since \\d{4}-\\d\\d-\\d\\dT`));

  weft(['uninstall', '--state-dir', state]);
  // The server was told to stop before uninstall finished; it is gone once it has exited.
  assert.ok(await gone(pid), 'the web server process is gone');
  assert.ok(!existsSync(outputs.document_root!), 'the document root is removed');
});

test('three-tier passes the database URL to every app instance and reads outputs with get_attribute', () => {
  const state = stateDir();
  const install = weft([
    'install',
    'examples/three-tier/blueprint.yaml',
    '--state-dir',
    state,
    '-i',
    'app_instances=3',
    '-i',
    'db_name=orders',
    '--json',
  ]);
  assert.deepEqual(JSON.parse(install.stdout).outputs, {
    endpoint: 'http://127.0.0.1:8080',
    database_url: 'postgres://127.0.0.1:5432/orders',
  });
  const { instances } = JSON.parse(weft(['instances', '--json', '--state-dir', state]).stdout) as {
    instances: { node: string; state: string; runtimeProperties: Record<string, string> }[];
  };
  const apps = instances.filter((i) => i.node === 'app');
  assert.equal(apps.length, 3);
  for (const app of apps)
    assert.equal(app.runtimeProperties.database_url, 'postgres://127.0.0.1:5432/orders');
  assert.ok(instances.every((i) => i.state === 'started'));
  const dataDir = instances.find((i) => i.node === 'database')!.runtimeProperties.data_dir!;
  assert.ok(existsSync(dataDir));
  weft(['uninstall', '--state-dir', state]);
  assert.ok(!existsSync(dataDir), 'the database stop script removed its data directory');
  const after = (
    JSON.parse(weft(['instances', '--json', '--state-dir', state]).stdout) as {
      instances: { state: string }[];
    }
  ).instances;
  assert.ok(after.every((i) => i.state === 'deleted'));
});
