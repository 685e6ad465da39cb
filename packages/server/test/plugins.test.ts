/**
 * Plugins through the API: uploaded as archives, checked as `weft plugins install` checks a
 * directory, stored in the database so that another server process on it unpacks and runs them,
 * deleted; superusers only. On both stores (the sharing test on PostgreSQL).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initAdmin, startServer } from '../src/index.js';
import { ServerPlugins } from '../src/plugins.js';
import { BLUEPRINT, greeter, tarArchive, zipArchive } from './archives.js';
import {
  type Backend,
  type Doc,
  freshDatabase,
  readStream,
  startTestServer,
  type TestServer,
  userWithRole,
} from './harness.js';

const gzip = { 'content-type': 'application/gzip' };

async function uploadPlugin(server: TestServer, archive: Buffer, query = '', token?: string) {
  return server.api('POST', `/plugins${query}`, {
    body: archive,
    headers: gzip,
    ...(token ? { token } : {}),
  });
}

/** Uploads the blueprint, deploys it, installs it, and returns what its instance said. */
async function installGreeting(server: TestServer, id: string): Promise<string> {
  const blueprint = await server.api('PUT', `/blueprints/${id}`, {
    body: BLUEPRINT,
    headers: { 'content-type': 'application/yaml' },
  });
  assert.equal(blueprint.status, 201, JSON.stringify(blueprint.body));
  const deployment = await server.api('PUT', `/deployments/${id}`, { body: { blueprintId: id } });
  assert.equal(deployment.status, 201, JSON.stringify(deployment.body));
  const started = await server.api('POST', '/executions', {
    body: { deploymentId: id, workflowId: 'install' },
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const stream = await readStream(`${server.url}/api/v1/events/stream?executionId=${started.body.id}`, {
    authorization: `Bearer ${server.adminToken}`,
  });
  assert.deepEqual(JSON.parse(stream.messages.at(-1)!.data), { status: 'terminated' });
  const instances = await server.api('GET', `/node-instances?deploymentId=${id}`);
  return instances.body.items[0].runtimeProperties.said;
}

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`plugins (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.stop());

    test('an uploaded plugin is listed, shown, and runs the operations of the blueprints that import it', async () => {
      const made = await uploadPlugin(server, tarArchive(greeter()));
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.name, 'greet');
      assert.equal(made.body.version, '1.0');
      assert.equal(made.body.source, 'uploaded');
      assert.equal(made.body.uploadedBy, 'admin');
      assert.match(made.body.sha256, /^[0-9a-f]{64}$/);
      const list = await server.api('GET', '/plugins');
      assert.deepEqual(
        list.body.filter((p: Doc) => p.name === 'greet').map((p: Doc) => [p.source, p.usable]),
        [['uploaded', true]],
      );
      const one = await server.api('GET', '/plugins/greet');
      assert.equal(one.status, 200);
      assert.equal(one.body.sha256, made.body.sha256);
      assert.equal(await installGreeting(server, 'hello'), 'hello world');
    });

    test('the same name again is 409; ?force=true replaces it, and new executions run the new one', async () => {
      const again = await uploadPlugin(server, tarArchive(greeter('hi')));
      assert.equal(again.status, 409);
      assert.match(again.body.message, /force=true/);
      // A zip, with the plugin at the top of the archive.
      const replaced = await server.api('POST', '/plugins?force=true', {
        body: zipArchive(greeter('hi', '').map((e) => ({ ...e, path: e.path.slice(1) }))),
        headers: { 'content-type': 'application/zip' },
      });
      assert.equal(replaced.status, 201, JSON.stringify(replaced.body));
      assert.equal(await installGreeting(server, 'hi'), 'hi world');
    });

    test('a plugin that cannot be installed is refused with every problem and its place, and nothing is stored', async () => {
      const broken = greeter().map((e) =>
        e.path.endsWith('plugin.yaml')
          ? { ...e, content: String(e.content).replace('create: greet.create', 'create: greet.crate') }
          : e,
      );
      const refused = await uploadPlugin(
        server,
        tarArchive(broken.map((e) => ({ ...e, path: e.path.replace('package/', 'other/') }))),
      );
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'invalid');
      const [problem] = refused.body.details;
      assert.equal(problem.file, 'plugin.yaml');
      assert.equal(problem.line, 10);
      assert.match(problem.message, /no function 'crate'; did you mean 'create'\?/);
      assert.match(refused.body.message, /plugin\.yaml:10:\d+ .*crate/);
      assert.doesNotMatch(JSON.stringify(refused.body), new RegExp(server.stateDir));

      const none = await uploadPlugin(server, tarArchive([{ path: 'README.md', content: 'no plugin' }]));
      assert.equal(none.status, 422);
      assert.match(none.body.message, /no plugin\.yaml or plugin\.json/);
      const notGzip = await uploadPlugin(server, Buffer.from('not an archive'));
      assert.equal(notGzip.status, 422);
      const yaml = await server.api('POST', '/plugins', {
        body: 'plugins: {}',
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(yaml.status, 415);
      const sneaky = await uploadPlugin(
        server,
        tarArchive([...greeter(), { path: '../outside.js', content: 'x' }]),
        '?force=true',
      );
      assert.equal(sneaky.status, 422);
      assert.equal(
        (await server.api('GET', '/plugins/greet')).body.sha256.length,
        64,
        'the one before stays',
      );
    });

    test('only a superuser uploads and deletes plugins; a tenant admin reads them', async () => {
      const tenantAdmin = await userWithRole(server, 'tess', 'team_t', 'admin');
      assert.equal(
        (await uploadPlugin(server, tarArchive(greeter()), '?force=true', tenantAdmin)).status,
        403,
      );
      assert.equal(
        (await server.api('DELETE', '/plugins/greet?force=true', { token: tenantAdmin })).status,
        403,
      );
      assert.equal((await server.api('GET', '/plugins/greet', { token: tenantAdmin })).status, 200);
    });

    test('a plugin deployments use is kept unless forced; deleted, it is gone', async () => {
      const inUse = await server.api('DELETE', '/plugins/greet');
      assert.equal(inUse.status, 409);
      assert.match(inUse.body.message, /deployment 'hello' of tenant 'default_tenant'/);
      assert.equal((await server.api('DELETE', '/plugins/greet?force=true')).status, 204);
      assert.equal((await server.api('GET', '/plugins/greet')).status, 404);
      assert.equal((await server.api('DELETE', '/plugins/greet')).status, 404);
      assert.ok(!(await server.api('GET', '/plugins')).body.some((p: Doc) => p.name === 'greet'));
    });
  });
}

describe('plugins shared through PostgreSQL', () => {
  test('a plugin uploaded to one server process is used by another on the same database, and deleted from both', async () => {
    const database = await freshDatabase();
    const dirs = [mkdtempSync(join(tmpdir(), 'weft-a-')), mkdtempSync(join(tmpdir(), 'weft-b-'))];
    const start = (stateDir: string) =>
      startServer({ stateDir, database: database.url, pluginDirs: [], host: '127.0.0.1', port: 0 });
    // One after the other: the first makes the tables.
    const a = await start(dirs[0]!);
    const b = await start(dirs[1]!).catch(async (error) => {
      await a.close();
      throw error;
    });
    try {
      const { token } = await initAdmin(a.context.access, 'admin', 'admin-password');
      const call = (url: string, method: string, path: string, body?: Buffer) =>
        fetch(`${url}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? gzip : {}) },
          body,
        });
      assert.equal((await call(a.url, 'POST', '/plugins', tarArchive(greeter()))).status, 201);
      const seen = (await (await call(b.url, 'GET', '/plugins/greet')).json()) as Doc;
      assert.equal(seen.source, 'uploaded');
      assert.equal(seen.usable, true);
      // B runs it: it unpacked it from the database.
      const other: TestServer = {
        ...b,
        backend: 'postgres',
        stateDir: dirs[1]!,
        adminToken: token,
        stop: async () => {},
        api: async (method, path, options = {}) => {
          const response = await fetch(`${b.url}/api/v1${path}`, {
            method,
            headers: {
              authorization: `Bearer ${token}`,
              ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
              ...options.headers,
            },
            body:
              typeof options.body === 'string' || options.body === undefined
                ? (options.body as string | undefined)
                : JSON.stringify(options.body),
          });
          const text = await response.text();
          return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
        },
      };
      assert.equal(await installGreeting(other, 'shared'), 'hello world');
      assert.equal((await call(a.url, 'DELETE', '/plugins/greet?force=true')).status, 204);
      assert.equal((await call(b.url, 'GET', '/plugins/greet')).status, 404);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await database.drop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('an uploaded archive that does not match its recorded sha256 is not unpacked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-plugin-sum-'));
  try {
    const archive = tarArchive(greeter());
    const sha256 = createHash('sha256').update(archive).digest('hex');
    const stored = (bytes: Buffer) => ({
      listPlugins: async () => [
        {
          name: 'greet',
          version: '1.0',
          sha256,
          kind: 'tar.gz' as const,
          size: 1,
          uploadedBy: 'a',
          uploadedAt: '',
        },
      ],
      getPluginArchive: async () => ({ sha256, archive: bytes }),
    });
    const altered = Buffer.from(archive);
    altered[altered.length - 1]! ^= 1;
    const bad = new ServerPlugins(join(dir, 'uploads'), [], stored(altered));
    await assert.rejects(
      bad.sync(),
      /plugin 'greet': the stored archive does not match its sha256 [0-9a-f]{64}; upload it again/,
    );
    assert.equal(existsSync(join(dir, 'uploads', 'greet')), false);
    const good = new ServerPlugins(join(dir, 'uploads'), [], stored(archive));
    await good.sync();
    assert.equal(existsSync(join(dir, 'uploads', 'greet', 'plugin.yaml')), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
