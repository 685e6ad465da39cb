// One SSH connection (ssh2) for the length of an operation: commands with streamed output, files
// written through a command's standard input, and a remote port forwarded back to a local one.
// Connection failures are sorted into what a retry can fix (refused, timed out) and what it
// cannot (authentication, host key), and no message ever carries a credential.
import { createHash } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { NonRecoverableError, RecoverableError } from '@weft/sdk';
import ssh2 from 'ssh2';
import type { ConnectionSettings } from './settings.js';
import { quote } from './shell.js';

/** What a finished command left behind. */
export interface CommandResult {
  /** null when the command was ended by a signal. */
  exitCode: number | null;
  signal: string | undefined;
  /** Standard output, up to {@link MAX_KEPT_OUTPUT} characters (the start is kept). */
  stdout: string;
  /** The last lines of standard error, for error messages. */
  stderrTail: string;
}

export interface ExecOptions {
  /** Written to the command's standard input, which is then closed. */
  stdin?: string | Buffer;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Seconds before the command is given up (its channel closed). */
  timeout?: number | undefined;
}

const MAX_KEPT_OUTPUT = 1024 * 1024;
const STDERR_TAIL_LINES = 20;
const STDERR_TAIL_CHARS = 2000;

/** Splits a byte stream into lines (UTF-8 safe across chunks). */
class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: Buffer): string {
    const text = this.decoder.write(chunk);
    const lines = (this.pending + text).split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.onLine(line.replace(/\r$/, ''));
    return text;
  }
  end(): string {
    const text = this.decoder.end();
    const last = this.pending + text;
    this.pending = '';
    if (last !== '') this.onLine(last.replace(/\r$/, ''));
    return text;
  }
}

/** `SHA256:<base64>` of a host key blob, as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function cancelled(): Error {
  return new Error('the operation was cancelled; the SSH connection was closed');
}

export class SshSession {
  private closed = false;
  private readonly forwards = new Map<number, number>();
  /** How to end each command in progress when the connection is closed. */
  private readonly running = new Set<() => void>();

  private constructor(
    private readonly client: ssh2.Client,
    readonly where: string,
  ) {
    client.on('tcp connection', (info, accept, reject) => {
      const localPort = this.forwards.get(info.destPort);
      if (localPort === undefined) {
        reject();
        return;
      }
      const channel = accept();
      const socket = tcpConnect(localPort, '127.0.0.1');
      channel.on('error', () => socket.destroy());
      socket.on('error', () => channel.close());
      channel.pipe(socket).pipe(channel);
    });
    // After the handshake, a broken connection fails the command in progress (its channel closes).
    client.on('error', () => {});
  }

  /** Connects and authenticates; closes the connection when `signal` fires. */
  static open(settings: ConnectionSettings, signal: AbortSignal): Promise<SshSession> {
    const where = `${settings.user}@${settings.host}:${settings.port}`;
    const client = new ssh2.Client();
    let hostKeyProblem: string | undefined;
    return new Promise<SshSession>((resolve, reject) => {
      if (signal.aborted) {
        reject(cancelled());
        return;
      }
      let settled = false;
      const settle = (error: Error | undefined) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (error) {
          client.end();
          reject(error);
          return;
        }
        const session = new SshSession(client, where);
        signal.addEventListener('abort', () => session.close(), { once: true });
        resolve(session);
      };
      const onAbort = () => settle(cancelled());
      signal.addEventListener('abort', onAbort, { once: true });
      client.on('ready', () => settle(undefined));
      client.on('error', (error: Error & { level?: string }) => {
        settle(connectionError(error, where, settings, hostKeyProblem));
      });
      client.on('close', () =>
        settle(new RecoverableError(`the SSH connection to ${where} closed during login`)),
      );
      const expected = settings.hostKeyFingerprint;
      const auth =
        settings.credentials.kind === 'key'
          ? { privateKey: settings.credentials.privateKey, passphrase: settings.credentials.passphrase }
          : { password: settings.credentials.password };
      try {
        client.connect({
          host: settings.host,
          port: settings.port,
          username: settings.user,
          ...auth,
          readyTimeout: Math.round(settings.connectTimeout * 1000),
          keepaliveInterval: 15_000,
          // Cloudify's fabric plugin accepts any host key (disable_known_hosts); a fingerprint pins it.
          hostVerifier: (key: Buffer) => {
            if (expected === undefined) return true;
            const actual = fingerprint(key);
            if (actual === expected) return true;
            hostKeyProblem = `the host key of ${settings.host}:${settings.port} is ${actual}, not fabric_env.host_key_fingerprint ${expected}`;
            return false;
          },
        });
      } catch (error) {
        // ssh2 parses the key before connecting; its message names the problem, never the key.
        const detail = error instanceof Error ? error.message : String(error);
        settle(new NonRecoverableError(`the SSH private key for ${where} cannot be used: ${detail}`));
      }
    });
  }

  /** Runs `command` in the remote user's shell; output is handed over line by line as it arrives. */
  exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(cancelled());
        return;
      }
      this.client.exec(command, (error, channel) => {
        if (error) {
          reject(new RecoverableError(`cannot start a command on ${this.where}: ${error.message}`));
          return;
        }
        let stdout = '';
        const stderrLines: string[] = [];
        let exitCode: number | null = null;
        let exitSignal: string | undefined;
        let settled = false;
        const settle = (error: Error | undefined) => {
          if (settled) return;
          settled = true;
          if (timer) clearTimeout(timer);
          this.running.delete(onClosed);
          if (error) reject(error);
          else
            resolve({
              exitCode,
              signal: exitSignal,
              stdout,
              stderrTail: stderrLines.join('\n').slice(-STDERR_TAIL_CHARS),
            });
        };
        // The connection closing (a cancel) ends the command without waiting for the server.
        const onClosed = () => settle(cancelled());
        this.running.add(onClosed);
        const out = new LineSplitter((line) => options.onStdoutLine?.(line));
        const err = new LineSplitter((line) => {
          stderrLines.push(line);
          if (stderrLines.length > STDERR_TAIL_LINES) stderrLines.shift();
          options.onStderrLine?.(line);
        });
        const keep = (text: string) => {
          if (stdout.length < MAX_KEPT_OUTPUT) stdout += text.slice(0, MAX_KEPT_OUTPUT - stdout.length);
        };
        const timer =
          options.timeout === undefined
            ? undefined
            : setTimeout(() => {
                // sshd keeps a channel open while its command runs: ask for a kill, and do not wait.
                channel.signal('KILL');
                channel.close();
                settle(
                  new RecoverableError(
                    `the command on ${this.where} did not finish within ${options.timeout} s`,
                  ),
                );
              }, options.timeout * 1000);
        channel.on('data', (chunk: Buffer) => keep(out.push(chunk)));
        channel.stderr.on('data', (chunk: Buffer) => err.push(chunk));
        channel.on('exit', (code: number | null, signalName?: string) => {
          exitCode = code;
          exitSignal = signalName;
        });
        channel.on('close', () => {
          keep(out.end());
          err.end();
          settle(undefined);
        });
        channel.end(options.stdin);
      });
    });
  }

  /** Writes `content` to `path` on the remote host, readable only by the remote user. */
  async writeFile(path: string, content: string | Buffer, mode: '600' | '700'): Promise<void> {
    const result = await this.exec(`umask 077 && cat > ${quote(path)} && chmod ${mode} ${quote(path)}`, {
      stdin: content,
    });
    if (result.exitCode !== 0)
      throw new RecoverableError(
        `cannot write ${path} on ${this.where}: ${result.stderrTail || `exit status ${result.exitCode}`}`,
      );
  }

  /**
   * Asks the server to listen on a free loopback port of the remote host and to forward every
   * connection made to it to `localPort` on this machine; returns the remote port.
   */
  forwardToLocal(localPort: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.client.forwardIn('127.0.0.1', 0, (error, remotePort) => {
        if (error) reject(error);
        else {
          this.forwards.set(remotePort, localPort);
          resolve(remotePort);
        }
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const end of [...this.running]) end();
    this.client.end();
  }
}

function connectionError(
  error: Error & { level?: string; code?: string },
  where: string,
  settings: ConnectionSettings,
  hostKeyProblem: string | undefined,
): Error {
  if (hostKeyProblem !== undefined) return new NonRecoverableError(hostKeyProblem);
  switch (error.level) {
    case 'client-authentication':
      return new NonRecoverableError(
        `SSH authentication failed for ${where} with the ${settings.credentials.kind === 'key' ? 'private key' : 'password'} given`,
      );
    case 'client-timeout':
      return new RecoverableError(
        `no SSH connection to ${where} within ${settings.connectTimeout} s (connect_timeout)`,
      );
    case 'client-socket':
      return new RecoverableError(`cannot connect to ${where}: ${error.message}`);
    default:
      return new RecoverableError(`the SSH connection to ${where} failed: ${error.message}`);
  }
}
