/**
 * Keys that lead from plain data to the prototypes all objects share: a path or a map key naming
 * one, set on an ordinary object, changes every object of the process (prototype pollution).
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function isPrototypeKey(key: string): boolean {
  return PROTOTYPE_KEYS.has(key);
}

/** The one-line reason a key is refused, for messages that name where it was given. */
export function prototypeKeyReason(key: string): string {
  return `'${key}' cannot be a key: it would reach the prototype every object shares`;
}

/**
 * Sets `key` of `target` as its own property, whatever the key. `target[key] = value` with the
 * key "__proto__" (which JSON.parse and YAML readers give as an ordinary key) would replace the
 * target's prototype instead, losing the entry and lending its contents to every lookup of the
 * target; maps copied from data keep it as data, as the document had it.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
