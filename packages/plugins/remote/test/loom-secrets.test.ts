// A Loom provider, written as a Loom user writes one, returns a machine's SSH password in its
// `ssh-auth` result; the fabric plugin logs in with it to run commands on the machine. Installed and
// uninstalled with the weft CLI against ssh2's server taking that password: the password reaches
// the SSH connection, and nothing else (output, events, the state directory's files).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '@weft/engine';
import { tempDir, type WeftRun, weftAsync } from '@weft/testing/cli';
import { type SshServer, startSsh2Server } from './ssh-servers.js';

const root = tempDir('weft-loom-secrets-');
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const state = join(root, '.weft');
const plugins = join(root, 'plugins');

/** The provider gets the password from its environment, as a real one gets it from its cloud's API. */
function weft(args: string[]): Promise<WeftRun> {
  return weftAsync([...args, '--state-dir', state], { cwd: root, env: { CLOUDLET_PASSWORD: PASSWORD } });
}

const MANIFEST = {
  name: 'cloudlet',
  description: 'Machines with a password',
  providertypes: ['cloudlet'],
  cloudlet: {
    name: 'cloudlet',
    classname: 'CloudletProvider',
    parameters: { admin: { fields: { flavor: { label: 'Flavor', type: 'text', default: 'small' } } } },
  },
};

const PROVIDER = `import { userInfo } from 'node:os';
import { Provider } from '@weft/sdk';

export class CloudletProvider extends Provider {
  create() {
    const password = process.env.CLOUDLET_PASSWORD;
    return {
      status: 0,
      stdout: 'machine m-1 made, root password ' + password + '\\n',
      result: { providerid: 'm-1', 'ssh-auth': { user: userInfo().username, password } },
    };
  }
  confirm() {
    return { status: 0, result: { ipaddress: '127.0.0.1', hostname: 'm-1.local' } };
  }
  delete() {
    return { status: 0 };
  }
}
`;

const BLUEPRINT = `tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
  - plugin:cloudlet
  - plugin:cloudify-fabric-plugin
inputs:
  port:
    type: integer
node_templates:
  machine:
    type: loom.provider.cloudlet
  app:
    type: cloudify.nodes.Root
    relationships:
      - { type: cloudify.relationships.contained_in, target: machine }
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: fabric.fabric_plugin.tasks.run_commands
          inputs:
            commands: ['echo "created as $(whoami)"']
            fabric_env: { port: { get_input: port } }
        delete:
          implementation: fabric.fabric_plugin.tasks.run_commands
          inputs:
            commands: ['echo "deleted as $(whoami)"']
            fabric_env: { port: { get_input: port } }
outputs:
  password:
    value: { get_attribute: [machine, agent_config, password] }
  user:
    value: { get_attribute: [machine, agent_config, user] }
`;

/** Every file under `dir` (the database, its journal, plugin work directories), as text. */
function filesUnder(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) for (const [p, text] of filesUnder(path)) found.set(p, text);
    else found.set(path, readFileSync(path).toString('latin1'));
  }
  return found;
}

function assertNoPassword(text: string, where: string): void {
  assert.ok(!text.includes(PASSWORD), `${where} holds the password:\n${text}`);
}

function ok(run: WeftRun, what: string): WeftRun {
  assert.equal(run.code, 0, `${what}: ${run.stdout}${run.stderr}`);
  assertNoPassword(run.stdout + run.stderr, what);
  return run;
}

interface Event {
  message?: string;
}

async function eventMessages(): Promise<string[]> {
  const run = ok(await weft(['events', '--json', '-d', 'cloudlet']), 'weft events');
  return run.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (JSON.parse(line) as Event).message ?? '');
}

describe("a Loom provider's ssh-auth password", { concurrency: false }, () => {
  let sshd: SshServer;
  before(async () => {
    sshd = await startSsh2Server(PASSWORD);
    mkdirSync(join(plugins, 'cloudlet'), { recursive: true });
    writeFileSync(join(plugins, 'cloudlet', 'cloudlet.json'), JSON.stringify(MANIFEST, null, 2));
    writeFileSync(join(plugins, 'cloudlet', 'index.js'), PROVIDER);
    writeFileSync(
      join(plugins, 'cloudlet', 'package.json'),
      JSON.stringify({ name: 'cloudlet', version: '1.0.0', type: 'module', main: 'index.js' }),
    );
    writeFileSync(join(root, 'blueprint.yaml'), BLUEPRINT);
  });
  after(async () => {
    await sshd?.stop();
  });

  test('logs the fabric plugin in, and is stored sealed, shown masked, and in no output, event or file', async () => {
    const install = ok(
      await weft([
        'install',
        join(root, 'blueprint.yaml'),
        '-d',
        'cloudlet',
        '-i',
        `port=${sshd.port}`,
        '--plugin-dir',
        plugins,
      ]),
      'weft install',
    );
    assert.match(install.stdout + install.stderr, /install/);
    let messages = await eventMessages();
    assert.ok(
      messages.includes(`created as ${sshd.user}`),
      `the command ran on the machine:\n${messages.join('\n')}`,
    );
    // The provider printed it before Weft knew it for a secret; its captured output is masked.
    assert.ok(messages.includes('machine m-1 made, root password ******'), messages.join('\n'));

    const store = await openStore(join(state, 'weft.db'));
    try {
      const [machine] = (await store.listInstances('cloudlet')).filter((i) => i.node === 'machine');
      const rp = machine?.runtimeProperties as {
        agent_config: Record<string, string>;
        loom: { 'ssh-auth': Record<string, string> };
      };
      assert.equal(rp.agent_config.user, sshd.user, 'what is no secret is stored as it is');
      assert.match(rp.agent_config.password ?? '', /^weft:sealed:1:/);
      assert.match(rp.loom['ssh-auth'].password ?? '', /^weft:sealed:1:/);
    } finally {
      await store.close();
    }

    const instances = ok(await weft(['instances', '--json', '-d', 'cloudlet']), 'weft instances');
    const shown = JSON.parse(instances.stdout) as {
      instances: { node: string; runtimeProperties: { agent_config?: { password?: string } } }[];
    };
    const machine = shown.instances.find((i) => i.node === 'machine');
    assert.equal(machine?.runtimeProperties.agent_config?.password, '******');
    const outputs = ok(await weft(['outputs', '--json', '-d', 'cloudlet']), 'weft outputs');
    assert.deepEqual(JSON.parse(outputs.stdout).outputs, { password: '******', user: sshd.user });

    // A later execution opens it again to log in.
    ok(await weft(['uninstall', '-d', 'cloudlet', '--yes', '--plugin-dir', plugins]), 'weft uninstall');
    messages = await eventMessages();
    assert.ok(messages.includes(`deleted as ${sshd.user}`), messages.join('\n'));
    for (const [path, text] of filesUnder(state)) assertNoPassword(text, path);
  });
});
