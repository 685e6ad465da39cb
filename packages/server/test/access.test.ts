/** Users, tenants, tokens and the access rule of every route, over real HTTP, on both stores. */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { issueToken } from '../src/auth/issue.js';
import { newToken } from '../src/auth/tokens.js';
import {
  type Backend,
  type Doc,
  deploy,
  fixtures,
  startTestServer,
  type TestServer,
  userWithRole,
} from './harness.js';

const errorShape = (body: Doc) => {
  assert.equal(typeof body.code, 'string');
  assert.equal(typeof body.message, 'string');
  assert.ok('details' in body);
};

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`access (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.stop());

    test('health and the API document need no token; the document is OpenAPI 3.1 and lists the routes', async () => {
      const health = await server.api('GET', '/health', { token: null });
      assert.equal(health.status, 200);
      assert.equal(health.body.status, 'ok');
      const doc = await server.api('GET', '/openapi.json', { token: null });
      assert.equal(doc.status, 200);
      assert.equal(doc.body.openapi, '3.1.0');
      assert.ok(doc.body.paths['/api/v1/users']?.post, 'POST /users is documented');
      assert.deepEqual(doc.body.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
      const page = await fetch(`${server.url}/api/v1/docs/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
    });

    test('a password gives a token; the token works until it is revoked', async () => {
      const wrong = await server.api('POST', '/auth/login', {
        token: null,
        body: { username: 'admin', password: 'not-it' },
      });
      assert.equal(wrong.status, 401);
      errorShape(wrong.body);
      const login = await server.api('POST', '/auth/login', {
        token: null,
        body: { username: 'admin', password: 'admin-password', description: 'laptop' },
      });
      assert.equal(login.status, 201);
      assert.match(login.body.token, /^weft_[0-9a-f]{16}_/);
      const me = await server.api('GET', '/auth/me', { token: login.body.token });
      assert.equal(me.status, 200);
      assert.equal(me.body.name, 'admin');
      assert.deepEqual(me.body.tenants, [{ tenant: 'default_tenant', role: 'admin' }]);
      const tokens = await server.api('GET', '/tokens', { token: login.body.token });
      assert.ok(tokens.body.some((t: Doc) => t.id === login.body.id && t.description === 'laptop'));
      assert.ok(
        tokens.body.every((t: Doc) => !('token' in t) && !('secretHash' in t)),
        'no secrets in lists',
      );
      const revoked = await server.api('DELETE', `/tokens/${login.body.id}`, { token: login.body.token });
      assert.equal(revoked.status, 204);
      const after = await server.api('GET', '/auth/me', { token: login.body.token });
      assert.equal(after.status, 401);
      errorShape(after.body);
    });

    test('an expired token and a forged one are refused', async () => {
      const made = newToken();
      await server.context.access.createToken({
        id: made.id,
        user: 'admin',
        secretHash: made.secretHash,
        description: 'old',
        expiresAt: new Date(Date.now() - 1000).toISOString(),
        createdAt: new Date().toISOString(),
        lastUsedAt: null,
        agent: null,
      });
      const expired = await server.api('GET', '/auth/me', { token: made.token });
      assert.equal(expired.status, 401);
      assert.match(expired.body.message, /expired/);
      const forged = `${server.adminToken.slice(0, -4)}AAAA`;
      assert.equal((await server.api('GET', '/auth/me', { token: forged })).status, 401);
    });

    test('users: created, listed without password hashes, the last superuser kept', async () => {
      const made = await server.api('POST', '/users', {
        body: { name: 'carol', password: 'carol-password' },
      });
      assert.equal(made.status, 201);
      assert.equal(
        (await server.api('POST', '/users', { body: { name: 'carol', password: 'x-password' } })).status,
        409,
      );
      const short = await server.api('POST', '/users', { body: { name: 'dave', password: 'short' } });
      assert.equal(short.status, 400);
      errorShape(short.body);
      const list = await server.api('GET', '/users');
      assert.deepEqual(
        list.body.map((u: Doc) => u.name),
        ['admin', 'carol'],
      );
      assert.doesNotMatch(JSON.stringify(list.body), /argon2/);
      const last = await server.api('DELETE', '/users/admin');
      assert.equal(last.status, 409);
      assert.match(last.body.message, /last superuser/);
      assert.equal((await server.api('DELETE', '/users/carol')).status, 204);
      assert.equal((await server.api('GET', '/users/carol')).status, 404);
    });

    test('roles: a viewer cannot manage users; a member of one tenant cannot act in another', async () => {
      const viewer = await userWithRole(server, 'vera', 'team_a', 'viewer');
      const refused = await server.api('GET', '/users', { token: viewer });
      assert.equal(refused.status, 403);
      errorShape(refused.body);
      const me = await server.api('GET', '/auth/me', { token: viewer });
      assert.deepEqual(me.body.tenants, [{ tenant: 'team_a', role: 'viewer' }]);
      const other = await server.api('GET', '/auth/me', { token: viewer, tenant: 'default_tenant' });
      assert.equal(other.status, 200, 'the user route does not depend on a tenant');
    });

    test('a role taken away or lowered applies to the next request, however recently the token was let in', async () => {
      const token = await userWithRole(server, 'rita', 'team_r', 'operator');
      const write = () => server.api('PUT', '/secrets/rita_key', { token, body: { value: 'v' } });
      assert.equal((await write()).status, 201);
      assert.equal((await server.api('GET', '/secrets', { token })).status, 200);
      assert.equal(
        (await server.api('PUT', '/tenants/team_r/members/rita', { body: { role: 'viewer' } })).status,
        200,
      );
      assert.equal((await write()).status, 403, 'a viewer now');
      assert.equal((await server.api('GET', '/secrets', { token })).status, 200);
      assert.equal((await server.api('DELETE', '/tenants/team_r/members/rita')).status, 204);
      assert.equal((await server.api('GET', '/secrets', { token })).status, 403, 'no longer a member');
      assert.equal((await server.api('DELETE', '/users/rita')).status, 204);
      assert.equal((await server.api('GET', '/auth/me', { token })).status, 401, 'the user is gone');
    });

    test('a deleted tenant takes its data with it: one made again under its name starts empty', async () => {
      assert.equal((await server.api('POST', '/tenants', { body: { name: 'gone' } })).status, 201);
      const before = await server.context.tenants.get('gone');
      await before.secrets.set('db_password', 'hunter22');
      assert.equal((await server.api('DELETE', '/tenants/gone')).status, 204);
      assert.equal((await server.api('POST', '/tenants', { body: { name: 'gone' } })).status, 201);
      const again = await server.context.tenants.get('gone');
      assert.deepEqual(await again.secrets.list(), []);
      const main = await server.api('DELETE', '/tenants/default_tenant');
      assert.equal(main.status, 409);
    });

    test('every route but the public ones refuses a request without a token, and one with the role just below its own', async () => {
      // Just below each rule: a viewer for operator routes, an operator for admin routes, a
      // tenant's admin (not a superuser) for superuser routes.
      const below: Record<string, string> = {
        operator: await userWithRole(server, 'walker', 'team_w', 'viewer'),
        admin: await userWithRole(server, 'walker_op', 'team_w', 'operator'),
        superuser: await userWithRole(server, 'walker_admin', 'team_w', 'admin'),
      };
      const routes = server.app.weftRoutes.filter((r) => r.url.startsWith('/api/v1'));
      assert.ok(routes.length >= 50, `${routes.length} routes`);
      let refused = 0;
      for (const route of routes) {
        const path = route.url.replace('/api/v1', '').replace(/:[a-z]+/gi, 'x');
        if (route.access === 'public') continue;
        assert.notEqual(route.access, undefined, `${route.method} ${route.url} declares its access`);
        const none = await server.api(route.method, path, {
          token: null,
          body: route.method === 'GET' || route.method === 'DELETE' ? undefined : {},
        });
        assert.equal(none.status, 401, `${route.method} ${route.url} without a token`);
        errorShape(none.body);
        const token = below[route.access!];
        if (token) {
          const low = await server.api(route.method, path, {
            token,
            body: route.method === 'GET' || route.method === 'DELETE' ? undefined : {},
          });
          assert.equal(low.status, 403, `${route.method} ${route.url} with the role below ${route.access}`);
          errorShape(low.body);
          refused++;
        }
      }
      assert.ok(refused >= 20, `${refused} routes refused the role below theirs`);
    });

    test('a user of one tenant gets 404 for what another tenant holds, as if it did not exist', async () => {
      const alice = await userWithRole(server, 'alice', 'tenant_a', 'operator');
      const bert = await userWithRole(server, 'bert', 'tenant_b', 'admin');
      const blueprint = [
        'tosca_definitions_version: cloudify_dsl_1_4',
        'imports: [http://cloudify.co/spec/cloudify/6.4.0/types.yaml]',
        'node_templates:',
        '  box: {type: cloudify.nodes.Root}',
        '',
      ].join('\n');
      const yaml = { 'content-type': 'application/yaml' };
      assert.equal(
        (await server.api('PUT', '/blueprints/bp_a', { token: alice, body: blueprint, headers: yaml }))
          .status,
        201,
      );
      assert.equal(
        (await server.api('PUT', '/deployments/dep_a', { token: alice, body: { blueprintId: 'bp_a' } }))
          .status,
        201,
      );
      assert.equal(
        (await server.api('PUT', '/secrets/key_a', { token: alice, body: { value: 'tenant-a-only' } }))
          .status,
        201,
      );
      const instances = await server.api('GET', '/node-instances?deploymentId=dep_a', { token: alice });
      const instance = instances.body.items[0].id;
      const started = await server.api('POST', '/executions', {
        token: alice,
        body: { deploymentId: 'dep_a', workflowId: 'install' },
      });
      assert.equal(started.status, 201);
      const execution = started.body.id as string;

      // A body where the route needs one to reach its handler.
      const probes: [string, string, Doc?][] = [
        ['GET', '/blueprints/bp_a'],
        ['GET', '/blueprints/bp_a/archive'],
        ['DELETE', '/blueprints/bp_a'],
        ['GET', '/deployments/dep_a'],
        ['GET', '/deployments/dep_a/outputs'],
        ['GET', '/deployments/dep_a/versions'],
        ['DELETE', '/deployments/dep_a'],
        ['POST', '/deployments/dep_a/update-plan'],
        ['POST', '/deployments/dep_a/updates'],
        ['POST', '/deployments/dep_a/rollback'],
        ['GET', '/deployments/dep_a/snapshots'],
        ['POST', '/deployments/dep_a/snapshots'],
        ['GET', '/deployments/dep_a/snapshots/snap'],
        ['DELETE', '/deployments/dep_a/snapshots/snap'],
        ['POST', '/deployments/dep_a/snapshots/snap/restore'],
        ['POST', '/deployments/dep_a/abandon'],
        ['POST', '/deployments/dep_a/compare', { archive: '' }],
        ['POST', '/deployments/dep_a/agents', { host: instance }],
        ['GET', `/node-instances/${instance}`],
        ['GET', '/node-instances?deploymentId=dep_a'],
        ['GET', '/secrets/key_a'],
        ['DELETE', '/secrets/key_a'],
        ['GET', `/executions/${execution}`],
        ['GET', `/executions/${execution}/tasks`],
        ['POST', `/executions/${execution}/cancel`],
        ['POST', `/executions/${execution}/resume`],
        ['GET', `/events/stream?executionId=${execution}`],
      ];
      // Every tenant route that names something by id is among them (PUT makes one under the
      // name given, which another tenant may use too: shown below for deployments; plugins are
      // the server's, shared by every tenant).
      const probed = (route: { method: string; url: string }) =>
        probes.some(
          ([method, path]) =>
            method === route.method &&
            new RegExp(`^${route.url.replace('/api/v1', '').replace(/:[a-z]+/gi, '[^/?]+')}$`).test(
              path.split('?')[0]!,
            ),
        );
      const tenantRoutes = server.app.weftRoutes.filter(
        (r) =>
          ['viewer', 'operator', 'admin'].includes(r.access!) &&
          r.url.includes('/:') &&
          r.method !== 'PUT' &&
          !r.url.startsWith('/api/v1/plugins'),
      );
      assert.deepEqual(
        tenantRoutes.filter((r) => !probed(r)).map((r) => `${r.method} ${r.url}`),
        [],
        'tenant routes with an id not probed from another tenant',
      );
      for (const [method, path, body] of probes) {
        const answer = await server.api(method, path, {
          token: bert,
          ...(method === 'POST' ? { body: body ?? {} } : {}),
        });
        assert.equal(answer.status, 404, `${method} ${path} from tenant_b`);
        assert.equal(answer.body.code, 'not_found');
        assert.doesNotMatch(JSON.stringify(answer.body), /tenant-a-only|cloudify/);
      }
      const fromB = await server.api('PUT', '/deployments/dep_b', {
        token: bert,
        body: { blueprintId: 'bp_a' },
      });
      assert.equal(fromB.status, 404);
      assert.deepEqual((await server.api('GET', '/blueprints', { token: bert })).body, []);
      assert.deepEqual((await server.api('GET', '/deployments', { token: bert })).body.items, []);
      assert.deepEqual((await server.api('GET', '/node-instances', { token: bert })).body.items, []);
      assert.deepEqual((await server.api('GET', '/secrets', { token: bert })).body, []);
      // A superuser acting in tenant_b does not see tenant_a's either.
      assert.equal((await server.api('GET', '/deployments/dep_a', { tenant: 'tenant_b' })).status, 404);
      // And tenant_a still has all of it.
      assert.equal((await server.api('GET', '/deployments/dep_a', { token: alice })).status, 200);
      assert.equal((await server.api('GET', '/blueprints/bp_a', { token: alice })).status, 200);
    });

    test("a host agent's token: made by an operator for a host of a deployment, 403 on every route but the agent's, ended by its maker's role or a revocation", async () => {
      const tenant = await server.context.tenants.get('default_tenant');
      await deploy(tenant, join(fixtures, 'spread', 'blueprint.yaml'), 'agents', { record: 'r', count: 1 });
      const instances = await tenant.store.listInstances('agents');
      const vm = instances.find((i) => i.node === 'vm')!.id;
      const app = instances.find((i) => i.node === 'app')!.id;
      // Their tokens issued here: logins are rate-limited, and other tests log in.
      const member = async (name: string, role: string) => {
        assert.equal(
          (await server.api('POST', '/users', { body: { name, password: `${name}-pw-long` } })).status,
          201,
        );
        const put = await server.api('PUT', `/tenants/default_tenant/members/${name}`, { body: { role } });
        assert.equal(put.status, 200);
        return (await issueToken(server.context.access, name, 'test', 0)).token;
      };
      const maker = await member('agent_maker', 'operator');
      const viewer = await member('agent_viewer', 'viewer');
      const make = (token: string, host: string, deployment = 'agents') =>
        server.api('POST', `/deployments/${deployment}/agents`, { token, body: { host } });
      assert.equal((await make(viewer, vm)).status, 403, 'a viewer makes none');
      assert.equal((await make(maker, vm, 'nowhere')).status, 404);
      assert.equal((await make(maker, 'vm_nothing')).status, 404);
      const notHost = await make(maker, app);
      assert.equal(notHost.status, 422);
      assert.match(notHost.body.message, new RegExp(`is not a host .*its host is '${vm}'`));
      const made = await make(maker, vm);
      assert.equal(made.status, 201);
      assert.deepEqual(made.body.agent, { tenant: 'default_tenant', deployment: 'agents', host: vm });
      const agent: string = made.body.token;

      const scope = await server.api('GET', '/agent', { token: agent });
      assert.equal(scope.status, 200);
      assert.deepEqual(scope.body, { tenant: 'default_tenant', deployment: 'agents', host: vm });
      const notAgent = await server.api('GET', '/agent', { token: maker });
      assert.equal(notAgent.status, 403, "a user's token is not an agent's");
      errorShape(notAgent.body);

      const routes = server.app.weftRoutes.filter(
        (r) => r.url.startsWith('/api/v1') && r.access !== 'public' && r.access !== 'agent',
      );
      assert.ok(routes.length >= 40, `${routes.length} routes`);
      for (const route of routes) {
        const path = route.url.replace('/api/v1', '').replace(/:[a-z]+/gi, 'x');
        const refused = await server.api(route.method, path, {
          token: agent,
          body: route.method === 'GET' || route.method === 'DELETE' ? undefined : {},
        });
        assert.equal(refused.status, 403, `${route.method} ${route.url} with an agent's token`);
        errorShape(refused.body);
      }
      // Not even the routes of the deployment and host it serves, nor an unknown one.
      assert.equal((await server.api('GET', `/node-instances/${vm}`, { token: agent })).status, 403);
      assert.equal((await server.api('GET', '/nothing-here', { token: agent })).status, 403);

      const listed = await server.api('GET', '/tokens', { token: maker });
      const entry = listed.body.find((t: Doc) => t.id === made.body.id);
      assert.deepEqual(entry.agent, made.body.agent);
      assert.ok(!('token' in entry), 'its secret is shown once');

      // Its maker no longer runs operations there: neither does the agent.
      const role = (r: string) =>
        server.api('PUT', '/tenants/default_tenant/members/agent_maker', { body: { role: r } });
      assert.equal((await role('viewer')).status, 200);
      assert.equal((await server.api('GET', '/agent', { token: agent })).status, 403);
      assert.equal((await role('operator')).status, 200);
      assert.equal((await server.api('GET', '/agent', { token: agent })).status, 200);

      assert.equal((await server.api('DELETE', `/tokens/${made.body.id}`, { token: maker })).status, 204);
      assert.equal((await server.api('GET', '/agent', { token: agent })).status, 401);
    });

    test('an unknown route is 401 without a token (nothing to learn) and 404 with one', async () => {
      assert.equal((await server.api('GET', '/nothing-here', { token: null })).status, 401);
      const found = await server.api('GET', '/nothing-here');
      assert.equal(found.status, 404);
      errorShape(found.body);
    });

    test('bodies: too large is 413, malformed JSON is 400, both in the error shape', async () => {
      const big = await server.api('POST', '/tenants', {
        body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
      });
      assert.equal(big.status, 413);
      errorShape(big.body);
      const bad = await server.api('POST', '/tenants', { body: '{"name":' });
      assert.equal(bad.status, 400);
      errorShape(bad.body);
      assert.match(bad.body.message, /^the request body is not valid JSON: Unexpected end of JSON input/);
    });

    test('an empty body sent as application/json: {} on every route whose body is optional, a 400 naming the fields on the others', async () => {
      const doc = (await server.api('GET', '/openapi.json')).body;
      const withBodies: { method: string; path: string; optional: boolean }[] = [];
      for (const [path, operations] of Object.entries(doc.paths as Record<string, Doc>))
        for (const [method, operation] of Object.entries(operations as Record<string, Doc>))
          if (operation.requestBody)
            withBodies.push({
              method: method.toUpperCase(),
              // Ids that do not exist: the handler, reached past validation, says so (404).
              path: path.replace(/^\/api\/v1/, '').replace(/\{[^}]+\}/g, 'no-such-id'),
              optional: operation.requestBody.required === false,
            });
      const optional = withBodies.filter((r) => r.optional);
      assert.ok(optional.length >= 6, JSON.stringify(optional));
      for (const { method, path } of optional)
        for (const [body, type] of [
          ['', 'application/json'],
          ['  \n', 'application/json; charset=utf-8'],
        ] as const) {
          const empty = await server.api(method, path, { body, headers: { 'content-type': type } });
          const braces = await server.api(method, path, { body: {} });
          assert.notEqual(empty.status, 400, `${method} ${path}: ${JSON.stringify(empty.body)}`);
          assert.deepEqual([empty.status, empty.body], [braces.status, braces.body], `${method} ${path}`);
        }
      // With ids that exist: the handler's own answer to {}.
      const me = await server.api('PATCH', '/users/admin', { body: '' });
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.equal(me.body.name, 'admin');
      // The agents' routes are reached with a host agent's token only.
      const agent = (
        await issueToken(server.context.access, 'admin', 'agent', 0, {
          tenant: 'default_tenant',
          deployment: 'no-such-id',
          host: 'no-such-id',
        })
      ).token;
      for (const { method, path } of withBodies.filter((r) => !r.optional)) {
        const token = path.startsWith('/agent/') ? agent : undefined;
        const empty = await server.api(method, path, { body: '', ...(token ? { token } : {}) });
        assert.equal(empty.status, 400, `${method} ${path}`);
        errorShape(empty.body);
        assert.match(empty.body.message, /^the request needs a JSON body with \w+/, `${method} ${path}`);
      }
      const malformed = await server.api('POST', '/executions/no-such-id/cancel', { body: '{"force": tru' });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.code, 'bad_request');
      assert.match(malformed.body.message, /^the request body is not valid JSON: /);
    });

    test('responses carry security headers', async () => {
      const response = await server.api('GET', '/health', { token: null });
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(response.headers.get('x-frame-options'), 'SAMEORIGIN');
      assert.match(response.headers.get('strict-transport-security') ?? '', /^max-age=\d+/);
      // Helmet's defaults with the server's own sources for scripts and styles.
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /(^|;)script-src 'self';/);
      assert.match(csp, /(^|;)style-src 'self' https: 'unsafe-inline';/);
      assert.match(csp, /(^|;)object-src 'none';/);
      // Worked out once, and the same for every response.
      const again = await server.api('GET', '/deployments');
      assert.equal(again.headers.get('content-security-policy'), csp);
    });

    if (backend === 'sqlite')
      test("the server's database is readable by its owner only", () => {
        assert.equal(statSync(join(server.stateDir, 'server.db')).mode & 0o777, 0o600);
      });
  });
}

describe('login rate limit', () => {
  test('the eleventh login in a minute from one address is refused (429)', async () => {
    const server = await startTestServer('sqlite');
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++)
        statuses.push(
          (
            await server.api('POST', '/auth/login', {
              token: null,
              body: { username: 'admin', password: 'wrong' },
            })
          ).status,
        );
      assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
    } finally {
      await server.stop();
    }
  });
});
