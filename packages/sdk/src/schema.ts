import type { Json } from './workflow.js';

/**
 * The value types a property can have (Heat's STRING, NUMBER, INTEGER, BOOLEAN, MAP, LIST, ANY).
 * `any` takes any JSON value as it is: no type check, no conversion, and only Custom constraints.
 */
export type PropertyType = 'string' | 'number' | 'integer' | 'boolean' | 'map' | 'list' | 'any';

/** The value must match the regular expression as a whole. Applies to strings. */
export interface AllowedPatternConstraint {
  kind: 'AllowedPattern';
  pattern: string;
  flags?: string;
  description?: string;
}

/** The value (each item, for a list) must be one of these. Applies to every type but map and any. */
export interface AllowedValuesConstraint {
  kind: 'AllowedValues';
  values: readonly Json[];
  description?: string;
}

/** Bounds on the length of a string, the items of a list or the keys of a map (inclusive). */
export interface LengthConstraint {
  kind: 'Length';
  min?: number;
  max?: number;
  description?: string;
}

/** Bounds on a number or an integer (inclusive). */
export interface RangeConstraint {
  kind: 'Range';
  min?: number;
  max?: number;
  description?: string;
}

/**
 * A check of your own: false (or a rejected promise, or a throw) is a problem reported with
 * `message`. Applies to every type, and is the only constraint an `any` property takes.
 */
export interface CustomConstraint {
  kind: 'Custom';
  check: (value: Json) => boolean | Promise<boolean>;
  message: string;
}

export type Constraint =
  | AllowedPatternConstraint
  | AllowedValuesConstraint
  | LengthConstraint
  | RangeConstraint
  | CustomConstraint;

/** `AllowedPattern('(Ba[rc]?)+')`: the whole string must match. */
export function AllowedPattern(pattern: string | RegExp, description?: string): AllowedPatternConstraint {
  const c: AllowedPatternConstraint =
    typeof pattern === 'string'
      ? { kind: 'AllowedPattern', pattern }
      : { kind: 'AllowedPattern', pattern: pattern.source, flags: pattern.flags.replace(/[gy]/g, '') };
  if (description !== undefined) c.description = description;
  return c;
}

/** `AllowedValues(['small', 'large'])`. */
export function AllowedValues(values: readonly Json[], description?: string): AllowedValuesConstraint {
  const c: AllowedValuesConstraint = { kind: 'AllowedValues', values };
  if (description !== undefined) c.description = description;
  return c;
}

/** `Length({ max: 10 })`, `Length({ min: 1, max: 64, description: "don't go crazy" })`. */
export function Length(bounds: { min?: number; max?: number; description?: string }): LengthConstraint {
  return { kind: 'Length', ...bounds };
}

/** `Range({ min: 5, max: 10 })`. */
export function Range(bounds: { min?: number; max?: number; description?: string }): RangeConstraint {
  return { kind: 'Range', ...bounds };
}

/** `Custom((v) => isFlavor(v), 'not a known flavor')`. */
export function Custom(
  check: (value: Json) => boolean | Promise<boolean>,
  message: string,
): CustomConstraint {
  return { kind: 'Custom', check, message };
}

interface BaseSchema {
  description?: string;
  /** The property must have a value (a default counts). */
  required?: boolean;
  /** A change can be applied to the existing resource (handleUpdate); otherwise a change replaces it. */
  updateAllowed?: boolean;
  constraints?: readonly Constraint[];
}

export interface StringSchema extends BaseSchema {
  type: 'string';
  default?: string;
}

export interface NumberSchema extends BaseSchema {
  type: 'number' | 'integer';
  default?: number;
}

export interface BooleanSchema extends BaseSchema {
  type: 'boolean';
  default?: boolean;
}

export interface MapSchema extends BaseSchema {
  type: 'map';
  default?: { readonly [key: string]: Json };
  /** The map's keys: only these are allowed, each validated (defaults applied) by its schema. */
  schema?: PropertiesSchema;
}

export interface ListSchema extends BaseSchema {
  type: 'list';
  default?: readonly Json[];
  /** The schema every item must conform to. */
  schema?: PropertySchema;
}

/** Any JSON value, as given (Heat's ANY): a value that may be a string or a list, say. */
export interface AnySchema extends BaseSchema {
  type: 'any';
  default?: Json;
}

/** One property: its type, description, default, whether required or updatable, constraints. */
export type PropertySchema = StringSchema | NumberSchema | BooleanSchema | MapSchema | ListSchema | AnySchema;

/** Property name -> schema (Heat's `properties_schema`). Declare with `satisfies PropertiesSchema`. */
export type PropertiesSchema = { readonly [name: string]: PropertySchema };

/** Attribute name -> description (Heat's `attributes_schema`). */
export type AttributesSchema = { readonly [name: string]: string };

type ValueOf<S> = S extends { type: 'string' }
  ? string
  : S extends { type: 'number' | 'integer' }
    ? number
    : S extends { type: 'boolean' }
      ? boolean
      : S extends { type: 'map'; schema: infer N extends PropertiesSchema }
        ? PropertiesOf<N>
        : S extends { type: 'map' }
          ? { [key: string]: Json }
          : S extends { type: 'list'; schema: infer I extends PropertySchema }
            ? ValueOf<I>[]
            : S extends { type: 'list' }
              ? Json[]
              : Json; // `any`

type PresentKeys<S extends PropertiesSchema> = {
  [K in keyof S]: S[K] extends { required: true } | { default: unknown } ? K : never;
}[keyof S];

/**
 * The type of validated properties for a schema: required properties and those with a default
 * are always there, the others may be missing. `class Server extends Resource<PropertiesOf<typeof schema>>`.
 */
export type PropertiesOf<S extends PropertiesSchema> = { -readonly [K in PresentKeys<S>]: ValueOf<S[K]> } & {
  -readonly [K in Exclude<keyof S, PresentKeys<S>>]?: ValueOf<S[K]>;
};

/** One validation problem, at a path such as `network.ports[2].number`. */
export interface Problem {
  path: string;
  message: string;
}

/** `path: problem`, as validation errors list them. */
export function formatProblem(problem: Problem): string {
  return problem.path ? `${problem.path}: ${problem.message}` : problem.message;
}

export interface ValidateOptions {
  /**
   * Top-level properties the schema does not name: `error` reports each, `ignore` (the default)
   * leaves them out of the result. Keys a nested map schema does not name are always errors.
   */
  unknown?: 'error' | 'ignore';
  /** Top-level names that are never reported as unknown nor kept in the result. */
  reserved?: readonly string[];
}

export interface ValidationResult {
  /** The values, converted to their types with defaults applied (only meaningful without problems). */
  values: Record<string, Json>;
  problems: Problem[];
}

const TYPE_NAMES: Record<PropertyType, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  map: 'a map',
  list: 'a list',
  any: 'a JSON value',
};

const APPLIES: Record<Constraint['kind'], readonly PropertyType[]> = {
  AllowedPattern: ['string'],
  AllowedValues: ['string', 'number', 'integer', 'boolean', 'list'],
  Length: ['string', 'list', 'map'],
  Range: ['number', 'integer'],
  Custom: ['string', 'number', 'integer', 'boolean', 'map', 'list', 'any'],
};

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function show(value: Json): string {
  return JSON.stringify(value);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** `a string`, `an integer`. */
function article(word: string): string {
  return `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
}

/** Problems in the schema itself (a plugin bug, not a blueprint one). */
export function checkSchema(schema: PropertiesSchema, path = ''): Problem[] {
  const problems: Problem[] = [];
  if (!isMap(schema)) return [{ path, message: 'a properties schema must be a map of property schemas' }];
  for (const [name, prop] of Object.entries(schema)) {
    problems.push(...checkPropertySchema(prop, join(path, name)));
  }
  return problems;
}

function checkPropertySchema(prop: PropertySchema, path: string): Problem[] {
  const problems: Problem[] = [];
  if (!isMap(prop) || !(prop.type in TYPE_NAMES)) {
    return [{ path, message: `unknown property type ${JSON.stringify((prop as { type?: unknown })?.type)}` }];
  }
  for (const c of prop.constraints ?? []) {
    if (!APPLIES[c.kind]?.includes(prop.type)) {
      problems.push({ path, message: `${c.kind} does not apply to ${article(prop.type)} property` });
      continue;
    }
    if ((c.kind === 'Length' || c.kind === 'Range') && c.min !== undefined && c.max !== undefined) {
      if (c.min > c.max) problems.push({ path, message: `${c.kind} min ${c.min} is above max ${c.max}` });
    }
    if (c.kind === 'AllowedPattern') {
      try {
        new RegExp(c.pattern, c.flags);
      } catch (error) {
        problems.push({ path, message: `AllowedPattern: ${(error as Error).message}` });
      }
    }
  }
  if (prop.schema !== undefined) {
    if (prop.type === 'map') problems.push(...checkSchema(prop.schema, path));
    else if (prop.type === 'list') problems.push(...checkPropertySchema(prop.schema, `${path}[*]`));
    else problems.push({ path, message: `a nested schema needs a map or list property, not ${prop.type}` });
  }
  return problems;
}

/**
 * Validates property values against a schema, reporting every problem (missing required values,
 * wrong types, unknown names, constraints, nested schemas) rather than stopping at the first.
 * Values are converted as Heat does (`"5"` to an integer, `"true"` to a boolean, a number to a
 * string; an `any` value is kept as given) and missing ones get their defaults; a null value counts
 * as missing, whatever the type.
 */
export async function validateProperties(
  schema: PropertiesSchema,
  values: Record<string, Json>,
  options: ValidateOptions = {},
): Promise<ValidationResult> {
  const problems: Problem[] = [];
  const reserved = new Set(options.reserved ?? []);
  const given = Object.fromEntries(Object.entries(values).filter(([k]) => !reserved.has(k)));
  const result = await validateMap(schema, given, '', problems, options.unknown ?? 'ignore');
  return { values: result, problems };
}

async function validateMap(
  schema: PropertiesSchema,
  values: Record<string, Json>,
  path: string,
  problems: Problem[],
  unknown: 'error' | 'ignore',
): Promise<Record<string, Json>> {
  const out: Record<string, Json> = {};
  for (const [name, prop] of Object.entries(schema)) {
    const value = await validateValue(prop, values[name], join(path, name), problems);
    if (value !== undefined) out[name] = value;
  }
  for (const name of Object.keys(values)) {
    if (Object.hasOwn(schema, name)) continue;
    if (unknown === 'error') problems.push({ path: join(path, name), message: 'unknown property' });
  }
  return out;
}

async function validateValue(
  prop: PropertySchema,
  given: Json | undefined,
  path: string,
  problems: Problem[],
): Promise<Json | undefined> {
  let value: Json | undefined = given === null ? undefined : given;
  if (value === undefined) {
    if (prop.default !== undefined) value = structuredClone(prop.default) as Json;
    else {
      if (prop.required) problems.push({ path, message: 'is required' });
      return undefined;
    }
  }
  const converted = convert(prop.type, value);
  if (converted === undefined) {
    problems.push({ path, message: `${show(value)} is not ${TYPE_NAMES[prop.type]}` });
    return undefined;
  }
  value = converted;
  if (prop.type === 'map' && prop.schema) {
    value = await validateMap(prop.schema, value as Record<string, Json>, path, problems, 'error');
  } else if (prop.type === 'list' && prop.schema) {
    const items: Json[] = [];
    const list = value as Json[];
    for (let i = 0; i < list.length; i++) {
      const item = await validateValue(prop.schema, list[i], `${path}[${i}]`, problems);
      items.push(item === undefined ? null : item);
    }
    value = items;
  }
  for (const c of prop.constraints ?? []) {
    for (const p of await applyConstraint(c, value, path)) problems.push(p);
  }
  return value;
}

function convert(type: PropertyType, value: Json): Json | undefined {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return undefined;
    case 'integer':
    case 'number': {
      let n: number | undefined;
      if (typeof value === 'number') n = value;
      else if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
        n = Number(value);
      }
      if (n === undefined || !Number.isFinite(n)) return undefined;
      if (type === 'integer' && !Number.isInteger(n)) return undefined;
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      return undefined;
    case 'map':
      return isMap(value) ? { ...value } : undefined;
    case 'list':
      return Array.isArray(value) ? [...value] : undefined;
    case 'any':
      // A copy, so the resource cannot change the node's properties through it.
      return structuredClone(value);
  }
}

function sameJson(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]!));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k]!, b[k]!))
    );
  }
  return false;
}

/** Deep equality of JSON values (key order does not matter). */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return sameJson(a, b);
}

function bounds(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `between ${min} and ${max}`;
  if (min !== undefined) return `at least ${min}`;
  return `at most ${max}`;
}

async function applyConstraint(c: Constraint, value: Json, path: string): Promise<Problem[]> {
  const problem = (fallback: string): Problem[] => [
    { path, message: ('description' in c ? c.description : undefined) ?? fallback },
  ];
  switch (c.kind) {
    case 'AllowedPattern': {
      const re = new RegExp(`^(?:${c.pattern})$`, c.flags);
      return re.test(value as string) ? [] : problem(`${show(value)} does not match pattern "${c.pattern}"`);
    }
    case 'AllowedValues': {
      const allowed = `[${c.values.map(show).join(', ')}]`;
      const ok = (v: Json) => c.values.some((a) => jsonEqual(a, v));
      if (Array.isArray(value)) {
        return value.flatMap((v, i) =>
          ok(v)
            ? []
            : [{ path: `${path}[${i}]`, message: c.description ?? `${show(v)} is not one of ${allowed}` }],
        );
      }
      return ok(value) ? [] : problem(`${show(value)} is not one of ${allowed}`);
    }
    case 'Length': {
      const length =
        typeof value === 'string' || Array.isArray(value) ? value.length : Object.keys(value ?? {}).length;
      if ((c.min !== undefined && length < c.min) || (c.max !== undefined && length > c.max)) {
        return problem(`length ${length} is not ${bounds(c.min, c.max)}`);
      }
      return [];
    }
    case 'Range': {
      const n = value as number;
      if ((c.min !== undefined && n < c.min) || (c.max !== undefined && n > c.max)) {
        return problem(`${n} is not ${bounds(c.min, c.max)}`);
      }
      return [];
    }
    case 'Custom': {
      try {
        return (await c.check(value)) ? [] : [{ path, message: c.message }];
      } catch (error) {
        return [
          { path, message: `${c.message} (${error instanceof Error ? error.message : String(error)})` },
        ];
      }
    }
  }
}
