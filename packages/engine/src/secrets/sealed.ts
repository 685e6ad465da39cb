import { setOwn } from '@weft/sdk';
import type { Json } from '../store/types.js';

/**
 * Runtime properties that hold a secret are stored sealed: each string in them that holds a
 * secret's text is kept as `weft:sealed:1:` and the base64 of that string encrypted with the
 * secret key. The executor opens them when it loads an execution, so operations (and
 * get_attribute) see the value they wrote; everything that shows stored state shows a sealed
 * string as the mask. A string is sealed, not a secret's occurrence in it, so what the operation
 * wrote comes back exactly.
 */
export const SEALED_PREFIX = 'weft:sealed:1:';

/** A sealed string wherever it appears in text (base64 after the prefix). */
export const SEALED_TEXT = /weft:sealed:1:[A-Za-z0-9+/]+=*/g;

export interface Sealer {
  seal(text: string): string;
  /** Throws when the text was sealed with another key. */
  open(sealed: string): string;
}

/** `value` with every string that `holdsSecret` sealed. */
export function sealStrings(value: Json, sealer: Sealer, holdsSecret: (text: string) => boolean): Json {
  if (typeof value === 'string') return holdsSecret(value) ? sealer.seal(value) : value;
  if (Array.isArray(value)) return value.map((v) => sealStrings(v, sealer, holdsSecret));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, sealStrings(v, sealer, holdsSecret));
    return out;
  }
  return value;
}

/** `value` with every sealed string opened. */
export function openStrings(value: Json, sealer: Sealer): Json {
  if (typeof value === 'string') return value.startsWith(SEALED_PREFIX) ? sealer.open(value) : value;
  if (Array.isArray(value)) return value.map((v) => openStrings(v, sealer));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, openStrings(v, sealer));
    return out;
  }
  return value;
}
