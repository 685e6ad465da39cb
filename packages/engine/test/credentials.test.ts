// Which runtime property values are credentials by where they are (secrets/credentials.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credentialsIn } from '../src/secrets/credentials.js';

const KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

test("a host's agent_config password and key text, and every ssh-auth password and key text, are credentials", () => {
  assert.deepEqual(
    credentialsIn({
      agent_config: { user: 'centos', password: 'agent-pw', key: KEY, port: 22 },
      cloudify_agent: { password: 'old-style-pw' },
      loom: { providerid: 'i-1', 'ssh-auth': { user: 'root', password: 'loom-pw', identityfile: KEY } },
      nested: [{ deeper: { 'ssh-auth': { password: 'listed-pw' } } }],
    }).sort(),
    [KEY, KEY, 'agent-pw', 'listed-pw', 'loom-pw', 'old-style-pw'].sort(),
  );
});

test('a key file path, a user, an empty password and values elsewhere are not', () => {
  assert.deepEqual(
    credentialsIn({
      agent_config: { user: 'centos', key: '~/.ssh/id_rsa', password: '' },
      loom: { 'ssh-auth': { user: 'root', identityfile: '/keys/id' } },
      password: 'a property of that name, not a login',
      ip: '10.0.0.1',
    }),
    [],
  );
});
