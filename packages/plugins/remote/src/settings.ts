// Turns a Cloudify `fabric_env` (plus the defaults Cloudify's fabric plugin takes from the host the
// node is contained in) into the settings of one SSH connection. Pure apart from reading
// `key_filename`, so every rule is testable without a server.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import type { Json, OperationContext } from '@weft/sdk';
import { NonRecoverableError } from '@weft/sdk';

/** How to log in: exactly one of a private key (PEM/OpenSSH text) or a password. */
export type Credentials =
  | { kind: 'key'; privateKey: string; passphrase?: string }
  | { kind: 'password'; password: string };

export interface ConnectionSettings {
  host: string;
  port: number;
  user: string;
  credentials: Credentials;
  /** Seconds allowed for the TCP connection and the SSH handshake together. */
  connectTimeout: number;
  /** Seconds one command may run, or undefined for no limit. */
  commandTimeout: number | undefined;
  /** `SHA256:...` as `ssh-keygen -l` prints it; the server's host key must match when given. */
  hostKeyFingerprint: string | undefined;
  /** Exported before every command (fabric_env.shell_env). */
  shellEnv: Record<string, string>;
  /** fabric_env.sudo_password, written to `sudo -S` when use_sudo is set. */
  sudoPassword: string | undefined;
}

/** fabric's default `connect_timeout`/`timeout`, in seconds. */
const DEFAULT_CONNECT_TIMEOUT = 10;

/** The part of the host node that supplies defaults, as Cloudify's Compute `agent_config` does. */
interface AgentConfig {
  user?: string;
  key?: string;
  password?: string;
  port?: number;
}

export interface HostString {
  user?: string;
  host: string;
  port?: number;
}

/** Parses fabric's `host_string`: `host`, `user@host`, `host:port`, `user@host:port`, `[v6]:port`. */
export function parseHostString(text: string): HostString {
  const trimmed = text.trim();
  const at = trimmed.lastIndexOf('@');
  const user = at > 0 ? trimmed.slice(0, at) : undefined;
  const rest = at >= 0 ? trimmed.slice(at + 1) : trimmed;
  let host = rest;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1] as string;
    portText = bracketed[2];
  } else if (rest.split(':').length === 2) {
    // One colon: host:port. More than one: a bare IPv6 address.
    [host, portText] = rest.split(':') as [string, string];
  }
  if (host === '') throw new NonRecoverableError(`fabric_env.host_string "${text}" names no host`);
  const parsed: HostString = { host };
  if (user) parsed.user = user;
  if (portText !== undefined) parsed.port = parsePort(portText, 'fabric_env.host_string');
  return parsed;
}

function parsePort(value: unknown, where: string): number {
  const port = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new NonRecoverableError(
      `${where}: the port must be an integer from 1 to 65535, not ${JSON.stringify(value)}`,
    );
  return port;
}

function seconds(value: unknown, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
    throw new NonRecoverableError(
      `${where} must be a positive number of seconds, not ${JSON.stringify(value)}`,
    );
  return n;
}

function optionalString(env: Record<string, Json>, key: string): string | undefined {
  const value = env[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new NonRecoverableError(`fabric_env.${key} must be a string`);
  return value;
}

function isRecord(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The host node's `agent_config` (or the older `cloudify_agent`), when the node runs on one, with
 * the host instance's `agent_config` runtime property laid over it: what a provider that made the
 * machine found out (a Loom provider's `ssh-auth`).
 */
function agentConfig(ctx: OperationContext): AgentConfig {
  const properties = ctx.host?.node.properties ?? {};
  const declared = properties.agent_config ?? properties.cloudify_agent;
  const found = ctx.host?.instance.runtimeProperties.agent_config;
  const config = { ...(isRecord(declared) ? declared : {}), ...(isRecord(found) ? found : {}) };
  const agent: AgentConfig = {};
  if (typeof config.user === 'string' && config.user !== '') agent.user = config.user;
  if (typeof config.key === 'string' && config.key !== '') agent.key = config.key;
  if (typeof config.password === 'string' && config.password !== '') agent.password = config.password;
  if (config.port !== undefined && config.port !== null)
    agent.port = parsePort(config.port, 'agent_config.port');
  return agent;
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

async function readKeyFile(path: string, where: string): Promise<string> {
  try {
    return await readFile(expandHome(path), 'utf8');
  } catch (error) {
    throw new NonRecoverableError(`${where}: cannot read the private key file ${path}`, { causes: [error] });
  }
}

/** Cloudify's agent_config.key holds either the key itself or the path of a key file. */
function looksLikeKeyText(value: string): boolean {
  return value.trimStart().startsWith('-----BEGIN');
}

async function credentialsOf(env: Record<string, Json>, agent: AgentConfig): Promise<Credentials> {
  const passphrase = optionalString(env, 'key_passphrase');
  const withPassphrase = (privateKey: string): Credentials =>
    passphrase === undefined ? { kind: 'key', privateKey } : { kind: 'key', privateKey, passphrase };
  // The order of Cloudify's fabric plugin: key, key_filename, password, then the agent's.
  const key = optionalString(env, 'key');
  if (key !== undefined) return withPassphrase(key);
  const keyFilename = optionalString(env, 'key_filename');
  if (keyFilename !== undefined)
    return withPassphrase(await readKeyFile(keyFilename, 'fabric_env.key_filename'));
  const password = optionalString(env, 'password');
  if (password !== undefined) return { kind: 'password', password };
  if (agent.key !== undefined)
    return withPassphrase(
      looksLikeKeyText(agent.key) ? agent.key : await readKeyFile(agent.key, 'agent_config.key'),
    );
  if (agent.password !== undefined) return { kind: 'password', password: agent.password };
  throw new NonRecoverableError(
    'no SSH credentials: set fabric_env.key, fabric_env.key_filename or fabric_env.password (or agent_config on the host node)',
  );
}

function shellEnvOf(env: Record<string, Json>): Record<string, string> {
  const shellEnv = env.shell_env;
  if (shellEnv === undefined || shellEnv === null) return {};
  if (!isRecord(shellEnv))
    throw new NonRecoverableError('fabric_env.shell_env must be a map of names to values');
  return Object.fromEntries(
    Object.entries(shellEnv).map(([name, value]) => [
      name,
      typeof value === 'string' ? value : JSON.stringify(value),
    ]),
  );
}

/** The connection settings for an operation's `fabric_env` input. */
export async function connectionSettings(
  ctx: OperationContext,
  fabricEnv: unknown,
): Promise<ConnectionSettings> {
  if (fabricEnv !== undefined && fabricEnv !== null && !isRecord(fabricEnv))
    throw new NonRecoverableError('fabric_env must be a map (host_string, user, key, ...)');
  const env: Record<string, Json> = fabricEnv ?? {};
  const agent = agentConfig(ctx);
  const hostString = optionalString(env, 'host_string');
  const parsed = hostString !== undefined ? parseHostString(hostString) : undefined;
  const host = optionalString(env, 'host') ?? parsed?.host ?? ctx.instance.hostIp;
  if (host === undefined)
    throw new NonRecoverableError(
      'no host to connect to: set fabric_env.host_string (or fabric_env.host), or contain the node in a Compute host with an ip',
    );
  const user = optionalString(env, 'user') ?? parsed?.user ?? agent.user;
  if (user === undefined)
    throw new NonRecoverableError('no SSH user: set fabric_env.user (or agent_config.user on the host node)');
  const port =
    env.port !== undefined && env.port !== null
      ? parsePort(env.port, 'fabric_env.port')
      : (parsed?.port ?? agent.port ?? 22);
  const connectTimeoutValue = env.connect_timeout ?? env.timeout;
  const connectTimeout =
    connectTimeoutValue === undefined || connectTimeoutValue === null
      ? DEFAULT_CONNECT_TIMEOUT
      : seconds(connectTimeoutValue, 'fabric_env.connect_timeout');
  const commandTimeout =
    env.command_timeout === undefined || env.command_timeout === null
      ? undefined
      : seconds(env.command_timeout, 'fabric_env.command_timeout');
  return {
    host,
    port,
    user,
    credentials: await credentialsOf(env, agent),
    connectTimeout,
    commandTimeout,
    hostKeyFingerprint: optionalString(env, 'host_key_fingerprint'),
    shellEnv: shellEnvOf(env),
    sudoPassword: optionalString(env, 'sudo_password'),
  };
}
