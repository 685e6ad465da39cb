/**
 * HOT's intrinsic functions (heat/engine/hot/functions.py), evaluated in two passes. When a
 * template is loaded, everything that parameters, conditions and files decide is evaluated;
 * what needs a resource that exists (get_resource, get_attr, and any function whose arguments
 * hold them) is kept as a run-time expression `{$heat: EXPRESSION}`, which the engine evaluates
 * from stored state when an operation or an output needs it (evaluateRuntime).
 */
import { createHash } from 'node:crypto';
import { setOwn } from '@weft/sdk/keys';
import { pythonJson } from '@weft/sdk/python-text';
import { shown } from '../dsl/diagnostics.js';
import { isMapping, type Value, type ValueMap } from '../dsl/yaml-source.js';
import {
  CFN_FUNCTION_VERSIONS,
  CFN_FUNCTIONS,
  CONDITION_FUNCTION_SINCE,
  cfnFunctionAvailable,
  FUNCTION_SINCE,
  functionAvailable,
  type HotVersion,
  rank,
} from './versions.js';

/** The key of a run-time expression in a value the engine stores. */
export const RUNTIME_KEY = '$heat';

/** Where a value is: its dotted path, and the container and key it sits at (for positions). */
export interface Place {
  path: string;
  container: unknown;
  key: string | number | undefined;
}

/** An evaluation problem: a message and where it is. */
export class HotFunctionError extends Error {
  constructor(
    message: string,
    readonly place?: Place,
  ) {
    super(message);
  }
}

/** What evaluation reads from its surroundings. */
export interface HotScope {
  version: HotVersion;
  /** A parameter's value, undefined when there is no such parameter. */
  param(name: string): Value | undefined;
  /**
   * get_resource: the resource's id, or a run-time expression; null for a resource whose
   * condition is false. Throws HotFunctionError for an unknown resource.
   */
  resource(name: string): Value;
  /** get_attr: the attribute (path followed), or a run-time expression. */
  attr(name: string, attribute: string | undefined, path: Value[]): Value;
  /** A condition by name (true or false); throws for an unknown one. */
  condition(name: string): boolean;
  /** get_file: the file's text, relative to the template's directory. */
  file(path: string): string;
  /** resource_facade: the facade resource's metadata, deletion_policy or update_policy. */
  facade(kind: string): Value;
}

/** Elided by a two-argument `if` whose condition is false (2021-04-16). */
const ELIDED = Symbol('elided');
type Result = Value | typeof ELIDED;

export function isRuntime(value: Value): boolean {
  return isMapping(value) && Object.hasOwn(value, RUNTIME_KEY) && Object.keys(value).length === 1;
}

/** True when a run-time expression is anywhere in the value. */
export function holdsRuntime(value: Value): boolean {
  if (Array.isArray(value)) return value.some(holdsRuntime);
  if (!isMapping(value)) return false;
  if (isRuntime(value)) return true;
  for (const key in value) if (holdsRuntime(value[key]!)) return true;
  return false;
}

/** The value with its run-time expressions unwrapped (for nesting them in a bigger expression). */
function unwrap(value: Value): Value {
  if (Array.isArray(value)) return value.map(unwrap);
  if (!isMapping(value)) return value;
  if (isRuntime(value)) return value[RUNTIME_KEY]!;
  const out: ValueMap = {};
  for (const [k, v] of Object.entries(value)) setOwn(out, k, unwrap(v));
  return out;
}

/** All function names of any version, so that one from a later version is named as such. */
const ALL_FUNCTIONS = new Set([...Object.keys(FUNCTION_SINCE), 'equals', 'not', 'and', 'or']);

/** The function a one-key mapping calls, if its key names one. */
export function hotFunctionName(value: Value): string | undefined {
  if (!isMapping(value)) return undefined;
  let only: string | undefined;
  for (const key in value) {
    if (only !== undefined) return undefined;
    only = key;
  }
  if (only === undefined) return undefined;
  return ALL_FUNCTIONS.has(only) || CFN_FUNCTIONS.includes(only) ? only : undefined;
}

function child(place: Place, container: unknown, key: string | number): Place {
  return {
    path: typeof key === 'number' ? `${place.path}[${key}]` : `${place.path}.${key}`,
    container,
    key,
  };
}

/** Python's json.dumps(value, sort_keys=True), as Heat turns maps and lists into text. */
export function sortedJson(value: Value): string {
  const sorted = (v: Value): Value => {
    if (Array.isArray(v)) return v.map(sorted);
    if (!isMapping(v)) return v;
    const out: ValueMap = {};
    for (const key of Object.keys(v).sort()) setOwn(out, key, sorted(v[key]!));
    return out;
  };
  return pythonJson(sorted(value));
}

/** Python's equality, as `in` and `==` use it (1 == 1.0, True == 1). */
export function pyEqual(a: Value, b: Value): boolean {
  if (typeof a === 'boolean' || typeof b === 'boolean' || typeof a === 'number' || typeof b === 'number') {
    const num = (v: Value) => (typeof v === 'boolean' ? Number(v) : v);
    return num(a) === num(b);
  }
  if (Array.isArray(a) || Array.isArray(b))
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => pyEqual(x, b[i]!))
    );
  if (isMapping(a) && isMapping(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && pyEqual(a[k]!, b[k]!))
    );
  }
  return a === b;
}

/** Evaluates HOT functions in a value. Throws HotFunctionError at the first problem in it. */
export class HotEvaluator {
  constructor(private readonly scope: HotScope) {}

  /** Evaluates a value where functions may appear (properties, metadata, outputs). */
  value(value: Value, place: Place): Value {
    const result = this.eval(value, place);
    return result === ELIDED ? null : result;
  }

  /** Evaluates the value of a mapping's entry: undefined when a two-argument `if` leaves it out. */
  entry(value: Value, place: Place): Value | undefined {
    const result = this.eval(value, place);
    return result === ELIDED ? undefined : result;
  }

  /** Evaluates a condition: a name, a boolean or a condition function. */
  condition(value: Value, place: Place): boolean {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') return this.scope.condition(value);
    const fn = hotFunctionName(value);
    if (!fn)
      throw new HotFunctionError(
        `invalid condition ${shown(value)}: expected a condition name, true, false or a condition function`,
        place,
      );
    if (CFN_FUNCTIONS.includes(fn) || !Object.hasOwn(CONDITION_FUNCTION_SINCE, fn))
      throw new HotFunctionError(
        `'${fn}' is not a condition function (${Object.keys(CONDITION_FUNCTION_SINCE).join(', ')})`,
        place,
      );
    this.gate(fn, place, true);
    const args = (value as ValueMap)[fn]!;
    const at = child(place, value, fn);
    const list = (min: number, max: number): Value[] => {
      if (!Array.isArray(args) || args.length < min || args.length > max)
        throw new HotFunctionError(
          min === max
            ? `${fn} expects a list of ${min} items`
            : `${fn} expects a list of ${min} or more conditions`,
          at,
        );
      return args;
    };
    switch (fn) {
      case 'equals': {
        const [a, b] = list(2, 2).map((item, i) => this.conditionValue(item, child(at, args, i)));
        return pyEqual(a!, b!);
      }
      case 'not': {
        const arg = Array.isArray(args) ? list(1, 1)[0]! : args;
        return !this.condition(arg, at);
      }
      case 'and':
        return list(2, Number.POSITIVE_INFINITY).every((item, i) => this.condition(item, child(at, args, i)));
      case 'or':
        return list(2, Number.POSITIVE_INFINITY).some((item, i) => this.condition(item, child(at, args, i)));
      case 'contains': {
        const [needle, haystack] = list(2, 2).map((item, i) => this.conditionValue(item, child(at, args, i)));
        if (!Array.isArray(haystack) && typeof haystack !== 'string')
          throw new HotFunctionError('contains: the second argument must be a list', at);
        return typeof haystack === 'string'
          ? typeof needle === 'string' && haystack.includes(needle)
          : haystack.some((item) => pyEqual(item, needle!));
      }
      case 'get_param':
        return Boolean(this.getParam(args, at));
      default:
        return this.unsupported(fn, at);
    }
  }

  /** An argument of equals/contains: a literal, get_param, or a nested condition function. */
  private conditionValue(value: Value, place: Place): Value {
    const fn = hotFunctionName(value);
    if (!fn) return value;
    if (fn === 'get_param') {
      this.gate(fn, place, true);
      return this.getParam((value as ValueMap)[fn]!, child(place, value, fn));
    }
    return this.condition(value, place);
  }

  private gate(fn: string, place: Place, condition = false): void {
    if (CFN_FUNCTIONS.includes(fn)) {
      if (!condition && cfnFunctionAvailable(fn, this.scope.version)) return;
      const range = CFN_FUNCTION_VERSIONS[fn];
      const which = !range
        ? 'is not supported in HOT templates'
        : range[0] === range[1]
          ? `is only in heat_template_version ${range[0]} (this template is ${this.scope.version})`
          : `is only in heat_template_version ${range[0]} to ${range[1]} (this template is ${this.scope.version})`;
      throw new HotFunctionError(
        `the CloudFormation function '${fn}' ${which}; use ${cfnAlternative(fn)}`,
        place,
      );
    }
    if (!functionAvailable(fn, this.scope.version, condition)) {
      const first = (condition ? CONDITION_FUNCTION_SINCE : FUNCTION_SINCE)[fn];
      throw new HotFunctionError(
        first
          ? `${fn} needs heat_template_version ${first} or later (this template is ${this.scope.version})`
          : `${fn} cannot be used here`,
        place,
      );
    }
  }

  private unsupported(fn: string, place: Place): never {
    throw new HotFunctionError(
      `${fn}: YAQL expressions are not supported by Weft (no faithful YAQL implementation here); compute the value with the other functions (map_merge, list_concat, filter, repeat, str_replace, if)`,
      place,
    );
  }

  private eval(value: Value, place: Place): Result {
    if (Array.isArray(value)) {
      const out: Value[] = [];
      for (let i = 0; i < value.length; i++) {
        const item = this.eval(value[i]!, child(place, value, i));
        if (item !== ELIDED) out.push(item);
      }
      return out;
    }
    if (!isMapping(value)) return value;
    if (isRuntime(value)) return value;
    const fn = hotFunctionName(value);
    if (!fn) {
      const out: ValueMap = {};
      for (const key in value) {
        const item = this.eval(value[key]!, child(place, value, key));
        if (item !== ELIDED) setOwn(out, key, item);
      }
      return out;
    }
    if (fn === 'yaql' && functionAvailable(fn, this.scope.version)) this.unsupported(fn, place);
    if (['equals', 'not', 'and', 'or'].includes(fn))
      throw new HotFunctionError(`${fn} is a condition function: use it in conditions, or through if`, place);
    this.gate(fn, place);
    const raw = value[fn]!;
    const at = child(place, value, fn);
    switch (fn) {
      case 'if':
        return this.ifFunction(raw, at);
      case 'get_param':
        return this.getParam(raw, at);
      case 'get_resource': {
        const name = this.value(raw, at);
        if (holdsRuntime(name)) return this.defer(fn, name);
        if (typeof name !== 'string')
          throw new HotFunctionError(`get_resource expects a resource name, got ${shown(name)}`, at);
        return this.scope.resource(name);
      }
      case 'get_attr':
        return this.getAttr(raw, at);
      case 'get_file': {
        const path = this.value(raw, at);
        if (typeof path !== 'string')
          throw new HotFunctionError(`get_file expects a file path, got ${shown(path)}`, at);
        return this.scope.file(path);
      }
      case 'resource_facade': {
        if (typeof raw !== 'string' || !['metadata', 'deletion_policy', 'update_policy'].includes(raw))
          throw new HotFunctionError(
            'resource_facade expects one of metadata, deletion_policy, update_policy',
            at,
          );
        return this.scope.facade(raw);
      }
      case 'repeat':
        return this.repeat(raw, at);
      case 'Ref': {
        // A parameter's value, else a resource's id (Heat's cfn Ref).
        const name = this.value(raw, at);
        if (typeof name !== 'string')
          throw new HotFunctionError(`Ref expects a parameter or resource name, got ${shown(name)}`, at);
        return this.scope.param(name) !== undefined
          ? this.getParam(name, at)
          : this.eval({ get_resource: name }, place);
      }
      case 'Fn::ResourceFacade':
        return this.eval({ resource_facade: raw }, place);
    }
    const args = this.value(raw, at);
    if (holdsRuntime(args)) return this.defer(fn, args);
    return applyFunction(fn, args, this.scope.version, at);
  }

  private defer(fn: string, args: Value): Value {
    return { [RUNTIME_KEY]: { [fn]: unwrap(args) } };
  }

  private ifFunction(raw: Value, at: Place): Result {
    const nullable = rank(this.scope.version) >= rank('2021-04-16');
    const ok = Array.isArray(raw) && (raw.length === 3 || (nullable && raw.length === 2));
    if (!ok)
      throw new HotFunctionError(
        `if expects [condition, value_if_true${nullable ? ', optional value_if_false' : ', value_if_false'}]`,
        at,
      );
    const list = raw as Value[];
    const chosen = this.condition(list[0]!, child(at, list, 0)) ? 1 : 2;
    if (chosen === 2 && list.length === 2) return ELIDED;
    return this.eval(list[chosen]!, child(at, list, chosen));
  }

  private getParam(raw: Value, at: Place): Value {
    const args = this.value(raw, at);
    const [name, ...path] = Array.isArray(args) ? args : [args];
    if (typeof name !== 'string')
      throw new HotFunctionError(`get_param expects a parameter name, got ${shown(name)}`, at);
    const found = this.scope.param(name);
    if (found === undefined) throw new HotFunctionError(`unknown parameter '${name}'`, at);
    return followPath(found, path, `get_param ${name}`, at);
  }

  private getAttr(raw: Value, at: Place): Value {
    const args = this.value(raw, at);
    if (!Array.isArray(args) || args.length === 0)
      throw new HotFunctionError(
        'get_attr expects a list [resource name, attribute name, key or index, ...]',
        at,
      );
    const allAttributes = rank(this.scope.version) >= rank('2015-10-15');
    if (args.length === 1 && !allAttributes)
      throw new HotFunctionError(
        'get_attr expects [resource name, attribute name, ...] (get_attr with a resource name alone needs 2015-10-15 or later)',
        at,
      );
    if (holdsRuntime(args)) return this.defer('get_attr', args);
    const [name, attribute, ...path] = args;
    if (typeof name !== 'string')
      throw new HotFunctionError(`get_attr expects a resource name first, got ${shown(name)}`, at);
    if (attribute !== undefined && typeof attribute !== 'string')
      throw new HotFunctionError(`get_attr expects an attribute name second, got ${shown(attribute)}`, at);
    return this.scope.attr(name, attribute, path);
  }

  private repeat(raw: Value, at: Place): Value {
    if (!isMapping(raw))
      throw new HotFunctionError('repeat expects a mapping with for_each and template', at);
    if (!Object.hasOwn(raw, 'for_each') || !Object.hasOwn(raw, 'template'))
      throw new HotFunctionError(
        'repeat needs for_each (a mapping of placeholders to lists) and template',
        at,
      );
    const forEach = this.value(raw.for_each!, child(at, raw, 'for_each'));
    const permutations =
      raw.permutations === undefined ? true : this.value(raw.permutations, child(at, raw, 'permutations'));
    if (typeof permutations !== 'boolean')
      throw new HotFunctionError('repeat: permutations must be true or false', at);
    if (raw.permutations !== undefined && rank(this.scope.version) < rank('2017-09-01'))
      throw new HotFunctionError('repeat: permutations needs heat_template_version 2017-09-01 or later', at);
    if (holdsRuntime(forEach))
      return this.defer('repeat', { for_each: forEach, template: raw.template!, permutations });
    if (!isMapping(forEach)) throw new HotFunctionError('repeat: for_each must be a mapping', at);
    const template = raw.template!;
    // The template is evaluated after the placeholders are replaced (they may name parameters).
    const expanded = repeatValues(forEach, template, permutations, this.scope.version, at);
    return this.value(expanded, child(at, raw, 'template'));
  }
}

function cfnAlternative(fn: string): string {
  const map: Record<string, string> = {
    'Fn::Join': 'list_join',
    'Fn::Split': 'str_split',
    'Fn::Replace': 'str_replace',
    'Fn::Select': 'get_attr or get_param with a path',
    'Fn::GetAtt': 'get_attr',
    Ref: 'get_param or get_resource',
    'Fn::ResourceFacade': 'resource_facade',
    'Fn::Base64': 'the value itself',
    'Fn::GetAZs': 'a parameter',
    'Fn::MemberListToMap': 'map_merge and repeat',
  };
  return map[fn] ?? 'a HOT function';
}

/** Follows keys and indexes into a value (get_param and get_attr paths). */
export function followPath(value: Value, path: Value[], what: string, at?: Place): Value {
  let current = value;
  for (const step of path) {
    if (current === null) return null;
    if (Array.isArray(current)) {
      const index =
        typeof step === 'number' ? step : typeof step === 'string' && /^\d+$/.test(step) ? Number(step) : NaN;
      if (!Number.isInteger(index))
        throw new HotFunctionError(`${what}: path component ${shown(step)} is not an index into a list`, at);
      current = index >= 0 && index < current.length ? current[index]! : null;
    } else if (isMapping(current)) {
      if (typeof step !== 'string' && typeof step !== 'number')
        throw new HotFunctionError(`${what}: path component ${shown(step)} is not a key`, at);
      current = Object.hasOwn(current, String(step)) ? current[String(step)]! : null;
    } else throw new HotFunctionError(`${what}: cannot follow ${shown(step)} into ${shown(current)}`, at);
  }
  return current;
}

function repeatValues(
  forEach: ValueMap,
  template: Value,
  permutations: boolean,
  version: HotVersion,
  at: Place,
): Value[] {
  const keys = Object.keys(forEach);
  const lists: Value[][] = keys.map((key) => {
    const v = forEach[key]!;
    if (v === null) return [];
    if (Array.isArray(v)) return v;
    if (isMapping(v) && rank(version) >= rank('2016-10-14') && permutations) return Object.keys(v);
    throw new HotFunctionError(
      `repeat: the values of for_each must be lists${rank(version) >= rank('2016-10-14') ? ' or maps' : ''}`,
      at,
    );
  });
  let combos: Value[][];
  if (permutations) {
    combos = [[]];
    for (const list of lists) combos = combos.flatMap((combo) => list.map((item) => [...combo, item]));
  } else {
    if (new Set(lists.map((l) => l.length)).size > 1)
      throw new HotFunctionError(
        'repeat: for_each lists must be of the same length when permutations is false',
        at,
      );
    combos = (lists[0] ?? []).map((_, i) => lists.map((l) => l[i]!));
  }
  if (keys.length === 0) return [];
  return combos.map((combo) =>
    replaceIn(
      template,
      keys,
      combo.map((v) => (typeof v === 'string' ? v : String(v))),
    ),
  );
}

function replaceIn(template: Value, keys: string[], values: string[]): Value {
  if (typeof template === 'string') {
    let text = template;
    keys.forEach((key, i) => {
      text = text.split(key).join(values[i]!);
    });
    return text;
  }
  if (Array.isArray(template)) return template.map((t) => replaceIn(t, keys, values));
  if (isMapping(template)) {
    const out: ValueMap = {};
    for (const [k, v] of Object.entries(template))
      setOwn(out, replaceIn(k, keys, values) as string, replaceIn(v, keys, values));
    return out;
  }
  return template;
}

/** Functions that only transform their (already evaluated) arguments. */
export function applyFunction(fn: string, args: Value, version: HotVersion, at?: Place): Value {
  const fail = (message: string): never => {
    throw new HotFunctionError(`${fn}: ${message}`, at);
  };
  switch (fn) {
    case 'list_join': {
      if (!Array.isArray(args) || args.length < 2) return fail('expects [delimiter, list, ...]');
      const [delim, ...lists] = args;
      const multiple = rank(version) >= rank('2015-10-15');
      if (!multiple && lists.length > 1) fail('joins one list (several lists need 2015-10-15 or later)');
      if (typeof delim !== 'string') fail('the delimiter must be a string');
      const items: Value[] = [];
      for (const list of lists) {
        if (list === null || (Array.isArray(list) && list.length === 0)) continue;
        if (!Array.isArray(list)) fail('must operate on a list');
        items.push(...(list as Value[]));
      }
      return items
        .map((item) => {
          if (item === null) return '';
          if (typeof item === 'string') return item;
          if (multiple && (Array.isArray(item) || isMapping(item))) return sortedJson(item);
          return fail(
            `items to join must be strings${multiple ? ', maps or lists' : ''}, not ${shown(item)}`,
          );
        })
        .join(delim as string);
    }
    case 'str_replace':
    case 'str_replace_strict':
    case 'str_replace_vstrict':
      return strReplace(fn, args, version, fail);
    case 'Fn::Select':
      return select(args, fail);
    case 'Fn::Join':
      return applyFunction('list_join', args, version, at);
    case 'Fn::Split':
      if (!Array.isArray(args) || args.length !== 2) return fail('expects [delimiter, string]');
      return applyFunction('str_split', args, version, at);
    case 'Fn::Replace':
      // [{text: replacement, ...}, template]: str_replace's params and template.
      if (!Array.isArray(args) || args.length !== 2) return fail('expects [{text: replacement}, template]');
      return strReplace('str_replace', { template: args[1]!, params: args[0]! }, version, fail);
    case 'Fn::Base64':
      // Heat hands the text over as it is: the encoding is the cloud's (user data) to do.
      return typeof args === 'string' ? args : fail('the argument must be a string');
    case 'digest': {
      if (!Array.isArray(args) || args.length !== 2 || !args.every((a) => typeof a === 'string'))
        fail('expects [algorithm, value] (strings)');
      const [algorithm, text] = args as string[];
      const algorithms = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];
      if (!algorithms.includes(algorithm!)) fail(`the algorithm must be one of ${algorithms.join(', ')}`);
      return createHash(algorithm!).update(text!, 'utf8').digest('hex');
    }
    case 'str_split': {
      if (!Array.isArray(args) || args.length < 2 || args.length > 3)
        return fail('expects [delimiter, string, index?]');
      const [delim, text, index] = args;
      if (text === null) return null;
      if (typeof delim !== 'string' || typeof text !== 'string')
        return fail('the delimiter and the string must be strings');
      const parts = text.split(delim);
      if (index === undefined) return parts;
      const i = Number(index);
      if (!Number.isInteger(i)) return fail(`incorrect index ${shown(index)}`);
      const n = i < 0 ? parts.length + i : i;
      if (n < 0 || n >= parts.length)
        fail(`incorrect index ${i}: it should be between 0 and ${parts.length - 1}`);
      return parts[n]!;
    }
    case 'map_merge': {
      if (!Array.isArray(args)) return fail('expects a list of maps');
      const out: ValueMap = {};
      for (const item of args) {
        if (item === null) continue;
        if (!isMapping(item)) fail(`items to merge must be maps, not ${shown(item)}`);
        for (const [k, v] of Object.entries(item as ValueMap)) setOwn(out, k, v);
      }
      return out;
    }
    case 'map_replace': {
      if (!Array.isArray(args) || args.length !== 2)
        return fail('expects [map, {keys: {...}, values: {...}}]');
      const [input, replacements] = args.map((a) => (a === null ? {} : a));
      if (!isMapping(input) || !isMapping(replacements))
        return fail('expects [map, {keys: {...}, values: {...}}]');
      for (const key of Object.keys(replacements))
        if (key !== 'keys' && key !== 'values') fail(`unknown key '${key}': expected keys and values`);
      const keys = replacements.keys ?? {};
      const values = replacements.values ?? {};
      if (!isMapping(keys) || !isMapping(values)) return fail('keys and values must be maps');
      const out: ValueMap = {};
      for (const [k, v] of Object.entries(input)) {
        const replaced = Object.hasOwn(keys, k) && keys[k] !== null ? String(keys[k]) : k;
        if (replaced !== k && Object.hasOwn(input, replaced))
          fail(`key replacement ${replaced} collides with a key in the input map`);
        if (replaced !== k && Object.hasOwn(out, replaced))
          fail(`key replacement ${replaced} collides with a key in the output map`);
        const key =
          typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
        setOwn(out, replaced, key !== undefined && Object.hasOwn(values, key) ? values[key]! : v);
      }
      return out;
    }
    case 'filter': {
      if (!Array.isArray(args) || args.length !== 2) return fail('expects [values to remove, list]');
      const [remove, list] = args;
      if (list === null || (Array.isArray(list) && list.length === 0)) return list ?? null;
      if (!Array.isArray(list)) return fail('only works with lists');
      if (remove === null || (Array.isArray(remove) && remove.length === 0)) return list;
      if (!Array.isArray(remove)) return fail('filters a list of values');
      return list.filter((item) => !remove.some((r) => pyEqual(r, item)));
    }
    case 'make_url':
      return makeUrl(args, fail);
    case 'list_concat':
    case 'list_concat_unique': {
      if (!Array.isArray(args)) return fail('expects a list of lists');
      const out: Value[] = [];
      for (const item of args) {
        if (item === null) continue;
        if (!Array.isArray(item)) fail(`items to concat must be lists, not ${shown(item)}`);
        for (const v of item as Value[])
          if (fn === 'list_concat' || !out.some((o) => pyEqual(o, v))) out.push(v);
      }
      return out;
    }
    case 'contains': {
      if (!Array.isArray(args) || args.length !== 2) return fail('expects [value, sequence]');
      const [needle, haystack] = args;
      if (typeof haystack === 'string') return typeof needle === 'string' && haystack.includes(needle);
      if (!Array.isArray(haystack)) return fail('the second argument should be a sequence');
      return haystack.some((item) => pyEqual(item, needle!));
    }
    default:
      return fail('is not a function of this template version');
  }
}

/**
 * Fn::Select [index, list or map] (Heat's cfn Select): the item, or '' where there is none; a
 * list or map given as JSON text is read as one.
 */
function select(args: Value, fail: (message: string) => never): Value {
  if (!Array.isArray(args) || args.length !== 2) return fail('expects [index, collection]');
  const [index, given] = args;
  if (given === '') return '';
  let collection = given;
  if (typeof given === 'string') {
    try {
      collection = JSON.parse(given) as Value;
    } catch (error) {
      return fail((error as Error).message);
    }
  }
  if (isMapping(collection)) {
    if (typeof index !== 'string') return fail('the index into a map must be a string');
    return Object.hasOwn(collection, index) ? collection[index]! : '';
  }
  if (Array.isArray(collection)) {
    const i = typeof index === 'string' && /^\s*[-+]?\d+\s*$/.test(index) ? Number(index) : index;
    if (typeof i !== 'number' || !Number.isInteger(i))
      return fail('the index into a list must be an integer');
    // Python's indexing: -1 is the last item.
    const at = i < 0 ? collection.length + i : i;
    return at >= 0 && at < collection.length ? collection[at]! : '';
  }
  if (collection === null) return '';
  return fail('the collection must be a list or a map');
}

function strReplace(fn: string, args: Value, version: HotVersion, fail: (message: string) => never): Value {
  if (!isMapping(args) || !Object.hasOwn(args, 'template') || !Object.hasOwn(args, 'params'))
    return fail('expects a mapping with template and params');
  const { template, params } = args as { template: Value; params: Value };
  if (typeof template !== 'string') return fail('the template must be a string');
  if (!isMapping(params)) return fail('params must be a map');
  const json = rank(version) >= rank('2015-10-15');
  const strict = fn !== 'str_replace';
  const allowEmpty = fn !== 'str_replace_vstrict';
  const text = (key: string, value: Value): string => {
    const empty = () =>
      fail(`${fn} has an undefined or empty value for param ${key}, must be a defined non-empty value`);
    if (value === null) return allowEmpty ? '' : empty();
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      const out = typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value);
      return !allowEmpty && out === '' ? empty() : out;
    }
    if (!json) return fail('params must be strings or numbers');
    if (!allowEmpty && (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0))
      return empty();
    return sortedJson(value);
  };
  // Longer placeholders first; equal lengths in sorted order (Heat's order).
  const keys = Object.keys(params)
    .sort()
    .sort((a, b) => b.length - a.length);
  const unreplaced = new Set(keys);
  const replace = (strings: string[], remaining: string[]): string[] => {
    if (remaining.length === 0) return strings;
    const [key, ...rest] = remaining as [string, ...string[]];
    const value = text(key, params[key]!);
    return strings.map((s) => {
      const parts = s.split(key);
      if (parts.length > 1) unreplaced.delete(key);
      return replace(parts, rest).join(value);
    });
  };
  const result = replace([template], keys)[0]!;
  if (strict && unreplaced.size > 0)
    fail(`the following params were not found in the template: ${[...unreplaced].join(',')}`);
  return result;
}

function makeUrl(args: Value, fail: (message: string) => never): Value {
  if (!isMapping(args))
    return fail('expects a mapping (scheme, username, password, host, port, path, query, fragment)');
  const known = ['scheme', 'username', 'password', 'host', 'port', 'path', 'query', 'fragment'];
  for (const key of Object.keys(args)) if (!known.includes(key)) fail(`unknown argument '${key}'`);
  const str = (key: string): string => {
    const v = args[key];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string' && !(key === 'port' && typeof v === 'number'))
      fail(`the "${key}" argument must be a string`);
    return String(v);
  };
  const scheme = str('scheme');
  if (scheme.includes(':')) fail('URL "scheme" should not contain \':\'');
  const quote = (text: string, safe: string) =>
    [...new TextEncoder().encode(text)]
      .map((b) => {
        const c = String.fromCharCode(b);
        return /[A-Za-z0-9_.\-~]/.test(c) || safe.includes(c)
          ? c
          : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
      })
      .join('');
  let netloc = '';
  const username = quote(str('username'), '');
  const password = quote(str('password'), '');
  if (username || password) netloc += `${username}${password ? `:${password}` : ''}@`;
  let host = str('host');
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  host = quote(host, ':');
  netloc += host.includes(':') ? `[${host}]` : host;
  const port = str('port');
  if (port) {
    const n = Number(port);
    if (!/^\d+$/.test(port)) fail(`invalid URL port "${port}"`);
    if (n < 1 || n > 65535) fail(`invalid URL port ${n}, must be in range 1-65535`);
    netloc += `:${port}`;
  }
  const path = quote(str('path'), '/');
  const query = args.query;
  let queryText = '';
  if (query !== undefined && query !== null) {
    if (!isMapping(query)) fail('the "query" argument must be a map');
    queryText = Object.entries(query as ValueMap)
      .map(([k, v]) => `${quotePlus(k)}=${quotePlus(typeof v === 'string' ? v : String(v))}`)
      .join('&')
      .replace(/%2F/g, '/');
  }
  const fragment = quote(str('fragment'), '/');
  // Python's urlunsplit.
  let url = '';
  if (scheme) url += `${scheme}:`;
  if (netloc || scheme) url += `//${netloc}`;
  url += path && !path.startsWith('/') && netloc ? `/${path}` : path;
  if (queryText) url += `?${queryText}`;
  if (fragment) url += `#${fragment}`;
  return url;
}

function quotePlus(text: string): string {
  return [...new TextEncoder().encode(text)]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (c === ' ') return '+';
      return /[A-Za-z0-9_.\-~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** What a run-time expression reads: a resource's id and attributes, from stored state. */
export interface RuntimeResources {
  resourceId(name: string): Value;
  attribute(name: string, attribute: string | undefined): Value;
}

/** Evaluates a run-time expression (the `$heat` of a stored value) now. */
export function evaluateRuntime(expression: Value, version: HotVersion, resources: RuntimeResources): Value {
  const scope: HotScope = {
    version,
    param: () => undefined,
    resource: (name) => resources.resourceId(name),
    attr: (name, attribute, path) =>
      followPath(resources.attribute(name, attribute), path, `get_attr ${name}`),
    condition: () => {
      throw new HotFunctionError('conditions are decided when the template is loaded');
    },
    file: () => {
      throw new HotFunctionError('get_file is read when the template is loaded');
    },
    facade: () => null,
  };
  return new HotEvaluator(scope).value(expression, { path: '', container: undefined, key: undefined });
}

/** The nodes a stored value's run-time expressions read (get_resource, get_attr). */
export function runtimeReferences(value: Value, into = new Set<string>()): Set<string> {
  const walk = (v: Value, inExpression: boolean) => {
    if (Array.isArray(v)) {
      for (const item of v) walk(item, inExpression);
      return;
    }
    if (!isMapping(v)) return;
    for (const [key, item] of Object.entries(v)) {
      if (inExpression && key === 'get_resource' && typeof item === 'string') into.add(item);
      else if (inExpression && key === 'get_attr' && Array.isArray(item) && typeof item[0] === 'string')
        into.add(item[0]);
      walk(item, inExpression || key === RUNTIME_KEY);
    }
  };
  walk(value, false);
  return into;
}
