/** `weft serve` as a user starts it: the first admin's token, the API answering, a clean stop. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, tempDir, weft, weftInBackground } from '@weft/testing/cli';

test('weft serve --init-admin prints a token once; the API takes it; SIGTERM stops the server', async () => {
  const dir = tempDir();
  const env = { ...NO_WEFT_ENVIRONMENT, WEFT_ADMIN_PASSWORD: 'a-long-password' };
  const server = weftInBackground(
    ['serve', '--state-dir', dir, '--listen', '127.0.0.1:0', '--init-admin', 'root'],
    env,
  );
  const token = /(weft_\S+)/.exec(await server.line(/API token/))![1]!;
  const url = /listening on (\S+)\/api\/v1/.exec(await server.line(/listening on/))![1]!;
  assert.ok(!server.lines.join('\n').includes('a-long-password'), 'a given password is not printed');
  const me = await fetch(`${url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(me.status, 200);
  assert.equal(((await me.json()) as { name: string }).name, 'root');
  const login = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'root', password: 'a-long-password' }),
  });
  assert.equal(login.status, 201);
  server.child.kill('SIGTERM');
  assert.equal(await server.exit, 0);

  // The server's users survive a restart; a second --init-admin is refused.
  const again = weft(['serve', '--state-dir', dir, '--listen', '127.0.0.1:0', '--init-admin'], { env });
  assert.equal(again.code, 2, again.stderr);
  assert.match(again.stderr, /already has users/);
});

test('weft serve refuses a bad --listen and a database URL that is not PostgreSQL (exit 2)', () => {
  const dir = tempDir();
  const listen = weft(['serve', '--state-dir', dir, '--listen', 'nowhere:port'], {
    env: NO_WEFT_ENVIRONMENT,
  });
  assert.equal(listen.code, 2);
  assert.match(listen.stderr, /--listen nowhere:port: expected HOST:PORT/);
  const db = weft(['serve', '--state-dir', dir, '--db', 'mysql://x'], { env: NO_WEFT_ENVIRONMENT });
  assert.equal(db.code, 2);
  assert.match(db.stderr, /takes a postgres:\/\/ URL/);
});

test('weft serve --log logs requests as JSON lines without passwords, tokens or secret values', async () => {
  const dir = tempDir();
  const env = { ...NO_WEFT_ENVIRONMENT, WEFT_ADMIN_PASSWORD: 'a-logged-password' };
  const server = weftInBackground(
    ['serve', '--state-dir', dir, '--listen', '127.0.0.1:0', '--init-admin', '--log'],
    env,
  );
  const token = /(weft_\S+)/.exec(await server.line(/API token/))![1]!;
  const url = /listening on (\S+)\/api\/v1/.exec(await server.line(/listening on/))![1]!;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const login = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'a-logged-password' }),
  });
  const second = ((await login.json()) as { token: string }).token;
  const put = await fetch(`${url}/api/v1/secrets/db_password`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ value: 'sEcReT-vAlUe-42' }),
  });
  assert.equal(put.status, 201);
  const read = await fetch(`${url}/api/v1/secrets/db_password`, { headers });
  assert.equal(((await read.json()) as { value: string }).value, 'sEcReT-vAlUe-42');
  server.child.kill('SIGTERM');
  assert.equal(await server.exit, 0);
  const logged = server.lines.slice(server.lines.findIndex((l) => /listening on/.test(l)) + 1).join('\n');
  assert.match(logged, /"url":"\/api\/v1\/secrets\/db_password"/, 'requests are logged');
  // A token is `weft_<16 hex id>_<secret>`; the secret itself may hold '_', so it is cut by position.
  const secretOf = (t: string) => t.slice('weft_'.length + 16 + 1);
  for (const secret of ['a-logged-password', 'sEcReT-vAlUe-42', secretOf(token), secretOf(second)])
    assert.ok(!logged.includes(secret), `the log holds ${secret}`);
});
