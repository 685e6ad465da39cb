/** `weft profiles`: servers by name, kept owner-only, checked against the server, chosen by env too. */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, tempDir, weft, weftAsync, weftInBackground } from '@weft/testing/cli';

test('profiles: add checks the token, use switches, list hides tokens, remove goes back to local', async () => {
  const config = tempDir();
  const state = tempDir();
  const env = { ...NO_WEFT_ENVIRONMENT, WEFT_CONFIG_DIR: config, WEFT_ADMIN_PASSWORD: 'profile-password' };
  const server = weftInBackground(
    ['serve', '--state-dir', state, '--listen', '127.0.0.1:0', '--init-admin'],
    env,
  );
  const token = /(weft_\S+)/.exec(await server.line(/API token/))![1]!;
  const url = /listening on (\S+)\/api\/v1/.exec(await server.line(/listening on/))![1]!;
  try {
    const bad = await weftAsync(
      ['profiles', 'add', 'prod', '--url', url, '--token', `${token.slice(0, -3)}xyz`],
      {
        env,
      },
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /token is not valid/);
    const added = await weftAsync(['profiles', 'add', 'prod', '--url', `${url}/api/v1/`, '--token', token], {
      env,
    });
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /Profile 'prod' \(http:\/\/127\.0\.0\.1:\d+ as admin\) added and in use/);
    const file = join(config, 'profiles.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).profiles.prod.url, url);
    const list = weft(['profiles', 'list', '--json'], { env });
    const listed = JSON.parse(list.stdout);
    assert.equal(listed.current, 'prod');
    assert.ok(!list.stdout.includes(token), 'the token is not printed');
    assert.match(listed.profiles[0].token, /^weft_[0-9a-f]{16}_\*\*\*$/);
    // With a profile in use, commands act on the server: it has no executions yet.
    const executions = await weftAsync(['executions'], { env });
    assert.equal(executions.code, 0, executions.stderr);
    assert.equal(executions.stdout, 'No executions yet\n');
    // --state-dir always means local state.
    const local = await weftAsync(['executions', '--state-dir', state], { env });
    assert.equal(local.code, 0, local.stderr);
    assert.equal(weft(['profiles', 'use', 'nope'], { env }).code, 2);
    assert.equal(weft(['profiles', 'use', 'local'], { env }).stdout, 'Using local state\n');
    assert.equal(JSON.parse(weft(['profiles', 'list', '--json'], { env }).stdout).current, null);
    assert.equal(weft(['profiles', 'remove', 'prod'], { env }).code, 0);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).profiles, {});
  } finally {
    server.child.kill('SIGTERM');
    await server.exit;
  }
});

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('WEFT_SERVER needs WEFT_TOKEN; an unreachable server is named in a one-line error', async () => {
  const env = { ...NO_WEFT_ENVIRONMENT, WEFT_CONFIG_DIR: tempDir() };
  const url = `http://127.0.0.1:${await closedPort()}`;
  const half = weft(['executions'], { env: { ...env, WEFT_SERVER: url } });
  assert.equal(half.code, 2);
  assert.match(half.stderr, /WEFT_SERVER is set but WEFT_TOKEN is not/);
  // Commands that act on a server (update, check and history do now) name it when it cannot be
  // reached, rather than act on local state unasked.
  for (const args of [['executions'], ['update', '-d', 'x'], ['check'], ['deployments', 'history']]) {
    const gone = weft(args, { env: { ...env, WEFT_SERVER: url, WEFT_TOKEN: 't' } });
    assert.equal(gone.code, 1, args.join(' '));
    assert.ok(
      gone.stderr.startsWith(`error: cannot reach the server ${url} (profile WEFT_SERVER): ECONNREFUSED\n`),
      gone.stderr,
    );
  }
});
