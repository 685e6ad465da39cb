/**
 * HOT parameters (heat/engine/hot/parameters.py, heat/engine/parameters.py): their schemas, how a
 * given value is read for each type, and the constraints (length, range, modulo, allowed_values,
 * allowed_pattern, custom_constraint).
 */
import { compilePattern } from '../dsl/constraints.js';
import { type Diagnostics, didYouMean, shown } from '../dsl/diagnostics.js';
import { isMapping, keyLocOf, locOf, type Value, type ValueMap } from '../dsl/yaml-source.js';
import { CONSTRAINT_SINCE, type HotVersion, PARAMETER_KEY_SINCE, since } from './versions.js';

export const PARAMETER_TYPES = ['string', 'number', 'json', 'comma_delimited_list', 'boolean'] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];

export interface ParameterConstraint {
  kind: string;
  argument: Value;
  description?: string;
  /** The problem with a value, or undefined when it passes. */
  test(value: Value): string | undefined;
}

export interface HotParameter {
  name: string;
  type: ParameterType;
  label?: string;
  description?: string;
  default?: Value;
  hidden: boolean;
  immutable: boolean;
  tags?: Value;
  constraints: ParameterConstraint[];
  at: ReturnType<typeof locOf>;
}

/**
 * Named constraints (`custom_constraint: NAME`): Heat's `heat.constraints` entry points. A plugin
 * adds its own with registerCustomConstraint; the test returns the problem or undefined.
 */
const customConstraints = new Map<string, (value: Value) => string | undefined>();

export function registerCustomConstraint(name: string, test: (value: Value) => string | undefined): void {
  customConstraints.set(name, test);
}

export function customConstraintNames(): string[] {
  return [...customConstraints.keys()].sort();
}

// Constraints any Weft install has: they need no cloud.
registerCustomConstraint('ip_addr', (v) =>
  typeof v === 'string' && (isIPv4(v) || isIPv6(v)) ? undefined : `${shown(v)} is not a valid IP address`,
);
registerCustomConstraint('cidr', (v) => {
  if (typeof v !== 'string') return `${shown(v)} is not a valid CIDR`;
  const [address, prefix, ...rest] = v.split('/');
  const bits = isIPv4(address ?? '') ? 32 : isIPv6(address ?? '') ? 128 : -1;
  const n = Number(prefix);
  return rest.length === 0 && bits > 0 && /^\d+$/.test(prefix ?? '') && n <= bits
    ? undefined
    : `${shown(v)} is not a valid CIDR`;
});
registerCustomConstraint('mac_addr', (v) =>
  typeof v === 'string' && /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/.test(v)
    ? undefined
    : `${shown(v)} is not a valid MAC address`,
);
registerCustomConstraint('timezone', (v) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: String(v) });
    return undefined;
  } catch {
    return `${shown(v)} is not a valid time zone`;
  }
});
registerCustomConstraint('iso_8601', (v) =>
  typeof v === 'string' &&
  /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)
    ? undefined
    : `${shown(v)} is not a valid ISO 8601 date`,
);

function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isIPv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || (text.match(/::/g) ?? []).length > 1) return false;
  const groups = text.split(':');
  return groups.length >= 3 && groups.length <= 8 && groups.every((g) => /^[0-9a-fA-F]{0,4}$/.test(g));
}

function lengthOf(value: Value): number | undefined {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (isMapping(value)) return Object.keys(value).length;
  return undefined;
}

function bounds(arg: Value): { min?: number; max?: number } | string {
  if (!isMapping(arg)) return 'expected a mapping with min and/or max';
  const out: { min?: number; max?: number } = {};
  for (const key of Object.keys(arg)) {
    if (key !== 'min' && key !== 'max') return `unknown key '${key}'; expected min or max`;
    const n = arg[key];
    if (typeof n !== 'number') return `${key} must be a number, got ${shown(n)}`;
    out[key] = n;
  }
  if (out.min === undefined && out.max === undefined) return 'expected min and/or max';
  return out;
}

/** Heat's constraint descriptions, as its error messages word them. */
function buildConstraint(kind: string, arg: Value, description?: string): ParameterConstraint | string {
  const make = (test: (value: Value) => string | undefined): ParameterConstraint => ({
    kind,
    argument: arg,
    ...(description !== undefined ? { description } : {}),
    test: (value) => {
      const problem = test(value);
      return problem === undefined ? undefined : (description ?? problem);
    },
  });
  switch (kind) {
    case 'length':
    case 'range': {
      const b = bounds(arg);
      if (typeof b === 'string') return b;
      return make((value) => {
        const n = kind === 'length' ? lengthOf(value) : typeof value === 'number' ? value : undefined;
        if (n === undefined) return undefined;
        const what = kind === 'length' ? 'length' : 'value';
        if (b.min !== undefined && n < b.min) return `${what} must be at least ${b.min}`;
        if (b.max !== undefined && n > b.max) return `${what} must be no greater than ${b.max}`;
        return undefined;
      });
    }
    case 'modulo': {
      if (!isMapping(arg) || typeof arg.step !== 'number' || typeof arg.offset !== 'number')
        return 'expected a mapping with step and offset (numbers)';
      const { step, offset } = arg as { step: number; offset: number };
      if (step === 0) return 'step cannot be 0';
      if (Math.abs(offset) >= Math.abs(step)) return 'offset must be smaller (by absolute value) than step';
      if (step * offset < 0) return 'step and offset must be both positive or both negative';
      return make((value) => {
        if (typeof value !== 'number') return undefined;
        const rem = ((value % step) + step) % step;
        return rem === ((offset % step) + step) % step
          ? undefined
          : `${value} is not a multiple of ${step} with an offset of ${offset}`;
      });
    }
    case 'allowed_values': {
      if (!Array.isArray(arg)) return 'expected a list of values';
      return make((value) => {
        const items = Array.isArray(value) ? value : [value];
        const bad = items.find((item) => !arg.some((allowed) => sameValue(allowed, item)));
        return bad === undefined
          ? undefined
          : `${shown(bad)} is not an allowed value [${arg.map((a) => shown(a)).join(', ')}]`;
      });
    }
    case 'allowed_pattern': {
      if (typeof arg !== 'string') return 'expected a pattern (a string)';
      const compiled = compilePattern(arg);
      if (typeof compiled === 'string') return compiled;
      // Heat matches the whole value (re.match, then the match must end where the value does).
      return make((value) => {
        if (typeof value !== 'string') return undefined;
        return compiled.matches(value) ? undefined : `${shown(value)} does not match pattern "${arg}"`;
      });
    }
    case 'custom_constraint': {
      if (typeof arg !== 'string') return 'expected the name of a custom constraint';
      const test = customConstraints.get(arg);
      if (!test)
        return `unknown custom constraint '${arg}'${didYouMean(arg, customConstraints.keys())} (known: ${customConstraintNames().join(', ')}; a plugin adds one with registerCustomConstraint)`;
      return make(test);
    }
    default:
      return `unknown constraint '${kind}'`;
  }
}

/** Numbers as text compare equal to numbers (Heat compares a number parameter's value). */
function sameValue(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a === 'number' || typeof b === 'number') return Number(a) === Number(b) && a !== '' && b !== '';
  return JSON.stringify(a) === JSON.stringify(b);
}

const CONSTRAINT_TYPES: Record<string, readonly ParameterType[]> = {
  length: ['string', 'comma_delimited_list', 'json'],
  range: ['number'],
  modulo: ['number'],
  allowed_values: ['string', 'number', 'comma_delimited_list', 'boolean'],
  allowed_pattern: ['string'],
  custom_constraint: PARAMETER_TYPES,
};

/** Reads the `parameters` section. */
export function parseParameters(
  section: Value | undefined,
  version: HotVersion,
  diagnostics: Diagnostics,
): Map<string, HotParameter> {
  const out = new Map<string, HotParameter>();
  if (section === undefined || section === null) return out;
  if (!isMapping(section)) {
    diagnostics.add('type-mismatch', locOf(section), 'parameters', 'expected a mapping of parameters');
    return out;
  }
  for (const [name, def] of Object.entries(section)) {
    const path = `parameters.${name}`;
    if (!isMapping(def)) {
      diagnostics.add('type-mismatch', locOf(section, name), path, 'expected a mapping (type, default, ...)');
      continue;
    }
    for (const key of Object.keys(def))
      if (!since(PARAMETER_KEY_SINCE, key, version))
        diagnostics.add(
          'unknown-key',
          keyLocOf(def, key),
          `${path}.${key}`,
          PARAMETER_KEY_SINCE[key]
            ? `'${key}' needs heat_template_version ${PARAMETER_KEY_SINCE[key]} or later (this template is ${version})`
            : `unknown parameter key${didYouMean(key, Object.keys(PARAMETER_KEY_SINCE))}`,
        );
    const type = def.type;
    if (typeof type !== 'string' || !(PARAMETER_TYPES as readonly string[]).includes(type)) {
      diagnostics.add(
        type === undefined ? 'missing-key' : 'bad-value',
        type === undefined ? locOf(section, name) : locOf(def, 'type'),
        `${path}.type`,
        type === undefined
          ? `missing type; one of ${PARAMETER_TYPES.join(', ')}`
          : `unknown type ${shown(type)}; one of ${PARAMETER_TYPES.join(', ')}${didYouMean(String(type), PARAMETER_TYPES)}`,
      );
      continue;
    }
    const param: HotParameter = {
      name,
      type: type as ParameterType,
      hidden: false,
      immutable: false,
      constraints: [],
      at: locOf(section, name),
    };
    for (const flag of ['hidden', 'immutable'] as const) {
      const v = def[flag];
      if (v === undefined) continue;
      if (typeof v === 'boolean') param[flag] = v;
      else diagnostics.add('type-mismatch', locOf(def, flag), `${path}.${flag}`, 'expected true or false');
    }
    for (const text of ['label', 'description'] as const) {
      const v = def[text];
      if (v === undefined || v === null) continue;
      if (typeof v === 'string') param[text] = v;
      else diagnostics.add('type-mismatch', locOf(def, text), `${path}.${text}`, 'expected a string');
    }
    if (def.tags !== undefined) param.tags = def.tags;
    const constraints = def.constraints;
    if (constraints !== undefined && constraints !== null) {
      if (!Array.isArray(constraints))
        diagnostics.add('type-mismatch', locOf(def, 'constraints'), `${path}.constraints`, 'expected a list');
      else
        constraints.forEach((entry, i) => {
          const cpath = `${path}.constraints[${i}]`;
          if (!isMapping(entry)) {
            diagnostics.add('type-mismatch', locOf(constraints, i), cpath, 'expected a mapping');
            return;
          }
          const kinds = Object.keys(entry).filter((k) => k !== 'description');
          if (kinds.length !== 1) {
            diagnostics.add(
              'bad-value',
              locOf(constraints, i),
              cpath,
              `expected one constraint (${Object.keys(CONSTRAINT_SINCE).join(', ')}) and an optional description`,
            );
            return;
          }
          const kind = kinds[0]!;
          if (!since(CONSTRAINT_SINCE, kind, version)) {
            diagnostics.add(
              'unknown-key',
              keyLocOf(entry, kind),
              `${cpath}.${kind}`,
              CONSTRAINT_SINCE[kind]
                ? `'${kind}' needs heat_template_version ${CONSTRAINT_SINCE[kind]} or later (this template is ${version})`
                : `unknown constraint${didYouMean(kind, Object.keys(CONSTRAINT_SINCE))}`,
            );
            return;
          }
          if (!CONSTRAINT_TYPES[kind]!.includes(param.type)) {
            diagnostics.add(
              'bad-value',
              keyLocOf(entry, kind),
              `${cpath}.${kind}`,
              `${kind} does not apply to a ${param.type} parameter`,
            );
            return;
          }
          const description = typeof entry.description === 'string' ? entry.description : undefined;
          const built = buildConstraint(kind, entry[kind]!, description);
          if (typeof built === 'string')
            diagnostics.add('bad-value', locOf(entry, kind), `${cpath}.${kind}`, built);
          else param.constraints.push(built);
        });
    }
    if (Object.hasOwn(def, 'default') && def.default !== null) {
      const read = readParameterValue(param, def.default!);
      if ('problem' in read)
        diagnostics.add('bad-value', locOf(def, 'default'), `${path}.default`, read.problem);
      else {
        param.default = read.value;
        const failed = checkConstraints(param, read.value);
        if (failed) diagnostics.add('bad-value', locOf(def, 'default'), `${path}.default`, failed);
      }
    }
    out.set(name, param);
  }
  return out;
}

const TRUE = new Set(['t', 'true', 'on', 'y', 'yes', '1']);
const FALSE = new Set(['f', 'false', 'off', 'n', 'no', '0']);

/** A value given for a parameter (from the template, an environment or the command line), as its type reads it. */
export function readParameterValue(param: HotParameter, raw: Value): { value: Value } | { problem: string } {
  switch (param.type) {
    case 'string':
      if (isMapping(raw) || Array.isArray(raw)) return { problem: `expected a string, got ${shown(raw)}` };
      return { value: raw === null ? '' : String(raw) };
    case 'number': {
      if (typeof raw === 'number') return { value: raw };
      const text = typeof raw === 'string' ? raw.trim() : '';
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) return { problem: `value ${shown(raw)} is not a number` };
      return { value: n };
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      const text = String(raw).toLowerCase();
      if (TRUE.has(text)) return { value: true };
      if (FALSE.has(text)) return { value: false };
      return { problem: `${shown(raw)} is not a boolean (true, false, yes, no, on, off, 1, 0)` };
    }
    case 'comma_delimited_list': {
      if (Array.isArray(raw))
        return { value: raw.map((item) => (typeof item === 'string' ? item : shown(item))) };
      if (isMapping(raw)) return { problem: `expected a comma-delimited list, got a mapping` };
      const text = raw === null ? '' : String(raw);
      return { value: text === '' ? [] : text.split(',').map((item) => item.trim()) };
    }
    case 'json': {
      if (isMapping(raw) || Array.isArray(raw)) return { value: raw };
      if (typeof raw === 'string') {
        if (raw.trim() === '') return { value: {} };
        try {
          const parsed = JSON.parse(raw) as Value;
          if (isMapping(parsed) || Array.isArray(parsed)) return { value: parsed };
        } catch {
          // reported below
        }
      }
      return { problem: `value ${shown(raw)} is not valid JSON (a map or a list)` };
    }
  }
}

/** The first constraint a value breaks, as a message, or undefined. */
export function checkConstraints(param: HotParameter, value: Value): string | undefined {
  for (const constraint of param.constraints) {
    const problem = constraint.test(value);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * The project a stack is in (OS::project_id, its ARN, its abandon data's project_id): Weft has no
 * Keystone projects, so every stack is in this one, the same in every service and tenant, so that
 * what a template reads of it never changes.
 */
export const PROJECT_ID = 'default_tenant';

/** Pseudo-parameters every stack has. */
export const PSEUDO_PARAMETERS = ['OS::stack_name', 'OS::stack_id', 'OS::project_id'];

export type ParameterValues = ValueMap;
