import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import type { Diagnostics } from './diagnostics.js';
import { didYouMean } from './diagnostics.js';
import { functionName } from './functions.js';
import { type DslVersion, FEATURE_SINCE, supports } from './versions.js';
import { isMapping, keyLocOf, locOf, type Value } from './yaml-source.js';

/** One parsed constraint: `test` returns a problem description, or undefined when the value passes. */
export interface Constraint {
  name: ConstraintName;
  argument: Value;
  test(value: Value): string | undefined;
}

export const CONSTRAINT_NAMES = [
  'equal',
  'greater_than',
  'greater_or_equal',
  'less_than',
  'less_or_equal',
  'in_range',
  'valid_values',
  'length',
  'min_length',
  'max_length',
  'pattern',
  'filter_id',
  'labels',
  'tenants',
  'name_pattern',
  'deployment_id',
] as const;

export type ConstraintName = (typeof CONSTRAINT_NAMES)[number];

function show(value: Value): string {
  return JSON.stringify(value);
}

function comparable(value: Value): value is number | string {
  return typeof value === 'number' || typeof value === 'string';
}

function sizeOf(value: Value): number | undefined {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (isMapping(value)) return Object.keys(value).length;
  return undefined;
}

function deepEqual(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

type Builder = (arg: Value) => { error?: string; test?: (value: Value) => string | undefined };

function compare(op: string, ok: (a: number | string, b: number | string) => boolean): Builder {
  return (arg) => {
    if (!comparable(arg)) return { error: `${op} needs a number or string` };
    return {
      test: (value) => {
        if (!comparable(value) || typeof value !== typeof arg)
          return `${show(value)} cannot be compared with ${show(arg)}`;
        return ok(value, arg) ? undefined : `${show(value)} is not ${op.replace(/_/g, ' ')} ${show(arg)}`;
      },
    };
  };
}

function lengthRule(label: string, ok: (size: number, n: number) => boolean): Builder {
  return (arg) => {
    if (typeof arg !== 'number' || !Number.isInteger(arg) || arg < 0)
      return { error: 'needs a non-negative integer' };
    return {
      test: (value) => {
        const size = sizeOf(value);
        if (size === undefined) return `${show(value)} has no length`;
        return ok(size, arg) ? undefined : `length of ${show(value)} is ${size}, ${label} ${arg}`;
      },
    };
  };
}

/**
 * Cloudify's constraints on object-type inputs (a deployment id, a node id...) that pick among
 * a manager's objects: Weft checks their argument and has no such objects to filter.
 */
function managerFilter(what: string, ok: (arg: Value) => boolean): Builder {
  return (arg) => (ok(arg) ? { test: () => undefined } : { error: `needs ${what}` });
}

const BUILDERS: Record<ConstraintName, Builder> = {
  filter_id: managerFilter('a filter id (a string)', (arg) => typeof arg === 'string'),
  labels: managerFilter('a list of labels', Array.isArray),
  tenants: managerFilter('a list of tenant names', Array.isArray),
  name_pattern: managerFilter('a mapping (contains, starts_with, ends_with, equals_to)', isMapping),
  deployment_id: managerFilter('a deployment id (a string)', (arg) => typeof arg === 'string'),
  equal: (arg) => ({
    test: (value) => (deepEqual(value, arg) ? undefined : `${show(value)} is not equal to ${show(arg)}`),
  }),
  greater_than: compare('greater_than', (a, b) => a > b),
  greater_or_equal: compare('greater_or_equal', (a, b) => a >= b),
  less_than: compare('less_than', (a, b) => a < b),
  less_or_equal: compare('less_or_equal', (a, b) => a <= b),
  in_range: (arg) => {
    if (!Array.isArray(arg) || arg.length !== 2 || !arg.every(comparable) || typeof arg[0] !== typeof arg[1])
      return { error: 'in_range needs a list of two numbers (or two strings): [min, max]' };
    const [low, high] = arg as [number | string, number | string];
    if (low > high) return { error: `in_range minimum ${show(low)} is greater than maximum ${show(high)}` };
    return {
      test: (value) => {
        if (!comparable(value) || typeof value !== typeof low)
          return `${show(value)} cannot be compared with ${show(arg)}`;
        return value >= low && value <= high
          ? undefined
          : `${show(value)} is not in range [${show(low)}, ${show(high)}]`;
      },
    };
  },
  valid_values: (arg) => {
    if (!Array.isArray(arg)) return { error: 'valid_values needs a list' };
    return {
      test: (value) =>
        arg.some((v) => deepEqual(v, value))
          ? undefined
          : `${show(value)} is not one of ${arg.map(show).join(', ')}`,
    };
  },
  length: lengthRule('expected exactly', (size, n) => size === n),
  min_length: lengthRule('expected at least', (size, n) => size >= n),
  max_length: lengthRule('expected at most', (size, n) => size <= n),
  pattern: (arg) => {
    if (typeof arg !== 'string') return { error: 'pattern needs a regular expression string' };
    const compiled = compilePattern(arg);
    if (typeof compiled === 'string') return { error: compiled };
    return {
      test: (value) => {
        if (typeof value !== 'string')
          return `${show(value)} is not a string, so it cannot match pattern ${show(arg)}`;
        // Anchored at the start only, as Cloudify's re.match: add '$' to the pattern to match it all.
        return compiled.matcher(value).lookingAt()
          ? undefined
          : `${show(value)} does not match pattern ${show(arg)}`;
      },
    };
  },
};

let re2: typeof RE2JS | undefined;

/**
 * re2js (260 KB of JavaScript) is loaded when a pattern is first compiled: most blueprints have
 * none, and every command that reads one would pay for loading it (about 20 ms). Its CommonJS
 * build, since an ES module cannot be imported synchronously; nothing else here uses it.
 */
function re2js(): typeof RE2JS {
  re2 ??= (createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS;
  return re2;
}

/**
 * Compiles a `pattern` for RE2, whose matching takes time linear in the value (a backtracking
 * engine takes exponential time on patterns like `(a+)+$`), or says why it cannot be used.
 * Python's `\Z` (end of text) is RE2's `\z`; lookaround and backreferences have no RE2 form.
 */
export function compilePattern(pattern: string): RE2JS | string {
  const re2Syntax = pattern.replace(/\\[\s\S]/g, (sequence) => (sequence === '\\Z' ? '\\z' : sequence));
  try {
    return re2js().compile(re2Syntax);
  } catch (error) {
    const reason = (error as Error).message.replace(/^error parsing regexp: /, '');
    if (!validInJavaScript(pattern))
      return `pattern ${JSON.stringify(pattern)} is not a valid regular expression: ${reason}`;
    return `pattern ${JSON.stringify(pattern)} is not supported: ${reason}; patterns are matched in linear time (RE2 syntax), which has no lookaround or backreferences`;
  }
}

function validInJavaScript(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}

/** Parses a `constraints:` list, reporting malformed entries. */
export function parseConstraints(
  raw: Value,
  path: string,
  container: unknown,
  key: string,
  diagnostics: Diagnostics,
  version?: DslVersion,
): Constraint[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    diagnostics.add('type-mismatch', locOf(container, key), path, 'constraints must be a list');
    return [];
  }
  const out: Constraint[] = [];
  raw.forEach((item, index) => {
    const itemPath = `${path}[${index}]`;
    const at = locOf(raw, index);
    // A constraint is one operator, with an optional error_message (cloudify_dsl_1_5) to show instead of Weft's.
    const operators = isMapping(item) ? Object.keys(item).filter((k) => k !== 'error_message') : [];
    if (!isMapping(item) || operators.length !== 1) {
      diagnostics.add(
        'bad-constraint',
        at,
        itemPath,
        'each constraint is a mapping with one key, e.g. {min_length: 3}',
      );
      return;
    }
    const name = operators[0]!;
    if (!(CONSTRAINT_NAMES as readonly string[]).includes(name)) {
      diagnostics.add(
        'unknown-constraint',
        keyLocOf(item, name),
        itemPath,
        `unknown constraint '${name}'${didYouMean(name, CONSTRAINT_NAMES)}`,
      );
      return;
    }
    const errorMessage = item.error_message;
    if (errorMessage !== undefined && version && !supports(version, 'constraint_error_message')) {
      diagnostics.add(
        'version-gated',
        keyLocOf(item, 'error_message'),
        `${itemPath}.error_message`,
        `error_message needs ${FEATURE_SINCE.constraint_error_message} or later (this blueprint is ${version})`,
      );
      return;
    }
    if (errorMessage !== undefined && typeof errorMessage !== 'string') {
      diagnostics.add(
        'type-mismatch',
        locOf(item, 'error_message'),
        `${itemPath}.error_message`,
        'expected a string',
      );
      return;
    }
    const argument = item[name]!;
    if (
      functionName(argument) ||
      (isMapping(argument) && Object.keys(argument).some((k) => k.startsWith('get_')))
    ) {
      diagnostics.add(
        'bad-constraint',
        locOf(item, name),
        `${itemPath}.${name}`,
        'constraint arguments cannot use intrinsic functions',
      );
      return;
    }
    const built = BUILDERS[name as ConstraintName](argument);
    if (built.error || !built.test) {
      diagnostics.add(
        'bad-constraint',
        locOf(item, name),
        `${itemPath}.${name}`,
        built.error ?? 'invalid constraint',
      );
      return;
    }
    const test = built.test;
    out.push({
      name: name as ConstraintName,
      argument,
      test:
        errorMessage === undefined ? test : (value) => (test(value) === undefined ? undefined : errorMessage),
    });
  });
  return out;
}
