import type { Value } from '../dsl/yaml-source.js';
import type { Store } from '../store/types.js';
import { decryptSecret, encryptSecret } from './crypto.js';
import { SEALED_PREFIX, type Sealer } from './sealed.js';

/** What sealed runtime property values are bound to (the associated data of their encryption). */
const SEALED_PURPOSE = 'runtime property';

/** Secrets kept encrypted in the store; values are only ever decrypted in memory. */
export class Secrets {
  private keyBytes: Buffer | undefined;

  /** `key` may be a function: it is called when a secret is first encrypted or decrypted, not before. */
  constructor(
    private readonly store: Store,
    key: Buffer | (() => Buffer),
  ) {
    if (Buffer.isBuffer(key)) this.keyBytes = key;
    else this.loadKey = key;
  }

  private loadKey: (() => Buffer) | undefined;

  private get key(): Buffer {
    this.keyBytes ??= this.loadKey!();
    return this.keyBytes;
  }

  async set(name: string, value: string): Promise<void> {
    const existing = await this.store.getSecret(name);
    const at = new Date().toISOString();
    await this.store.putSecret({
      key: name,
      ciphertext: encryptSecret(this.key, name, value),
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
    });
  }

  async get(name: string): Promise<string | undefined> {
    const record = await this.store.getSecret(name);
    return record ? decryptSecret(this.key, name, record.ciphertext) : undefined;
  }

  list() {
    return this.store.listSecrets();
  }

  delete(name: string): Promise<boolean> {
    return this.store.deleteSecret(name);
  }

  /** Seals runtime property values that hold a secret with the secret key (see sealed.ts). */
  sealer(): Sealer {
    return {
      seal: (text) =>
        `${SEALED_PREFIX}${Buffer.from(encryptSecret(this.key, SEALED_PURPOSE, text)).toString('base64')}`,
      open: (sealed) =>
        decryptSecret(this.key, SEALED_PURPOSE, Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64')),
    };
  }

  /** Every secret, decrypted, with JSON values parsed (as get_secret reads them). */
  async all(): Promise<Map<string, Value>> {
    const out = new Map<string, Value>();
    for (const { key } of await this.store.listSecrets()) {
      const text = await this.get(key);
      if (text === undefined) continue;
      out.set(key, parseSecret(text));
    }
    return out;
  }
}

/** A secret whose text is JSON is read as that JSON, as Cloudify's get_secret does. */
export function parseSecret(text: string): Value {
  try {
    const parsed = JSON.parse(text) as Value;
    return parsed !== null && typeof parsed === 'object' ? parsed : text;
  } catch {
    return text;
  }
}
