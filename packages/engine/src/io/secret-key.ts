import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyFromText, newKey, SecretKeyError } from '../secrets/crypto.js';

/**
 * The key secrets are encrypted with: WEFT_SECRET_KEY when set, else `secret.key` in the state
 * directory, created (mode 0600) the first time.
 */
export function loadSecretKey(stateDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.WEFT_SECRET_KEY !== undefined) return keyFromText(env.WEFT_SECRET_KEY);
  const path = join(stateDir, 'secret.key');
  try {
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new SecretKeyError(`${path} does not hold a 32-byte key (base64)`);
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = newKey();
  try {
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretKey(stateDir, env);
    throw error;
  }
}
