import type { Json } from '../store/types.js';

type Props = Record<string, Json>;

function same(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Top-level keys whose values differ between two versions of runtime properties, compared
 * deeply: a nested in-place change counts as a change of its top-level key.
 */
export function changedKeys(before: Props, after: Props): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => !same(before[k], after[k]));
}

/** `base` with the given keys taken from `changed` (a key missing there is deleted). */
export function applyChanges(base: Props, changed: Props, keys: string[]): Props {
  const out: Props = { ...base };
  for (const key of keys) {
    if (Object.hasOwn(changed, key)) out[key] = structuredClone(changed[key]!);
    else delete out[key];
  }
  return out;
}
