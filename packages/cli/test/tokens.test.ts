/**
 * `weft tokens create|list|revoke` against a real `weft serve` in another process: a token made
 * with an expiry works until it is revoked, then is refused; its expiry is what was asked for;
 * bad durations are usage errors (exit 2, one line), and the secret is printed once only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { weftAsync } from '@weft/testing/cli';
import { serveForCli } from './helpers.js';

test('weft tokens: create with --expires-in, list, use, revoke (refused from then on)', async (t) => {
  const { run, env, url } = await serveForCli(t);
  const before = Date.now();
  const made = await run(['tokens', 'create', 'nightly CI', '--expires-in', '2h', '--json']);
  assert.equal(made.code, 0, made.stderr);
  const token = JSON.parse(made.stdout);
  assert.equal(token.schemaVersion, 1);
  assert.equal(token.description, 'nightly CI');
  assert.match(token.token, new RegExp(`^weft_${token.id}_`));
  const expires = Date.parse(token.expiresAt) - before;
  assert.ok(expires > 7_100_000 && expires <= 7_200_000 + 60_000, `expires in ${expires} ms`);

  // The new token works, as the CLI's token.
  const asIt = (args: string[]) => weftAsync(args, { env: { ...env, WEFT_TOKEN: token.token } });
  const listed = await asIt(['tokens', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const tokens = JSON.parse(listed.stdout).tokens as {
    id: string;
    expiresAt: string | null;
    lastUsedAt: string | null;
  }[];
  assert.deepEqual(
    tokens.find((t) => t.id === token.id),
    {
      id: token.id,
      user: 'admin',
      description: 'nightly CI',
      expiresAt: token.expiresAt,
      createdAt: token.createdAt,
      lastUsedAt: tokens.find((t) => t.id === token.id)!.lastUsedAt,
      agent: null,
    },
  );
  assert.ok(
    tokens.some((t) => t.expiresAt === null),
    'the admin token of --init-admin never expires',
  );
  const text = await run(['tokens', 'list']);
  assert.match(text.stdout, /^ID {16}EXPIRES {19}LAST USED {17}DESCRIPTION$/m);
  assert.match(
    text.stdout,
    new RegExp(`^${token.id}  ${token.expiresAt.replace(/\./g, '\\.')}  \\S+ +nightly CI$`, 'm'),
  );
  assert.doesNotMatch(text.stdout, /weft_[0-9a-f]{16}_/, 'no secret is listed');

  // The human form prints the secret once, and says when it expires.
  const plain = await run(['tokens', 'create', 'forever']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(
    plain.stdout,
    /^Token [0-9a-f]{16} \(never expires\); it is shown this once:\n\n {2}weft_[0-9a-f]{16}_\S+\n\n$/,
  );

  // Revoked (by its id, as listed): refused from then on.
  const revoked = await run(['tokens', 'revoke', token.id]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, `Token ${token.id} revoked\n`);
  const refused = await asIt(['tokens', 'list']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /unauthorized|invalid|revoked|token/i);
  const direct = await fetch(`${url}/api/v1/tokens`, { headers: { authorization: `Bearer ${token.token}` } });
  assert.equal(direct.status, 401);
  // Again: not found, a usage error; the whole token given instead of its id is understood.
  const again = await run(['tokens', 'revoke', token.token, '--json']);
  assert.equal(again.code, 2);
  const error = JSON.parse(again.stdout).error;
  assert.equal(error.kind, 'usage');
  assert.match(error.message, new RegExp(`token '${token.id}'.*not found|not found.*${token.id}`));

  for (const bad of ['0', '3x', '-5', '3651d', '']) {
    const refusedDuration = await run(['tokens', 'create', 'bad', '--expires-in', bad]);
    assert.equal(refusedDuration.code, 2, bad);
    assert.equal(
      refusedDuration.stderr,
      `error: --expires-in ${bad}: expected a duration such as 3600, 90m, 12h or 30d (at most 3650d)\n`,
    );
  }
});
