// Response translation: rules that copy values of a response (body, headers or cookies) into the
// results saved as runtime properties, in the three formats of Cloudify's REST plugin:
//
//   v1  a tree shaped like the response whose leaves are the destination paths:
//       {address: {city: [user-city]}} saves response.address.city as user-city;
//       [user] saves the whole response as user.
//   v2  [[response path, destination path], ...]; a list [key] in the response path walks every
//       element of a response list: [[[pages, [name]], [pages, [name]]]] saves each
//       response.pages[i].name as pages[i].name.
//   v3  {destination: response path}: a missing path saves null.
//
// `auto` (the default) is v2 when the rules look like v2, else v1.
import { isPrototypeKey, NonRecoverableError, prototypeKeyReason } from '@weft/sdk';

export type Value = unknown;
type Store = Record<string, Value>;
export type TranslationFormat = 'auto' | 'v1' | 'v2' | 'v3';

const isObject = (value: Value): value is Record<string, Value> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function describe(value: Value): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** `container[key]`, or a clear error naming the missing key. */
function step(container: Value, key: Value): Value {
  if (Array.isArray(container)) {
    const index = typeof key === 'number' ? key : Number(key);
    if (Number.isInteger(index) && index >= 0 && index < container.length) return container[index];
  } else if (isObject(container) && typeof key !== 'object' && Object.hasOwn(container, String(key))) {
    return container[String(key)];
  }
  throw new NonRecoverableError(
    `response_translation: no key or index ${JSON.stringify(key)} in ${describe(container)}`,
  );
}

/**
 * A key of a destination path, refused when it reaches the shared prototypes: the maps on the way
 * are walked and made, so `[__proto__, x]` would otherwise set `x` on every object of the process.
 */
function destinationKey(key: Value): string {
  const slot = String(key);
  if (isPrototypeKey(slot))
    throw new NonRecoverableError(`response_translation: ${prototypeKeyReason(slot)}`);
  return slot;
}

/** Sets `path` (keys and list indexes) in `store` to `value`, creating maps on the way. */
function save(store: Store, path: Value[], value: Value): void {
  let here: Value = store;
  path.forEach((key, i) => {
    const last = i === path.length - 1;
    const slot = destinationKey(key);
    if (Array.isArray(here)) {
      const index = Number(key);
      if (last) here[index] = value;
      else here = here[index] ??= {};
    } else if (isObject(here)) {
      if (last) here[slot] = value;
      else here = isObject(here[slot]) || Array.isArray(here[slot]) ? here[slot] : (here[slot] = {});
    }
  });
}

function translateV1(response: Value, rules: Value, store: Store): void {
  if (Array.isArray(rules)) {
    if (rules.length > 0 && rules.every((rule) => rule === null || typeof rule !== 'object')) {
      // A destination path: the response value here goes there.
      save(store, rules, response);
      return;
    }
    rules.forEach((rule, index) => {
      if (rule !== null && typeof rule === 'object') translateV1(step(response, index), rule, store);
    });
  } else if (isObject(rules)) {
    for (const [key, rule] of Object.entries(rules)) translateV1(step(response, key), rule, store);
  }
}

/** The destination of element `index` of a walked list: `[a, [b]]` -> `[a, index, b]`, `[a]` -> `[a, index]`. */
function elementPath(destination: Value[], index: number): Value[] {
  const last = destination.at(-1);
  return Array.isArray(last) ? [...destination.slice(0, -1), index, ...last] : [...destination, index];
}

/** Makes the list a walked response list fills: at the key before the inner list, or the last key. */
function prepareList(store: Store, destination: Value[], count: number): void {
  let here: Store = store;
  for (let i = 0; i < destination.length; i++) {
    const key = destinationKey(destination[i]);
    if (i === destination.length - 1 || Array.isArray(destination[i + 1])) {
      here[key] = Array.from({ length: count }, () => ({}));
      return;
    }
    here = (isObject(here[key]) ? here[key] : (here[key] = {})) as Store;
  }
}

function translateV2(response: Value, rules: Value[], store: Store): void {
  for (const rule of rules) {
    if (!Array.isArray(rule) || !Array.isArray(rule[0]) || !Array.isArray(rule[1]))
      throw new NonRecoverableError(
        `response_translation (v2): each rule is [response path, destination path], not ${describe(rule)}`,
      );
    const [source, destination] = rule as [Value[], Value[]];
    let value = response;
    let walked = false;
    for (let i = 0; i < source.length && !walked; i++) {
      const key = source[i];
      if (Array.isArray(key)) {
        if (!Array.isArray(value))
          throw new NonRecoverableError(
            `response_translation (v2): ${describe(value)} is not a list to walk with ${describe(key)}`,
          );
        prepareList(store, destination, value.length);
        const list = value;
        list.forEach((_, index) => {
          translateV2(
            list,
            [[[index, key[0], ...source.slice(i + 1)], elementPath(destination, index)]],
            store,
          );
        });
        walked = true;
      } else {
        value = step(value, key);
      }
    }
    if (!walked) save(store, destination, value);
  }
}

/** The value at `path`, or null when the response has no such path. */
function lookup(response: Value, path: Value): Value {
  let value = response;
  for (const key of Array.isArray(path) ? path : [path]) {
    try {
      value = step(value, key);
    } catch {
      return null;
    }
  }
  return value;
}

function translateV3(response: Value, rules: Value, store: Store): void {
  if (!isObject(rules))
    throw new NonRecoverableError(
      `response_translation (v3): expected a map of names to response paths, not ${describe(rules)}`,
    );
  for (const [name, path] of Object.entries(rules)) store[destinationKey(name)] = lookup(response, path);
}

function looksLikeV2(rules: Value): rules is Value[] {
  const first = Array.isArray(rules) ? rules[0] : undefined;
  return Array.isArray(first) && first.length === 2 && Array.isArray(first[0]) && Array.isArray(first[1]);
}

/** Applies `rules` (any format) to `response`, writing into `store`. No rules, nothing saved. */
export function translate(response: Value, rules: Value, store: Store, format: Value = 'auto'): void {
  if (rules === undefined || rules === null) return;
  if (format !== 'auto' && format !== 'v1' && format !== 'v2' && format !== 'v3')
    throw new NonRecoverableError(
      `translation_format must be auto, v1, v2 or v3, not ${JSON.stringify(format)}`,
    );
  if (format === 'v3') translateV3(response, rules, store);
  else if (format === 'v2' || (format === 'auto' && looksLikeV2(rules)))
    translateV2(response, Array.isArray(rules) ? rules : [rules], store);
  else translateV1(response, rules, store);
}
