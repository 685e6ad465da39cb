import { setOwn } from '@weft/sdk';
import type { Json } from '../store/types.js';

/**
 * Runtime properties that hold a secret are stored sealed: each string in them that holds a
 * secret's text is kept as `weft:sealed:1:` and the base64 of that string encrypted with the
 * secret key. The executor opens them when it loads an execution, so operations (and
 * get_attribute) see the value they wrote; everything that shows stored state shows a sealed
 * string as the mask. A string is sealed, not a secret's occurrence in it, so what the operation
 * wrote comes back exactly. A value that is not a string (a deployment's sensitive number or
 * boolean) is sealed as its JSON, under `weft:sealed:json:1:`, and opens to the value it was.
 */
export const SEALED_PREFIX = 'weft:sealed:1:';
/** The prefix of a sealed value that is not a string: what follows is as after SEALED_PREFIX. */
export const SEALED_JSON_PREFIX = 'weft:sealed:json:1:';

/** A sealed value wherever it appears in text (base64 after the prefix). */
export const SEALED_TEXT = /weft:sealed:(?:json:)?1:[A-Za-z0-9+/]+=*/g;

export interface Sealer {
  /** `SEALED_PREFIX` and the base64 of the text encrypted. */
  seal(text: string): string;
  /** Throws when the text was sealed with another key. */
  open(sealed: string): string;
}

/** Whether a value is sealed (a string or not). */
export function isSealed(value: unknown): boolean {
  return (
    typeof value === 'string' && (value.startsWith(SEALED_PREFIX) || value.startsWith(SEALED_JSON_PREFIX))
  );
}

/** A value sealed whole: a string as a sealed string, any other JSON as sealed JSON. */
export function sealValue(value: Json, sealer: Sealer): string {
  if (typeof value === 'string') return sealer.seal(value);
  return `${SEALED_JSON_PREFIX}${sealer.seal(JSON.stringify(value)).slice(SEALED_PREFIX.length)}`;
}

/**
 * `value` with every string and number that `holdsSecret` tells holds a secret sealed. Booleans
 * and null are left: sealing every `true` would hide what is not secret, and where a type says
 * one is secret it is sealed by its place (sealValue).
 */
export function sealValues(
  value: Json,
  sealer: Sealer,
  holdsSecret: (value: string | number) => boolean,
): Json {
  if (typeof value === 'string' || typeof value === 'number')
    return holdsSecret(value) ? sealValue(value, sealer) : value;
  if (Array.isArray(value)) return value.map((v) => sealValues(v, sealer, holdsSecret));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, sealValues(v, sealer, holdsSecret));
    return out;
  }
  return value;
}

/**
 * `value` with every sealed value opened: a string to the string, sealed JSON to its value.
 * `opened` is told each string opened (for what must stay masked).
 */
export function openSealed(value: Json, sealer: Sealer, opened?: (text: string) => void): Json {
  if (typeof value === 'string') {
    if (value.startsWith(SEALED_JSON_PREFIX))
      return JSON.parse(sealer.open(`${SEALED_PREFIX}${value.slice(SEALED_JSON_PREFIX.length)}`)) as Json;
    if (!value.startsWith(SEALED_PREFIX)) return value;
    const text = sealer.open(value);
    opened?.(text);
    return text;
  }
  if (Array.isArray(value)) return value.map((v) => openSealed(v, sealer, opened));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, openSealed(v, sealer, opened));
    return out;
  }
  return value;
}
