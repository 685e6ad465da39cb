import { setOwn } from '@weft/sdk/keys';
import type { SecretReference } from './blueprint-types.js';
import { type Diagnostics, didYouMean, type Loc, nearest, shown } from './diagnostics.js';
import { type DslVersion, FEATURE_SINCE, type Feature, supports } from './versions.js';
import { isMapping, keyLocOf, locOf, type Value, type ValueMap } from './yaml-source.js';

/** Evaluated when planning whenever their arguments are known. */
const STATIC_FUNCTIONS = [
  'get_input',
  'get_property',
  'concat',
  'merge',
  'string_find',
  'string_replace',
  'string_split',
  'string_lower',
  'string_upper',
] as const;

/** Evaluated only at run time, from stored state. */
const RUNTIME_FUNCTIONS = [
  'get_attribute',
  'get_attributes_list',
  'get_attributes_dict',
  'get_secret',
  'get_capability',
  'get_group_capability',
  'get_environment_capability',
  'get_label',
  'get_sys',
  'get_consumers',
  // A HOT template's get_resource / get_attr and what is computed from them (hot/functions.ts).
  '$heat',
] as const;

export const FUNCTION_NAMES: readonly string[] = [...STATIC_FUNCTIONS, ...RUNTIME_FUNCTIONS];
const RUNTIME = new Set<string>(RUNTIME_FUNCTIONS);

const GATES: Record<string, Feature> = {
  concat: 'concat',
  merge: 'merge',
};

/** The function name when `value` is an intrinsic function call (`{get_input: port}`). */
export function functionName(value: Value | undefined): string | undefined {
  if (!isMapping(value)) return undefined;
  const keys = Object.keys(value);
  // Cloudify allows a `type` key beside the function name.
  if (keys.length === 2 && keys.includes('type')) {
    const other = keys[0] === 'type' ? keys[1]! : keys[0]!;
    return FUNCTION_NAMES.includes(other) ? other : undefined;
  }
  if (keys.length !== 1) return undefined;
  return FUNCTION_NAMES.includes(keys[0]!) ? keys[0] : undefined;
}

/** True when the value contains an intrinsic function call (of function `name`, when given) anywhere. */
export function hasCall(value: Value, name?: string): boolean {
  const fn = functionName(value);
  if (fn && (name === undefined || fn === name)) return true;
  if (Array.isArray(value)) return value.some((v) => hasCall(v, name));
  if (isMapping(value)) return Object.values(value).some((v) => hasCall(v, name));
  return false;
}

/** The names of the inputs that `get_input` calls in the value read (`{get_input: [name, key]}` reads `name`). */
export function inputsReadIn(value: Value): string[] {
  const fn = functionName(value);
  if (fn === 'get_input') {
    const arg = (value as ValueMap)[fn]!;
    const name = Array.isArray(arg) ? arg[0] : arg;
    return typeof name === 'string' ? [name] : inputsReadIn(name as Value);
  }
  if (Array.isArray(value)) return value.flatMap(inputsReadIn);
  if (isMapping(value)) return Object.values(value).flatMap(inputsReadIn);
  return [];
}

/** True when the value contains a call that can only be evaluated at run time. */
export function hasRuntimeCall(value: Value): boolean {
  const fn = functionName(value);
  if (fn) return RUNTIME.has(fn) || hasRuntimeCall((value as ValueMap)[fn]!);
  if (Array.isArray(value)) return value.some(hasRuntimeCall);
  if (isMapping(value)) return Object.values(value).some(hasRuntimeCall);
  return false;
}

/** Where a value is used decides which references are allowed in it. */
export type ScopeKind =
  | 'node-properties'
  | 'node-operation'
  | 'relationship'
  | 'relationship-operation'
  | 'outputs'
  | 'input-default'
  | 'instances'
  | 'policy'
  | 'other';

export interface FunctionScope {
  kind: ScopeKind;
  version: DslVersion;
  inputs: ReadonlySet<string>;
  nodes: ReadonlySet<string>;
  diagnostics: Diagnostics;
  /** Where the secrets named literally by get_secret calls are collected. */
  secrets?: Map<string, SecretReference>;
}

function isUnknownFunctionKey(key: string): boolean {
  if (FUNCTION_NAMES.includes(key)) return false;
  if (/^get_[a-z_]+$/.test(key)) return true;
  if (key.length < 5 || !/^[a-z_]+$/.test(key)) return false;
  // Only names sharing a first letter with a function can be a typo of one.
  const near = nearest(
    key,
    FUNCTION_NAMES.filter((name) => name[0] === key[0]),
  );
  return near !== undefined && key !== near;
}

/** Checks every function call inside `value`: known names, argument shapes and references. */
export function checkFunctions(
  value: Value,
  path: string,
  container: unknown,
  key: string | number,
  scope: FunctionScope,
  fallbackAt?: Loc,
): void {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries())
      checkFunctions(item, `${path}[${index}]`, value, index, scope);
    return;
  }
  if (!isMapping(value)) return;
  const keys = Object.keys(value);
  const fn = functionName(value);
  if (!fn) {
    if (keys.length === 1 && isUnknownFunctionKey(keys[0]!)) {
      scope.diagnostics.add(
        'unknown-function',
        keyLocOf(value, keys[0]!),
        path,
        `unknown function '${keys[0]}'${didYouMean(keys[0]!, FUNCTION_NAMES)}`,
      );
      return;
    }
    for (const k of keys) checkFunctions(value[k]!, `${path}.${k}`, value, k, scope);
    return;
  }
  // A HOT expression was checked by the HOT front end, in its own language.
  if (fn === '$heat') return;
  const at = locOf(container, key) ?? fallbackAt;
  const args = value[fn]!;
  const report = (message: string, code = 'bad-function') =>
    scope.diagnostics.add(code, at, path, `${fn}: ${message}`);
  const gate = GATES[fn];
  if (gate && !supports(scope.version, gate)) {
    report(`needs ${FEATURE_SINCE[gate]} or later (this blueprint is ${scope.version})`, 'version-gated');
    return;
  }
  const list = Array.isArray(args) ? args : undefined;
  switch (fn) {
    case 'get_input': {
      const first = list ? list[0] : args;
      // The input's name may itself be computed by a function.
      if (functionName(first)) break;
      const name = typeof first === 'string' ? first : undefined;
      if (name === undefined) {
        report('expected an input name, or a list [input name, key or index, ...]');
        break;
      }
      if (!scope.inputs.has(name)) {
        report(`input '${name}' is not declared${didYouMean(name, scope.inputs)}`, 'unknown-input');
      }
      break;
    }
    case 'get_property':
    case 'get_attribute': {
      if (!list || list.length < 2 || (typeof list[0] !== 'string' && !functionName(list[0]))) {
        report('expected a list [SELF|SOURCE|TARGET|node name, property, ...]');
        break;
      }
      if (typeof list[0] === 'string') checkEntity(list[0], scope, report);
      break;
    }
    case 'get_attributes_list':
    case 'get_attributes_dict': {
      if (!list || list.length < 2 || (typeof list[0] !== 'string' && !functionName(list[0])))
        report('expected a list [SELF|SOURCE|TARGET|node name, attribute, ...]');
      else if (typeof list[0] === 'string') checkEntity(list[0], scope, report);
      break;
    }
    case 'get_secret': {
      if (!(typeof args === 'string' || functionName(args) || (list && list.length > 1))) {
        report('expected a secret name, a function, or a list [secret name, key or index, ...]');
        break;
      }
      const name = typeof args === 'string' ? args : list?.[0];
      if (typeof name === 'string' && !scope.secrets?.has(name)) scope.secrets?.set(name, { name, at, path });
      break;
    }
    case 'get_label':
      if (list) {
        if (list.length !== 2) report('expected a label key, or a list [label key, value index]');
        else if (typeof list[0] !== 'string' && !functionName(list[0]))
          report('the label key must be a string or a function');
        else if (!(Number.isInteger(list[1]) || (typeof list[1] === 'string' && /^\d+$/.test(list[1]))))
          report('the value index must be a number');
      } else if (typeof args !== 'string' && !functionName(args))
        report('expected a label key, or a list [label key, value index]');
      break;
    case 'string_lower':
    case 'string_upper':
      if (typeof args !== 'string' && !functionName(args)) report('expected one string (or a function)');
      break;
    case 'concat':
      if (!list) report('expected a list of values to join');
      break;
    case 'merge':
      if (!list) report('expected a list of mappings to merge');
      else
        list.forEach((item, i) => {
          if (!isMapping(item)) report(`item ${i} is not a mapping`);
        });
      break;
    case 'get_capability':
    case 'get_group_capability':
      if (!list || list.length < 2)
        report(
          `expected a list [${fn === 'get_capability' ? 'deployment id' : 'group id'}, capability name, ...]`,
        );
      else checkPathItems(list, report, fn === 'get_group_capability' ? 1 : -1);
      break;
    case 'get_environment_capability':
      if (list) {
        if (list.length < 2)
          report('expected a capability name, or a list [capability name, key or index, ...]');
        else checkPathItems(list, report);
      } else if (typeof args !== 'string')
        report('expected a capability name, or a list [capability name, key or index, ...]');
      break;
    case 'get_consumers':
      if (typeof args !== 'string' || !['ids', 'names', 'count'].includes(args))
        report('expected one of ids, names, count');
      break;
    case 'string_find':
      if (!list || list.length !== 2) report('expected [haystack, needle]');
      else checkStringArgs(list, ['haystack', 'needle'], report);
      break;
    case 'string_replace':
      if (!list || list.length < 3 || list.length > 4)
        report('expected [haystack, needle, replacement, count?]');
      else checkStringArgs(list, ['haystack', 'needle', 'replacement', 'count'], report);
      break;
    case 'string_split':
      if (!list || list.length < 2 || list.length > 3) report('expected [string, separator, index?]');
      else checkStringArgs(list, ['string', 'separator', 'index'], report);
      break;
    case 'get_sys':
      if (!list || list.length < 2) report('expected [tenant|deployment, property]');
      else checkSys(list[0]!, list[1]!, report);
      break;
    default:
      break;
  }
  if (list) {
    for (const [index, item] of list.entries())
      checkFunctions(item, `${path}.${fn}[${index}]`, list, index, scope);
  } else checkFunctions(args, `${path}.${fn}`, value, fn, scope);
}

/** Items of a capability path are names, indexes or functions (`except` may be a list of keys). */
function checkPathItems(list: Value[], report: (message: string) => void, except = -1): void {
  const bad = list.findIndex(
    (item, i) =>
      !(i === except && Array.isArray(item)) &&
      typeof item !== 'string' &&
      typeof item !== 'number' &&
      !functionName(item),
  );
  if (bad >= 0) report(`item ${bad} must be a string, an integer or a function`);
}

/** The string functions' arguments: text, except the last two named (count, index), integers. */
function checkStringArgs(list: Value[], names: string[], report: (message: string) => void): void {
  list.forEach((item, i) => {
    if (functionName(item)) return;
    const wantsInteger = names[i] === 'count' || names[i] === 'index';
    if (wantsInteger ? !Number.isInteger(item) : typeof item !== 'string')
      report(`${names[i]} must be ${wantsInteger ? 'an integer' : 'a string'}, got ${JSON.stringify(item)}`);
  });
}

/** What get_sys can tell: the tenant's name and the deployment's id, name, blueprint and owner. */
const SYS_PROPERTIES: Record<string, string[]> = {
  tenant: ['name'],
  deployment: ['id', 'name', 'blueprint', 'owner'],
};

function checkSys(entity: Value, property: Value, report: (message: string) => void): void {
  if (functionName(entity)) return;
  const known = typeof entity === 'string' ? SYS_PROPERTIES[entity] : undefined;
  if (!known) report(`unknown entity ${JSON.stringify(entity)}; expected tenant or deployment`);
  else if (!functionName(property) && (typeof property !== 'string' || !known.includes(property)))
    report(`${entity} has no property ${JSON.stringify(property)}; expected one of ${known.join(', ')}`);
}

const SCOPE_WORDS: Record<ScopeKind, string> = {
  'node-properties': 'node properties',
  'node-operation': 'node operations',
  relationship: 'relationship properties',
  'relationship-operation': 'relationship operations (use SOURCE or TARGET)',
  outputs: 'outputs',
  'input-default': 'input defaults',
  instances: 'instance counts',
  policy: 'policies',
  other: 'this place',
};

function checkEntity(
  entity: string,
  scope: FunctionScope,
  report: (message: string, code?: string) => void,
): void {
  if (entity === 'SELF') {
    if (
      scope.kind === 'outputs' ||
      scope.kind === 'input-default' ||
      scope.kind === 'policy' ||
      scope.kind === 'relationship-operation' ||
      scope.kind === 'relationship'
    )
      report(`SELF cannot be used in ${SCOPE_WORDS[scope.kind]}`, 'bad-reference');
    return;
  }
  if (entity === 'SOURCE' || entity === 'TARGET') {
    if (scope.kind !== 'relationship-operation' && scope.kind !== 'relationship')
      report(`${entity} can only be used in relationship operations`, 'bad-reference');
    return;
  }
  if (!scope.nodes.has(entity))
    report(`node '${entity}' does not exist${didYouMean(entity, scope.nodes)}`, 'unknown-node');
}

/** A property looked up for get_property: its value, or why there is none. */
export type PropertyLookup = { value: Value } | 'missing-node' | 'missing' | 'cycle';

/** What static evaluation needs from its surroundings. */
export interface EvalEnv {
  /** An input's value; `unbound` when it is declared but only checking, without values (`weft validate`). */
  input(name: string): { value: Value } | 'unbound' | undefined;
  /** One evaluated property of a node template. */
  property(node: string, name: string): PropertyLookup;
  self?: string;
  source?: string;
  target?: string;
  report(message: string): void;
}

/** Follows a path of keys and indexes into a value. */
export function walkPath(value: Value, path: Value[]): { value: Value } | { missing: string } {
  let current: Value = value;
  const walked: string[] = [];
  for (const step of path) {
    walked.push(shown(step));
    if (Array.isArray(current) && typeof step === 'number') {
      if (step < 0 || step >= current.length) return { missing: walked.join('.') };
      current = current[step]!;
    } else if (
      isMapping(current) &&
      (typeof step === 'string' || typeof step === 'number') &&
      Object.hasOwn(current, String(step))
    ) {
      current = current[String(step)]!;
    } else {
      return { missing: walked.join('.') };
    }
  }
  return { value: current };
}

function toText(value: Value): string {
  if (typeof value === 'string') return value;
  if (value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Replaces every call that can be evaluated now; calls that need run-time state stay in place
 * (their arguments evaluated), and so do calls whose arguments depend on them.
 */
export function evaluateStatic(value: Value, env: EvalEnv): Value {
  if (Array.isArray(value)) return value.map((item) => evaluateStatic(item, env));
  if (!isMapping(value)) return value;
  const fn = functionName(value);
  if (!fn) {
    const out: ValueMap = {};
    for (const [k, v] of Object.entries(value)) {
      setOwn(out, k, evaluateStatic(v, env));
    }
    return out;
  }
  const rawArgs = value[fn]!;
  const args = evaluateStatic(rawArgs, env);
  // A call left in the arguments is known only at run time (or reads an unbound input).
  if (RUNTIME.has(fn) || hasCall(args)) return { [fn]: args };
  const list = Array.isArray(args) ? args : [args];
  switch (fn) {
    case 'get_input': {
      const [name, ...path] = list;
      const found = env.input(String(name));
      if (found === 'unbound') return { [fn]: args };
      if (!found) {
        env.report(`get_input: input '${shown(name)}' has no value`);
        return null;
      }
      const walked = walkPath(found.value, path);
      if ('missing' in walked) {
        env.report(`get_input: input '${shown(name)}' has no '${walked.missing}'`);
        return null;
      }
      return walked.value;
    }
    case 'get_property': {
      const [entity, first, ...path] = list;
      const node =
        entity === 'SELF'
          ? env.self
          : entity === 'SOURCE'
            ? env.source
            : entity === 'TARGET'
              ? env.target
              : String(entity);
      const found = node ? env.property(node, String(first)) : 'missing-node';
      if (found === 'cycle') return null;
      if (found === 'missing-node') {
        env.report(`get_property: cannot resolve '${shown(entity)}' here`);
        return null;
      }
      if (found === 'missing') {
        env.report(`get_property: node '${node}' has no property '${shown(first)}'`);
        return null;
      }
      if (path.length > 0 && hasCall(found.value)) return { [fn]: args };
      const walked = walkPath(found.value, path);
      if ('missing' in walked) {
        env.report(`get_property: node '${node}' has no property '${shown(first)}.${walked.missing}'`);
        return null;
      }
      return walked.value;
    }
    case 'concat':
      return list.map(toText).join('');
    case 'merge': {
      const out: ValueMap = {};
      for (const item of list)
        if (isMapping(item)) for (const [key, value] of Object.entries(item)) setOwn(out, key, value);
      return out;
    }
    case 'string_find':
      return toText(list[0] ?? '').indexOf(toText(list[1] ?? ''));
    case 'string_replace': {
      const [haystack, needle, replacement, count] = list.map((v, i) => (i === 3 ? v : toText(v ?? '')));
      const parts = String(haystack).split(String(needle));
      const limit = typeof count === 'number' && count >= 0 ? count : parts.length - 1;
      return parts.reduce(
        (acc, part, i) => (i === 0 ? part : acc + (i <= limit ? String(replacement) : String(needle)) + part),
        '',
      );
    }
    case 'string_split': {
      const parts = toText(list[0] ?? '').split(toText(list[1] ?? ''));
      if (list.length === 3) {
        const index = Number(list[2]);
        if (!Number.isInteger(index) || index < 0 || index >= parts.length) {
          env.report(`string_split: index ${String(list[2])} is out of range (${parts.length} parts)`);
          return null;
        }
        return parts[index]!;
      }
      return parts;
    }
    case 'string_lower':
      return toText(list[0] ?? '').toLowerCase();
    case 'string_upper':
      return toText(list[0] ?? '').toUpperCase();
    default:
      return { [fn]: args };
  }
}
