import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { WeftError } from '@weft/sdk';

const FORMAT = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class SecretKeyError extends WeftError {
  static override readonly code = 'secret_key';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/**
 * The 32-byte key from WEFT_SECRET_KEY: 64 hex digits or base64 of 32 bytes are used as they
 * are; any other text is a passphrase hashed to a key (SHA-256).
 */
export function keyFromText(text: string): Buffer {
  const trimmed = text.trim();
  if (trimmed === '') throw new SecretKeyError('WEFT_SECRET_KEY is empty');
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return Buffer.from(trimmed, 'hex');
  const decoded = Buffer.from(trimmed, 'base64');
  if (decoded.length === 32 && decoded.toString('base64').replace(/=+$/, '') === trimmed.replace(/=+$/, ''))
    return decoded;
  return createHash('sha256').update(trimmed, 'utf8').digest();
}

export function newKey(): Buffer {
  return randomBytes(32);
}

/** AES-256-GCM; the result holds a format byte, the nonce, the tag and the ciphertext. */
export function encryptSecret(key: Buffer, name: string, plain: string): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  // The secret's name is bound as associated data: a value cannot be moved to another name.
  cipher.setAAD(Buffer.from(name, 'utf8'));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT]), nonce, cipher.getAuthTag(), body]);
}

export function decryptSecret(key: Buffer, name: string, sealed: Uint8Array): string {
  const data = Buffer.from(sealed);
  if (data.length < 1 + NONCE_BYTES + TAG_BYTES || data[0] !== FORMAT) {
    throw new SecretKeyError(`secret '${name}' is not in a format this version of Weft reads`);
  }
  const nonce = data.subarray(1, 1 + NONCE_BYTES);
  const tag = data.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.from(name, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([
      decipher.update(data.subarray(1 + NONCE_BYTES + TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new SecretKeyError(
      `secret '${name}' cannot be decrypted: the secret key differs from the one it was stored with`,
    );
  }
}
