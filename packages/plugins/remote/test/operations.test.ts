// The operations called directly with mockContext, against each SSH server of ssh-servers.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NonRecoverableError, OperationRetry, RecoverableError } from '@weft/sdk';
import { mockContext } from '@weft/testing';
import { RemoteCommandError, run_commands, run_script, run_task } from '../src/index.js';
import { freePort, SSH_SERVERS, type SshServer } from './ssh-servers.js';

let blueprintDir: string;

before(() => {
  blueprintDir = mkdtempSync(join(tmpdir(), 'weft-remote-bp-'));
});

after(() => {
  rmSync(blueprintDir, { recursive: true, force: true });
});

for (const kind of SSH_SERVERS)
  describe(kind.name, { skip: kind.skip }, () => {
    let sshd: SshServer;
    before(async () => {
      sshd = await kind.start();
    });
    after(async () => {
      await sshd?.stop();
    });

    function fabricEnv(extra: Record<string, string | number> = {}) {
      return { host_string: `127.0.0.1:${sshd.port}`, user: sshd.user, key: sshd.privateKey, ...extra };
    }

    describe('run_commands', { concurrency: true }, () => {
      test('runs the commands in order, logs their output and returns it', async () => {
        const ctx = mockContext({ blueprintDir });
        const returned = await run_commands(ctx, {
          commands: ['echo one; echo two', 'echo problem >&2; printf "%s" "$GREETING"'],
          fabric_env: { ...fabricEnv(), shell_env: { GREETING: 'hello world' } },
        });
        assert.deepEqual(returned, ['one\ntwo', 'hello world']);
        assert.deepEqual(ctx.mock.messages('info'), [
          'Running command: echo one; echo two',
          'one',
          'two',
          'Running command: echo problem >&2; printf "%s" "$GREETING"',
          'hello world',
        ]);
        assert.deepEqual(ctx.mock.messages('warning'), ['problem']);
      });

      test('a non-zero exit is recoverable and carries the status and the end of stderr', async () => {
        const ctx = mockContext({ blueprintDir });
        const error: unknown = await Promise.resolve(
          run_commands(ctx, {
            commands: ['echo fine', 'echo first >&2; echo "disk full" >&2; exit 3', 'echo never'],
            fabric_env: fabricEnv(),
          }),
        ).then(
          () => assert.fail('expected a failure'),
          (e: unknown) => e,
        );
        if (!(error instanceof RemoteCommandError)) throw error;
        assert.ok(error instanceof RecoverableError);
        assert.equal(error.exitCode, 3);
        assert.match(error.message, /exited with status 3; stderr ends with:\nfirst\ndisk full$/);
        assert.ok(!ctx.mock.messages().includes('never'));
      });

      test('exit codes named non-recoverable fail at once', async () => {
        const ctx = mockContext({ blueprintDir });
        await assert.rejects(
          async () =>
            run_commands(ctx, {
              commands: ['exit 7'],
              fabric_env: fabricEnv(),
              non_recoverable_error_exit_codes: [7],
            }),
          (e: unknown) => e instanceof NonRecoverableError && /status 7/.test(e.message),
        );
      });

      test('host and user come from the host node: ctx.instance.hostIp and agent_config', async () => {
        const ctx = mockContext({ blueprintDir, hostIp: '127.0.0.1' });
        ctx.host = {
          node: {
            id: 'vm',
            name: 'vm',
            type: 'cloudify.nodes.Compute',
            typeHierarchy: ['cloudify.nodes.Root', 'cloudify.nodes.Compute'],
            properties: {
              ip: '127.0.0.1',
              agent_config: { user: sshd.user, key: sshd.privateKey, port: sshd.port },
            },
          },
          instance: ctx.instance,
        };
        assert.deepEqual(await run_commands(ctx, { commands: ['whoami'] }), [sshd.user]);
      });

      test("a Loom provider's ssh-auth on the host instance (agent_config runtime property) wins over the node's", async () => {
        const ctx = mockContext({ blueprintDir, hostIp: '127.0.0.1' });
        ctx.host = {
          node: {
            id: 'vm',
            name: 'vm',
            type: 'cloudify.nodes.Compute',
            typeHierarchy: ['cloudify.nodes.Root', 'cloudify.nodes.Compute'],
            properties: { agent_config: { user: 'nobody-here', key: sshd.strangerKey, port: sshd.port } },
          },
          instance: {
            ...ctx.instance,
            runtimeProperties: { ip: '127.0.0.1', agent_config: { user: sshd.user, key: sshd.privateKey } },
          },
        };
        assert.deepEqual(await run_commands(ctx, { commands: ['whoami'] }), [sshd.user]);
      });

      test('a key the server does not know is a non-recoverable authentication failure that names no secret', async () => {
        const ctx = mockContext({ blueprintDir });
        await assert.rejects(
          async () =>
            run_commands(ctx, { commands: ['true'], fabric_env: fabricEnv({ key: sshd.strangerKey }) }),
          (e: unknown) =>
            e instanceof NonRecoverableError &&
            e.message ===
              `SSH authentication failed for ${sshd.user}@127.0.0.1:${sshd.port} with the private key given`,
        );
        await assert.rejects(
          async () =>
            run_commands(ctx, {
              commands: ['true'],
              fabric_env: {
                host: '127.0.0.1',
                port: sshd.port,
                user: sshd.user,
                password: 'not-the-password',
              },
            }),
          (e: unknown) =>
            e instanceof NonRecoverableError &&
            /authentication failed.*password/.test(e.message) &&
            !/not-the-password/.test(e.message),
        );
        await assert.rejects(
          async () => run_commands(ctx, { commands: ['true'], fabric_env: fabricEnv({ key: 'not a key' }) }),
          (e: unknown) => e instanceof NonRecoverableError && /private key .* cannot be used/.test(e.message),
        );
      });

      test('a host key that does not match the pinned fingerprint is non-recoverable', async () => {
        const ctx = mockContext({ blueprintDir });
        assert.deepEqual(
          await run_commands(ctx, {
            commands: ['echo pinned'],
            fabric_env: fabricEnv({ host_key_fingerprint: sshd.hostKeyFingerprint }),
          }),
          ['pinned'],
        );
        await assert.rejects(
          async () =>
            run_commands(ctx, {
              commands: ['true'],
              fabric_env: fabricEnv({ host_key_fingerprint: 'SHA256:wrong' }),
            }),
          (e: unknown) =>
            e instanceof NonRecoverableError &&
            e.message.includes(`is ${sshd.hostKeyFingerprint}, not fabric_env.host_key_fingerprint`),
        );
      });

      test('command_timeout ends a command that runs too long', async () => {
        const ctx = mockContext({ blueprintDir });
        await assert.rejects(
          async () =>
            run_commands(ctx, { commands: ['sleep 30'], fabric_env: fabricEnv({ command_timeout: 0.3 }) }),
          (e: unknown) => e instanceof RecoverableError && /did not finish within 0.3 s/.test(e.message),
        );
      });

      test('cancelling the operation closes the connection', async () => {
        const ctx = mockContext({ blueprintDir });
        // Cancelled once the command has said it started.
        const log = ctx.logger.info.bind(ctx.logger);
        const started = new Promise<void>((resolve) => {
          ctx.logger.info = (message, ...rest) => {
            log(message, ...rest);
            if (message === 'started') resolve();
          };
        });
        const running = run_commands(ctx, { commands: ['echo started; sleep 30'], fabric_env: fabricEnv() });
        await started;
        ctx.mock.abort();
        await assert.rejects(async () => running, /cancelled/);
      });
    });

    describe('run_script', { concurrency: true }, () => {
      test('uploads the script and runs it with inputs, process env, args and cwd; ctx calls back', async () => {
        writeFileSync(
          join(blueprintDir, 'configure.sh'),
          [
            '#!/bin/bash',
            'set -e',
            'echo "port=$PORT mode=$MODE tags=$TAGS args=$* cwd=$(pwd)"',
            'ctx logger info "from the script"',
            'ctx instance runtime-properties configured.by "$(ctx node properties owner)"',
            'ctx instance runtime-properties deployment "$(ctx deployment id)"',
            'ctx returns @\'{"ok": true}\'',
            '',
          ].join('\r\n'),
        );
        const ctx = mockContext({ blueprintDir, properties: { owner: 'ops' }, deploymentId: 'd1' });
        const returned = await run_script(ctx, {
          script_path: 'configure.sh',
          fabric_env: fabricEnv(),
          process: { env: { MODE: 'fast lane' }, args: ['a b', 'c'], cwd: '/tmp' },
          PORT: 8080,
          TAGS: ['x'],
        });
        assert.deepEqual(returned, { ok: true });
        assert.ok(
          ctx.mock.messages('info').includes('port=8080 mode=fast lane tags=["x"] args=a b c cwd=/tmp'),
          ctx.mock.messages().join('\n'),
        );
        assert.ok(ctx.mock.messages('info').includes('from the script'));
        assert.deepEqual(ctx.mock.runtimeProperties, { configured: { by: 'ops' }, deployment: 'd1' });
      });

      test('without ctx returns, the output is returned; ctx retry_operation and abort_operation end the operation', async () => {
        writeFileSync(join(blueprintDir, 'plain.sh'), 'echo plain output\n');
        writeFileSync(join(blueprintDir, 'retry.sh'), 'ctx retry_operation "not yet" @7\nexit 0\n');
        writeFileSync(join(blueprintDir, 'abort.sh'), 'ctx abort_operation "broken for good"\nexit 1\n');
        writeFileSync(join(blueprintDir, 'fail.sh'), 'echo "cannot continue" >&2\nexit 4\n');
        const env = { fabric_env: fabricEnv() };
        assert.equal(
          await run_script(mockContext({ blueprintDir }), { script_path: 'plain.sh', ...env }),
          'plain output',
        );
        const retried = mockContext({ blueprintDir });
        await assert.rejects(
          async () => run_script(retried, { script_path: 'retry.sh', ...env }),
          OperationRetry,
        );
        assert.deepEqual(retried.mock.retried, { message: 'not yet', afterSeconds: 7 });
        await assert.rejects(
          async () => run_script(mockContext({ blueprintDir }), { script_path: 'abort.sh', ...env }),
          (e: unknown) => e instanceof NonRecoverableError && e.message === 'broken for good',
        );
        await assert.rejects(
          async () => run_script(mockContext({ blueprintDir }), { script_path: 'fail.sh', ...env }),
          (e: unknown) =>
            e instanceof RemoteCommandError &&
            /script fail.sh .* status 4; stderr ends with:\ncannot continue/.test(e.message),
        );
        await assert.rejects(
          async () => run_script(mockContext({ blueprintDir }), { script_path: 'missing.sh', ...env }),
          (e: unknown) => e instanceof NonRecoverableError && /missing.sh is not a resource/.test(e.message),
        );
      });

      test('a server that refuses port forwarding gives the script a ctx that says why', async () => {
        writeFileSync(join(blueprintDir, 'uses-ctx.sh'), 'ctx instance id || exit 9\n');
        const ctx = mockContext({ blueprintDir });
        await assert.rejects(
          async () =>
            run_script(ctx, {
              script_path: 'uses-ctx.sh',
              fabric_env: fabricEnv({ host_string: `127.0.0.1:${sshd.noForwardPort}` }),
            }),
          (e: unknown) =>
            e instanceof RemoteCommandError &&
            e.exitCode === 9 &&
            /ctx is not available on this host: the SSH server refused to forward a port back .*AllowTcpForwarding/.test(
              e.message,
            ),
        );
      });
    });
  });

// What fails before any SSH server answers.
describe('without a server', { concurrency: true }, () => {
  const unusedCredentials = { host: '127.0.0.1', user: 'nobody', password: 'unused' };

  test('refused connections and connect timeouts are recoverable', async () => {
    const ctx = mockContext({ blueprintDir });
    const closedPort = await freePort();
    await assert.rejects(
      async () =>
        run_commands(ctx, {
          commands: ['true'],
          fabric_env: { ...unusedCredentials, host_string: `127.0.0.1:${closedPort}` },
        }),
      (e: unknown) => e instanceof RecoverableError && /ECONNREFUSED/.test(e.message),
    );
    // A server that accepts the connection but never speaks SSH.
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    try {
      await assert.rejects(
        async () =>
          run_commands(ctx, {
            commands: ['true'],
            fabric_env: { ...unusedCredentials, host_string: `127.0.0.1:${port}`, connect_timeout: 0.3 },
          }),
        (e: unknown) => e instanceof RecoverableError && /within 0.3 s \(connect_timeout\)/.test(e.message),
      );
      assert.ok(Date.now() - started < 3000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  test('bad inputs are one clear non-recoverable line', async () => {
    const ctx = mockContext({ blueprintDir });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ commands: 'ls' }, /^commands must be a list of command lines$/],
      [{ commands: ['ls'] }, /^no host to connect to/],
      [{ commands: ['ls'], fabric_env: { host: 'h' } }, /^no SSH user/],
      [{ commands: ['ls'], fabric_env: { host: 'h', user: 'u' } }, /^no SSH credentials/],
      [
        { commands: ['ls'], fabric_env: { host_string: 'h:99999', user: 'u', password: 'p' } },
        /port must be an integer/,
      ],
      [
        { commands: ['ls'], fabric_env: unusedCredentials, hide_output: ['nothing'] },
        /^hide_output must be a list of/,
      ],
    ];
    for (const [inputs, message] of cases)
      await assert.rejects(
        async () => run_commands(ctx, inputs as never),
        (e: unknown) => e instanceof NonRecoverableError && message.test(e.message),
      );
  });
});

test('run_task names the operations to use instead', async () => {
  await assert.rejects(
    async () => run_task(mockContext({}), { tasks_file: 'scripts/haproxy.py', task_name: 'configure' }),
    (e: unknown) =>
      e instanceof NonRecoverableError &&
      /task_name "configure" of tasks_file "scripts\/haproxy.py".*Weft cannot run: use fabric.fabric_plugin.tasks.run_commands .* run_script/.test(
        e.message,
      ),
  );
});
