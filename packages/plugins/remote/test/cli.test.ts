// Blueprints written for Cloudify's fabric plugin, installed with the weft CLI against each SSH
// server of ssh-servers.ts: the key from `weft secrets set`, hosts from fabric_env and from the
// contained-in Compute host.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir, type WeftRun, weftAsync } from '@weft/testing/cli';
import { SSH_SERVERS, type SshServer } from './ssh-servers.js';

const root = tempDir('weft-remote-cli-');

function weft(args: string[], input?: string): Promise<WeftRun> {
  return weftAsync(args, { cwd: root, ...(input === undefined ? {} : { input }) });
}

/** A blueprint directory with `blueprint.yaml` and the given scripts, and a state directory. */
function project(name: string, blueprint: string, scripts: Record<string, string> = {}) {
  const dir = join(root, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'blueprint.yaml'), blueprint);
  for (const [file, text] of Object.entries(scripts)) writeFileSync(join(dir, 'scripts', file), text);
  const state = join(dir, '.weft');
  return { blueprint: join(dir, 'blueprint.yaml'), state };
}

interface Event {
  type?: string;
  level?: string;
  message?: string;
  [key: string]: unknown;
}

async function events(state: string): Promise<Event[]> {
  const run = await weft(['events', '--json', '--state-dir', state]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Event);
}

const HEADER = `tosca_definitions_version: cloudify_dsl_1_3
imports:
  - http://cloudify.co/spec/cloudify/5.0.0/types.yaml
  - plugin:cloudify-fabric-plugin
inputs:
  port:
    type: integer
`;

/** An operation's fabric_env: the test server's port from the `port` input, the key from a secret. */
const fabricEnv = (user: string) => `
            fabric_env:
              host_string: { concat: ['${user}@127.0.0.1:', { get_input: port }] }
              key: { get_secret: agent_key_private }`;

for (const kind of SSH_SERVERS)
  describe(`weft install with the fabric plugin, on ${kind.name}`, {
    skip: kind.skip,
    concurrency: true,
  }, () => {
    let sshd: SshServer;
    let FABRIC_ENV: string;
    const slug = kind.name.replace(/\W+/g, '-');
    before(async () => {
      sshd = await kind.start();
      FABRIC_ENV = fabricEnv(sshd.user);
    });
    after(async () => {
      await sshd?.stop();
    });

    /** Stores `key` as the secret the blueprints read, then installs with the server's port. */
    async function installWithKey(blueprint: string, state: string, key: string, ...options: string[]) {
      const secret = await weft(['secrets', 'set', 'agent_key_private', '-', '--state-dir', state], key);
      assert.equal(secret.code, 0, secret.stderr);
      return weft(['install', blueprint, '-i', `port=${sshd.port}`, '--state-dir', state, ...options]);
    }

    test('commands and a script run on the host; the key never shows in events', async () => {
      const { blueprint, state } = project(
        `ok-${slug}`,
        `${HEADER}
node_templates:
  # The agent's key from a secret, as Cloudify blueprints give it (evaluated when operations run).
  vm:
    type: cloudify.nodes.Compute
    properties:
      ip: 127.0.0.1
      agent_config:
        user: ${sshd.user}
        key: { get_secret: agent_key_private }
        port: { get_input: port }
  app:
    type: cloudify.nodes.Root
    relationships:
      - { type: cloudify.relationships.contained_in, target: vm }
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: fabric.fabric_plugin.tasks.run_commands
          inputs:
            commands: ['echo "app runs as $(whoami)"']
  web:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        configure:
          implementation: fabric.fabric_plugin.tasks.run_script
          inputs:
            script_path: scripts/configure.sh
            process: { env: { GREETING: hello } }
            SITE: docs${FABRIC_ENV}
        start:
          implementation: fabric.run_commands
          inputs:
            commands: ['echo one', 'echo two >&2']${FABRIC_ENV}
  service:
    type: weft.nodes.RemoteCommands
    relationships:
      - { type: cloudify.relationships.contained_in, target: vm }
    properties:
      start: ['echo service started']
outputs:
  configured:
    value: { get_attribute: [web, configured] }
`,
        {
          'configure.sh': [
            '#!/bin/sh',
            'echo "$GREETING from $SITE"',
            'ctx logger info "port $(ctx -j node id) ready"',
            'ctx instance runtime-properties configured "$SITE:$(ctx deployment id)"',
            '',
          ].join('\n'),
        },
      );
      const install = await installWithKey(blueprint, state, sshd.privateKey, '-d', 'ok', '--json');
      assert.equal(install.code, 0, install.stdout + install.stderr);
      const outputs = await weft(['outputs', '--json', '--state-dir', state]);
      assert.deepEqual(JSON.parse(outputs.stdout).outputs, { configured: 'docs:ok' });

      const all = await events(state);
      const messages = all.map((e) => e.message ?? '');
      for (const expected of [
        `app runs as ${sshd.user}`,
        'hello from docs',
        'port "web" ready',
        'Running command: echo one',
        'one',
        'two',
        'service started',
      ])
        assert.ok(messages.includes(expected), `no "${expected}" in:\n${messages.join('\n')}`);
      assert.equal(all.find((e) => e.message === 'two')?.level, 'warning');
      const text = JSON.stringify(all);
      const keyBody = sshd.privateKey.split('\n')[1] as string;
      assert.ok(!text.includes(keyBody), 'a line of the private key is in the events');
    });

    test('a failing command is retried, then fails with its status and stderr', async () => {
      const { blueprint, state } = project(
        `fails-${slug}`,
        `${HEADER}
node_templates:
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: fabric.fabric_plugin.tasks.run_commands
          inputs:
            commands: ['echo "no space left" >&2; exit 5']${FABRIC_ENV}
`,
      );
      const install = await installWithKey(
        blueprint,
        state,
        sshd.privateKey,
        '--task-retries',
        '1',
        '--task-retry-interval',
        '0',
      );
      assert.equal(install.code, 1, install.stdout + install.stderr);
      const output = install.stdout + install.stderr;
      assert.match(output, /exited with status 5; stderr ends with:\s+no space left/);
      const all = await events(state);
      assert.equal(all.filter((e) => e.message === 'no space left').length, 2, 'the command ran twice');
    });

    test('a key the server refuses fails at once; run_task says what to use instead', async () => {
      const { blueprint, state } = project(
        `badkey-${slug}`,
        `${HEADER}
node_templates:
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: fabric.fabric_plugin.tasks.run_commands
          inputs:
            commands: ['true']${FABRIC_ENV}
  legacy:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        configure:
          implementation: fabric.fabric_plugin.tasks.run_task
          inputs:
            tasks_file: scripts/haproxy.py
            task_name: configure${FABRIC_ENV}
`,
      );
      const install = await installWithKey(
        blueprint,
        state,
        sshd.strangerKey,
        '--task-retries',
        '3',
        '--task-retry-interval',
        '0',
      );
      assert.equal(install.code, 1);
      const all = await events(state);
      const text = JSON.stringify(all);
      assert.match(
        text,
        new RegExp(
          `SSH authentication failed for ${sshd.user}@127.0.0.1:${sshd.port} with the private key given`,
        ),
      );
      assert.match(text, /run_task runs a Python fabric task .*Weft cannot run/);
      assert.ok(!text.includes(sshd.strangerKey.split('\n')[1] as string));
    });
  });
