/** Secrets over real HTTP, on both stores: names for viewers, writes for operators, values for admins only. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Backend, type Doc, startTestServer, type TestServer, userWithRole } from './harness.js';

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`secrets (${backend})`, () => {
    let server: TestServer;
    let viewer: string;
    let operator: string;
    before(async () => {
      server = await startTestServer(backend);
      viewer = await userWithRole(server, 'vic', 'team', 'viewer');
      operator = await userWithRole(server, 'otto', 'team', 'operator');
    });
    after(() => server.stop());

    test('set, replaced, listed without values, revealed to admins only, deleted', async () => {
      const made = await server.api('PUT', '/secrets/db_password', {
        token: operator,
        body: { value: 'first-value' },
      });
      assert.equal(made.status, 201);
      assert.equal(made.body.key, 'db_password');
      assert.equal(made.body.value, undefined);
      const replaced = await server.api('PUT', '/secrets/db_password', {
        token: operator,
        body: { value: 'second-value' },
      });
      assert.equal(replaced.status, 200);
      assert.equal(replaced.body.createdAt, made.body.createdAt);
      assert.ok(replaced.body.updatedAt >= made.body.updatedAt);

      const list = await server.api('GET', '/secrets', { token: viewer });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.map((s: Doc) => Object.keys(s).sort()),
        [['createdAt', 'key', 'updatedAt']],
      );
      assert.doesNotMatch(JSON.stringify(list.body), /value/);

      assert.equal(
        (await server.api('PUT', '/secrets/x1', { token: viewer, body: { value: 'v' } })).status,
        403,
      );
      assert.equal((await server.api('GET', '/secrets/db_password', { token: operator })).status, 403);
      assert.equal((await server.api('GET', '/secrets/db_password', { token: viewer })).status, 403);
      const revealed = await server.api('GET', '/secrets/db_password', { tenant: 'team' });
      assert.equal(revealed.status, 200);
      assert.equal(revealed.body.value, 'second-value');

      assert.equal((await server.api('DELETE', '/secrets/db_password', { token: viewer })).status, 403);
      assert.equal((await server.api('DELETE', '/secrets/db_password', { token: operator })).status, 204);
      assert.equal((await server.api('GET', '/secrets/db_password', { tenant: 'team' })).status, 404);
      assert.equal((await server.api('DELETE', '/secrets/db_password', { token: operator })).status, 404);
    });

    test('the value is stored encrypted, and a bad key or a too long value is 400', async () => {
      await server.api('PUT', '/secrets/api_key', { token: operator, body: { value: 'plain-text-value' } });
      const { store } = await server.context.tenants.get('team');
      const record = await store.getSecret('api_key');
      assert.ok(record);
      assert.equal(Buffer.from(record.ciphertext).includes('plain-text-value'), false);
      assert.equal(
        (await server.api('PUT', '/secrets/a%20b', { token: operator, body: { value: 'v' } })).status,
        400,
      );
      const long = await server.api('PUT', '/secrets/long', {
        token: operator,
        body: { value: 'x'.repeat(64 * 1024 + 1) },
      });
      assert.equal(long.status, 400);
    });
  });
}
