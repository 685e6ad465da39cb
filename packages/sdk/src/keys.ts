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
