import type { Json } from '../store/types.js';

const isMap = (value: unknown): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A private key's text (a key file's path is not a secret: it is shown, to say which key). */
const keyText = (value: unknown): value is string =>
  typeof value === 'string' && value.trimStart().startsWith('-----BEGIN');

/**
 * The credentials held in runtime properties by where they are, whatever operation wrote them: a
 * host's `agent_config` (or `cloudify_agent`) `password` and `key` text, which the script, fabric
 * and remote plugins connect with, and, at any depth, each `ssh-auth` object's `password` and
 * `identityfile` key text (what a Loom provider returns; kept in its results for later tasks).
 * They are secrets: sealed where stored, masked wherever shown.
 */
export function credentialsIn(runtimeProperties: Record<string, Json>): string[] {
  const found: string[] = [];
  const login = (value: Json | undefined, passwordKey: string, keyKey: string) => {
    if (!isMap(value)) return;
    const password = value[passwordKey];
    if (typeof password === 'string' && password !== '') found.push(password);
    if (keyText(value[keyKey])) found.push(value[keyKey]);
  };
  for (const name of ['agent_config', 'cloudify_agent']) login(runtimeProperties[name], 'password', 'key');
  const walk = (value: Json) => {
    if (Array.isArray(value)) for (const item of value) walk(item);
    else if (isMap(value))
      for (const [key, item] of Object.entries(value)) {
        if (key === 'ssh-auth') login(item, 'password', 'identityfile');
        walk(item);
      }
  };
  walk(runtimeProperties);
  return found;
}
