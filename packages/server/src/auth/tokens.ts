/**
 * API tokens: `weft_<id>_<secret>`. The id is public (lists and revocation name it); the secret is
 * 32 random bytes, kept only as its sha256, and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NewToken {
  id: string;
  /** The whole token, to give to its owner once. */
  token: string;
  secretHash: string;
}

const TOKEN = /^weft_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function newToken(): NewToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `weft_${id}_${secret}`, secretHash: sha256(secret) };
}

/** The id and secret of a token as given, or undefined when it is not one of ours. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const match = TOKEN.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

export function secretMatches(secretHash: string, secret: string): boolean {
  const given = Buffer.from(sha256(secret), 'hex');
  const stored = Buffer.from(secretHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}
