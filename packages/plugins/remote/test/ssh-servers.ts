// The SSH servers the plugin's tests run against, on loopback with throwaway keys:
// - ssh2's own server, which the test suite provides itself: it runs each command in the current
//   user's shell as a child process, forwards ports back (tcpip-forward), logs in by key only;
// - OpenSSH's sshd, when it is installed at /usr/sbin/sshd. When it is not, its suites are
//   skipped naming what is missing, unless WEFT_TEST_SSHD_REQUIRED=1 (CI), where that fails.
// Both have a second port on which port forwarding is refused.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server as NetServer, type Socket } from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2 from 'ssh2';

export interface SshServer {
  port: number;
  /** A port of the same server where port forwarding is refused. */
  noForwardPort: number;
  /** The user to log in as (the user running the tests). */
  user: string;
  /** The user's private key (OpenSSH format). */
  privateKey: string;
  /** A key the server does not know. */
  strangerKey: string;
  /** `SHA256:...` of the server's host key, as `ssh-keygen -l` prints it. */
  hostKeyFingerprint: string;
  stop(): Promise<void>;
}

export interface SshServerKind {
  name: string;
  /** Why the suites of this server are skipped, when they are. */
  skip: string | undefined;
  start(): Promise<SshServer>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface KeyPair {
  private: string;
  public: string;
}

function keyPair(): KeyPair {
  // ssh2's generator drops leading zero bytes of an ed25519 public key, which makes about one key
  // in 256 malformed (ssh2 1.17, keygen.js): such a key is drawn again.
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'weft-test' });
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}

/** The fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA... comment`). */
function fingerprintOf(publicLine: string): string {
  const blob = Buffer.from(publicLine.split(' ')[1] as string, 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

interface Keys {
  host: KeyPair;
  user: KeyPair;
  stranger: KeyPair;
}

function keys(): Keys {
  return { host: keyPair(), user: keyPair(), stranger: keyPair() };
}

function described(keys: Keys, port: number, noForwardPort: number, stop: () => Promise<void>): SshServer {
  return {
    port,
    noForwardPort,
    user: userInfo().username,
    privateKey: keys.user.private,
    strangerKey: keys.stranger.private,
    hostKeyFingerprint: fingerprintOf(keys.host.public),
    stop,
  };
}

/**
 * Bash run by sshd (or with a socket as its input, as Node's pipes are) sources the account's
 * ~/.bashrc unless it is a nested shell. That file belongs to this machine, not to what is tested
 * (here it runs `pyenv rehash`, which prints lock errors when commands run side by side), so both
 * servers start commands as a nested shell would be.
 */
const STARTUP_FILES_SKIPPED = '1';

// --- ssh2's server -------------------------------------------------------------------------------

/** Runs an exec request as `sshd` would without a terminal: `$SHELL -c COMMAND` in the home directory. */
function runCommand(command: string, channel: ssh2.ServerChannel, running: Set<ChildProcess>): ChildProcess {
  const { username, shell } = userInfo();
  // Its own process group, so that a signal or a closed channel reaches what the command started.
  const child = spawn(shell ?? '/bin/sh', ['-c', command], {
    cwd: homedir(),
    detached: true,
    env: {
      HOME: homedir(),
      USER: username,
      LOGNAME: username,
      SHELL: shell ?? '/bin/sh',
      PATH: process.env.PATH,
      SHLVL: STARTUP_FILES_SKIPPED,
    },
    stdio: 'pipe',
  });
  running.add(child);
  let open = true;
  channel.on('close', () => {
    open = false;
    killGroup(child, 'SIGKILL');
  });
  channel.pipe(child.stdin);
  child.stdin.on('error', () => {}); // a command that does not read its input
  child.stdout.on('data', (chunk: Buffer) => open && channel.write(chunk));
  child.stderr.on('data', (chunk: Buffer) => open && channel.stderr.write(chunk));
  child.on('close', (code, signal) => {
    running.delete(child);
    if (!open) return;
    if (signal !== null) channel.exit(signal.replace(/^SIG/, ''), false, '');
    else channel.exit(code ?? 255);
    channel.end();
  });
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Listens on the address a client asked for and hands every connection to it through the SSH connection. */
function forwardIn(
  client: ssh2.Connection,
  info: ssh2.TcpipBindInfo,
  listening: (port: number | undefined) => void,
): NetServer {
  const listener = createServer((socket: Socket) => {
    const port = (listener.address() as { port: number }).port;
    client.forwardOut(
      info.bindAddr,
      port,
      socket.remoteAddress ?? '',
      socket.remotePort ?? 0,
      (error, channel) => {
        if (error) {
          socket.destroy();
          return;
        }
        socket.on('error', () => channel.close());
        channel.on('error', () => socket.destroy());
        socket.pipe(channel).pipe(socket);
      },
    );
  });
  listener.once('error', () => listening(undefined));
  listener.listen(info.bindPort, info.bindAddr, () =>
    listening((listener.address() as { port: number }).port),
  );
  return listener;
}

/** What a test server has going, so that stopping it leaves nothing behind. */
interface Live {
  commands: Set<ChildProcess>;
  clients: Set<ssh2.Connection>;
}

function sshServer(keys: Keys, allowForwarding: boolean, live: Live, password?: string): ssh2.Server {
  const userKey = ssh2.utils.parseKey(keys.user.public);
  if (userKey instanceof Error) throw userKey;
  return new ssh2.Server({ hostKeys: [keys.host.private] }, (client) => {
    const listeners = new Map<number, NetServer>();
    live.clients.add(client);
    client.on('error', () => {});
    client.on('close', () => {
      live.clients.delete(client);
      for (const listener of listeners.values()) listener.close();
    });
    client.on('authentication', (auth) => {
      if (auth.method === 'password' && password !== undefined) {
        if (auth.username === userInfo().username && auth.password === password) auth.accept();
        else auth.reject();
        return;
      }
      if (auth.method !== 'publickey') {
        auth.reject(['publickey', 'password']);
        return;
      }
      const known =
        auth.username === userInfo().username &&
        auth.key.algo === userKey.type &&
        auth.key.data.equals(userKey.getPublicSSH()) &&
        (auth.signature === undefined ||
          userKey.verify(auth.blob as Buffer, auth.signature, auth.hashAlgo) === true);
      if (known) auth.accept();
      else auth.reject();
    });
    client.on('session', (acceptSession) => {
      const session = acceptSession();
      let child: ChildProcess | undefined;
      session.on('exec', (accept, _reject, info) => {
        child = runCommand(info.command, accept(), live.commands);
      });
      session.on('signal', (accept, _reject, info) => {
        accept?.();
        if (child) killGroup(child, `SIG${info.name}` as NodeJS.Signals);
      });
    });
    client.on('request', (accept, reject, name, info) => {
      if (name === 'cancel-tcpip-forward') {
        listeners.get(info.bindPort)?.close();
        listeners.delete(info.bindPort);
        accept?.();
      } else if (name === 'tcpip-forward' && allowForwarding) {
        const listener = forwardIn(client, info, (port) => {
          if (port === undefined) reject?.();
          else {
            listeners.set(port, listener);
            accept?.(port);
          }
        });
      } else reject?.();
    });
  });
}

/** ssh2's server; with `password`, the user logs in with that password too. */
export async function startSsh2Server(password?: string): Promise<SshServer> {
  const pair = keys();
  const live: Live = { commands: new Set(), clients: new Set() };
  const servers = [sshServer(pair, true, live, password), sshServer(pair, false, live, password)];
  const ports: number[] = [];
  for (const server of servers) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports.push((server.address() as { port: number }).port);
  }
  return described(pair, ports[0] as number, ports[1] as number, async () => {
    for (const child of live.commands) killGroup(child, 'SIGKILL');
    for (const client of live.clients) client.end();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });
}

// --- OpenSSH's sshd ------------------------------------------------------------------------------

const SSHD = '/usr/sbin/sshd';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startOpenSsh(): Promise<SshServer> {
  const pair = keys();
  const dir = mkdtempSync(join(tmpdir(), 'weft-sshd-'));
  // sshd refuses a host key that others can read.
  writeFileSync(join(dir, 'host_key'), pair.host.private, { mode: 0o600 });
  writeFileSync(join(dir, 'authorized_keys'), `${pair.user.public}\n`);
  const [port, noForwardPort] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `ListenAddress 127.0.0.1:${noForwardPort}`,
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PermitRootLogin yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      // The suites connect concurrently; past 10 connections still in their handshake, sshd's
      // default (MaxStartups 10:30:100) drops new ones at random ("Connection lost before handshake").
      'MaxStartups 1000',
      'AllowTcpForwarding yes',
      `SetEnv SHLVL=${STARTUP_FILES_SKIPPED}`,
      `Match LocalPort ${noForwardPort}`,
      '  AllowTcpForwarding no',
      '',
    ].join('\n'),
  );
  // Run as root, it needs its privilege separation directory, which Debian's package creates only
  // when the service starts (run as another user, it logs in only that user, without one).
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
  const child = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const deadline = Date.now() + 10_000;
  while (!((await accepts(port)) && (await accepts(noForwardPort)))) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${SSHD} did not start (exit ${child.exitCode}):\n${log}`);
    await sleep(20);
  }
  return described(pair, port, noForwardPort, async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
}

function openSshSkip(): string | undefined {
  if (existsSync(SSHD)) return undefined;
  const reason = `OpenSSH's sshd is not installed (no ${SSHD}; Debian: apt-get install openssh-server)`;
  if (process.env.WEFT_TEST_SSHD_REQUIRED === '1')
    throw new Error(`${reason}, and WEFT_TEST_SSHD_REQUIRED=1`);
  return reason;
}

export const SSH_SERVERS: SshServerKind[] = [
  { name: "ssh2's server", skip: undefined, start: () => startSsh2Server() },
  { name: 'OpenSSH sshd', skip: openSshSkip(), start: startOpenSsh },
];
