/**
 * Servers the CLI can talk to, by name: `weft profiles add|use|list|remove`. Kept in the user's
 * config directory (WEFT_CONFIG_DIR, else $XDG_CONFIG_HOME/weft, else ~/.config/weft) in a file
 * only its owner can read, since it holds tokens. WEFT_SERVER and WEFT_TOKEN (and WEFT_TENANT)
 * choose a server without a profile. With neither, the CLI works on local state.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../output.js';

export interface Profile {
  url: string;
  token: string;
  /** The tenant to act in (the server's default for the user when absent). */
  tenant?: string;
}

export interface ProfilesFile {
  current?: string;
  profiles: Record<string, Profile>;
}

/** The server the CLI talks to, and where that choice came from (for messages). */
export interface Server extends Profile {
  name: string;
}

export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function configDir(): string {
  return (
    process.env.WEFT_CONFIG_DIR || join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'weft')
  );
}

const profilesPath = () => join(configDir(), 'profiles.json');

export function readProfiles(): ProfilesFile {
  const path = profilesPath();
  if (!existsSync(path)) return { profiles: {} };
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as ProfilesFile;
    return { ...(parsed.current ? { current: parsed.current } : {}), profiles: parsed.profiles ?? {} };
  } catch (error) {
    throw new UsageError(`${path}: not a profiles file (${(error as Error).message}); fix or remove it`);
  }
}

/** Written whole to a new file, then renamed over the old: never half-written, always 0600. */
export function writeProfiles(file: ProfilesFile): void {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = profilesPath();
  const next = `${path}.${process.pid}.tmp`;
  writeFileSync(next, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(next, 0o600);
  renameSync(next, path);
}

/** A server URL as given, checked and without a trailing slash or /api/v1. */
export function serverUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`'${text}' is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`'${text}': the server's URL starts with http:// or https://`);
  return url
    .toString()
    .replace(/\/+$/, '')
    .replace(/\/api\/v1$/, '');
}

/**
 * The server commands talk to: WEFT_SERVER (with WEFT_TOKEN), else the profile in use, else none
 * (local state).
 */
export function activeServer(): Server | undefined {
  const url = process.env.WEFT_SERVER;
  if (url) {
    const token = process.env.WEFT_TOKEN;
    if (!token) throw new UsageError('WEFT_SERVER is set but WEFT_TOKEN is not: set both, or neither');
    return { name: 'WEFT_SERVER', url: serverUrl(url), token, ...tenantOverride() };
  }
  const file = readProfiles();
  if (!file.current) return undefined;
  const profile = file.profiles[file.current];
  if (!profile)
    throw new UsageError(`the profile in use, '${file.current}', is gone: weft profiles use NAME (or local)`);
  return { name: file.current, ...profile, ...tenantOverride() };
}

function tenantOverride(): { tenant?: string } {
  return process.env.WEFT_TENANT ? { tenant: process.env.WEFT_TENANT } : {};
}

/**
 * Where a command acts: on the active server, unless it names local state (--state-dir or --db),
 * which always means the local store.
 */
export function serverFor(flags: { stateDir?: string; db?: string }): Server | undefined {
  if (flags.stateDir !== undefined || flags.db !== undefined) return undefined;
  return activeServer();
}

/**
 * For the commands that do not act on a server: refused while one is in use, rather than quietly
 * acting on local state the user did not mean.
 */
export function requireLocal(flags: { stateDir?: string; db?: string }, command: string): void {
  const server = serverFor(flags);
  if (server)
    throw new UsageError(
      `weft ${command} does not act on a server (${server.name === 'WEFT_SERVER' ? 'WEFT_SERVER is set' : `profile '${server.name}' is in use`}): give --state-dir to act on local state, or run weft profiles use local`,
    );
}
