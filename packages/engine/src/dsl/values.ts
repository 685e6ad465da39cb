import { setOwn } from '@weft/sdk/keys';
import type { DataType, PropertySchema, Schema } from './blueprint-types.js';
import { parseConstraints } from './constraints.js';
import { type Diagnostics, didYouMean, type Loc, shown } from './diagnostics.js';
import { functionName, hasRuntimeCall } from './functions.js';
import { type DslVersion, FEATURE_SINCE, type Feature, supports } from './versions.js';
import { isMapping, keyLocOf, locOf, setLoc, type Value, type ValueMap } from './yaml-source.js';

export const PRIMITIVE_TYPES = [
  'string',
  'integer',
  'float',
  'boolean',
  'list',
  'dict',
  'regex',
  'textarea',
] as const;

/** Cloudify's object types: references to things on a manager; locally they are plain values. */
export const OBJECT_TYPES = [
  'deployment_id',
  'blueprint_id',
  'node_id',
  'node_type',
  'node_instance',
  'capability_value',
  'scaling_group',
  'secret_key',
  'operation_name',
  'node_template',
] as const;

/** The object types Cloudify gates (operation_name came later; node_template is Weft's). */
const OBJECT_TYPE_SINCE: Record<string, Feature> = {
  ...Object.fromEntries(
    OBJECT_TYPES.filter((name) => name !== 'operation_name' && name !== 'node_template').map((name) => [
      name,
      'object_types',
    ]),
  ),
  operation_name: 'operation_name_type',
};

const SCHEMA_KEYS: Record<string, Feature | null> = {
  type: null,
  default: null,
  description: null,
  required: 'required',
  constraints: null,
  display_label: 'display_label',
  hidden: 'hidden',
  override: null,
  item_type: 'item_type',
  display: null,
};

/** Why a value for a property declared `override: false` is refused where it comes from `source`. */
export function notOverridable(property: string, type: string, source: string): string {
  return `'${property}' of ${type} is fixed by the blueprint (a Loom field without override: true): it cannot be given by ${source}`;
}

export interface ValueContext {
  version: DslVersion;
  dataTypes: Map<string, DataType>;
  diagnostics: Diagnostics;
  /**
   * A string-typed value must be text. Cloudify takes any value for a string (plugin types use
   * `string` loosely for structured values), and so does Weft in blueprints; input values a user
   * gives are held to it.
   */
  strictText?: boolean;
  /** Checking a schema's defaults: a data-typed one need not set every required field. */
  partialDefaults?: boolean;
  /**
   * Values of a HOT template: as Heat's properties do, a number or boolean given as text (a
   * string parameter's value) is read as one.
   */
  heatValues?: boolean;
}

/** Heat's reading of text as an integer, a number or a boolean (heat/engine/properties.py). */
function heatValue(value: Value, type: string | undefined): Value {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if ((type === 'integer' || type === 'float') && text !== '' && Number.isFinite(Number(text)))
    return Number(text);
  if (type === 'boolean' && ['true', 'false'].includes(text.toLowerCase()))
    return text.toLowerCase() === 'true';
  return value;
}

function gate(
  ctx: { version: DslVersion; diagnostics: Diagnostics },
  feature: Feature,
  at: Loc | undefined,
  path: string,
  what: string,
): boolean {
  if (supports(ctx.version, feature)) return true;
  ctx.diagnostics.add(
    'version-gated',
    at,
    path,
    `${what} needs ${FEATURE_SINCE[feature]} or later (this blueprint is ${ctx.version})`,
  );
  return false;
}

/** Parses `{name: {type, default, required, constraints, ...}}`. */
export function parseSchema(
  raw: Value | undefined,
  path: string,
  container: unknown,
  key: string,
  ctx: { version: DslVersion; diagnostics: Diagnostics },
): Schema {
  const schema: Schema = new Map();
  if (raw === undefined || raw === null) return schema;
  if (!isMapping(raw)) {
    ctx.diagnostics.add(
      'type-mismatch',
      locOf(container, key),
      path,
      'expected a mapping of names to definitions',
    );
    return schema;
  }
  for (const [name, def] of Object.entries(raw)) {
    schema.set(name, parseSchemaEntry(name, def, `${path}.${name}`, locOf(raw, name), ctx));
  }
  return schema;
}

/** Parses one schema entry (`{type, default, required, constraints, ...}`). */
export function parseSchemaEntry(
  name: string,
  def: Value,
  defPath: string,
  at: Loc | undefined,
  ctx: { version: DslVersion; diagnostics: Diagnostics },
): PropertySchema {
  const prop: PropertySchema = { name, hasDefault: false, required: true, constraints: [], at };
  if (def === null) return prop;
  if (!isMapping(def)) {
    ctx.diagnostics.add('type-mismatch', at, defPath, 'expected a mapping (type, default, description, ...)');
    return prop;
  }
  for (const k of Object.keys(def)) {
    if (!Object.hasOwn(SCHEMA_KEYS, k)) {
      ctx.diagnostics.add(
        'unknown-key',
        keyLocOf(def, k),
        `${defPath}.${k}`,
        `unknown key${didYouMean(k, Object.keys(SCHEMA_KEYS))}`,
      );
      continue;
    }
    const feature = SCHEMA_KEYS[k];
    if (feature) gate(ctx, feature, keyLocOf(def, k), `${defPath}.${k}`, `'${k}'`);
  }
  if (def.type !== undefined) {
    prop.typeAt = locOf(def, 'type');
    if (typeof def.type === 'string') {
      prop.type = def.type;
      const feature = OBJECT_TYPE_SINCE[def.type];
      if (feature) gate(ctx, feature, prop.typeAt, `${defPath}.type`, `type '${def.type}'`);
    } else
      ctx.diagnostics.add('type-mismatch', locOf(def, 'type'), `${defPath}.type`, 'expected a type name');
  }
  if (def.item_type !== undefined && def.item_type !== null) {
    if (typeof def.item_type === 'string') {
      prop.itemType = def.item_type;
      // As Cloudify: an item type only for lists.
      if (def.type !== 'list')
        ctx.diagnostics.add(
          'item-type-without-list',
          locOf(def, 'item_type'),
          `${defPath}.item_type`,
          `item_type is only for type list${def.type === undefined ? ' (no type is given)' : `, not ${shown(def.type)}`}`,
        );
    } else
      ctx.diagnostics.add(
        'type-mismatch',
        locOf(def, 'item_type'),
        `${defPath}.item_type`,
        'expected a type name',
      );
  }
  // Display hints (rows) shape the text box of a textarea input; Cloudify refuses them elsewhere.
  if (isMapping(def.display) && Object.keys(def.display).length > 0 && def.type !== 'textarea')
    ctx.diagnostics.add(
      'display-without-textarea',
      locOf(def, 'display'),
      `${defPath}.display`,
      `display is only for type textarea, not ${shown(def.type ?? 'string')}`,
    );
  if (typeof def.description === 'string') prop.description = def.description;
  if (typeof def.display_label === 'string') prop.displayLabel = def.display_label;
  if (Object.hasOwn(def, 'default')) {
    prop.default = def.default!;
    prop.hasDefault = true;
    prop.defaultAt = locOf(def, 'default');
  }
  for (const flag of ['required', 'hidden', 'override'] as const) {
    const v = def[flag];
    if (v === undefined) continue;
    if (typeof v !== 'boolean')
      ctx.diagnostics.add('type-mismatch', locOf(def, flag), `${defPath}.${flag}`, 'expected true or false');
    else if (flag === 'required') prop.required = v;
    else if (flag === 'hidden') prop.hidden = v;
    else prop.override = v;
  }
  prop.constraints = parseConstraints(
    def.constraints ?? null,
    `${defPath}.constraints`,
    def,
    'constraints',
    ctx.diagnostics,
    ctx.version,
  );
  return prop;
}

export function isKnownType(name: string, dataTypes: Map<string, DataType>): boolean {
  return (
    (PRIMITIVE_TYPES as readonly string[]).includes(name) ||
    (OBJECT_TYPES as readonly string[]).includes(name) ||
    dataTypes.has(name)
  );
}

/** Reports schema entries whose type (or item type) names nothing known, and checks defaults. */
export function checkSchema(schema: Schema, path: string, ctx: ValueContext): void {
  for (const prop of schema.values()) {
    for (const [field, name] of [
      ['type', prop.type],
      ['item_type', prop.itemType],
    ] as const) {
      if (name !== undefined && !isKnownType(name, ctx.dataTypes)) {
        const candidates = [...PRIMITIVE_TYPES, ...OBJECT_TYPES, ...ctx.dataTypes.keys()];
        ctx.diagnostics.add(
          'unknown-type',
          prop.typeAt ?? prop.at,
          `${path}.${prop.name}.${field}`,
          `unknown type '${name}'${didYouMean(name, candidates)}`,
        );
      }
    }
    if (
      prop.hasDefault &&
      prop.default !== null &&
      !hasRuntimeCall(prop.default!) &&
      !functionName(prop.default)
    ) {
      // A data-typed default may leave required fields to the templates that use it (as in Cloudify).
      checkValue(prop.default!, prop, `${path}.${prop.name}.default`, prop.defaultAt ?? prop.at, {
        ...ctx,
        partialDefaults: true,
      });
    }
  }
}

function describe(value: Value): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

/** Data type properties, inherited ones first. */
export function dataTypeSchema(name: string, dataTypes: Map<string, DataType>): Schema {
  const chain: DataType[] = [];
  const seen = new Set<string>();
  let current = dataTypes.get(name);
  while (current && !seen.has(current.name)) {
    seen.add(current.name);
    chain.unshift(current);
    current = current.derivedFrom ? dataTypes.get(current.derivedFrom) : undefined;
  }
  const merged: Schema = new Map();
  for (const type of chain) for (const [k, v] of type.properties) merged.set(k, v);
  return merged;
}

/**
 * Checks a value against a declared type and its constraints; returns it with data type
 * defaults filled in. Values still holding function calls are left for later evaluation.
 */
export function checkValue(
  value: Value,
  schema: Pick<PropertySchema, 'type' | 'itemType' | 'constraints'>,
  path: string,
  at: Loc | undefined,
  ctx: ValueContext,
): Value {
  if (functionName(value) || hasRuntimeCall(value)) return value;
  const type = schema.type;
  if (ctx.heatValues) value = heatValue(value, type);
  const mismatch = (expected: string) => {
    ctx.diagnostics.add('type-mismatch', at, path, `expected ${expected}, got ${describe(value)}`);
  };
  let result = value;
  let typeOk = true;
  if (value === null) {
    // A null value is "not set"; required-ness is checked by the caller.
    return value;
  }
  switch (type) {
    case undefined:
      break;
    case 'string':
    case 'textarea':
      if (typeof value === 'object' && ctx.strictText) {
        mismatch('a string');
        typeOk = false;
      }
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        mismatch('integer');
        typeOk = false;
      }
      break;
    case 'float':
      if (typeof value !== 'number') {
        mismatch('float');
        typeOk = false;
      }
      break;
    case 'boolean':
      if (typeof value !== 'boolean') {
        mismatch('boolean');
        typeOk = false;
      }
      break;
    case 'list':
      if (!Array.isArray(value)) {
        mismatch('a list');
        typeOk = false;
      } else if (schema.itemType) {
        const itemType = schema.itemType;
        result = value.map((item, index) =>
          checkValue(
            item,
            { type: itemType, constraints: [] },
            `${path}[${index}]`,
            locOf(value, index),
            ctx,
          ),
        );
        setLoc(result as object, value);
      }
      break;
    case 'dict':
      if (!isMapping(value)) {
        mismatch('a mapping');
        typeOk = false;
      }
      break;
    case 'regex':
      if (typeof value !== 'string') {
        mismatch('a regular expression string');
        typeOk = false;
      } else {
        try {
          new RegExp(value, 'u');
        } catch {
          ctx.diagnostics.add(
            'type-mismatch',
            at,
            path,
            `${describe(value)} is not a valid regular expression`,
          );
          typeOk = false;
        }
      }
      break;
    default:
      if (ctx.dataTypes.has(type)) {
        if (!isMapping(value)) {
          mismatch(`a mapping of data type '${type}'`);
          typeOk = false;
        } else {
          result = applySchema(value, dataTypeSchema(type, ctx.dataTypes), path, ctx, {
            what: `data type '${type}'`,
            ...(ctx.partialDefaults && { skipRequired: true }),
          });
        }
      }
      // Object types and unknown names (reported where the schema is declared) take any value.
      break;
  }
  if (typeOk) {
    for (const constraint of schema.constraints) {
      const failure = constraint.test(result);
      if (failure) ctx.diagnostics.add('constraint', at, path, `${failure} (constraint ${constraint.name})`);
    }
  }
  return result;
}

export interface ApplyOptions {
  /** Name of the thing the schema belongs to, for messages ("node type 'x'"). */
  what: string;
  /** Do not report required properties that are missing (e.g. use_external_resource). */
  skipRequired?: boolean;
  /** Where the mapping itself sits, for "missing" problems when it was not written at all. */
  at?: Loc;
}

/**
 * Checks a mapping of values against a schema: unknown names, missing required ones, types and
 * constraints. Returns the values with defaults applied.
 */
export function applySchema(
  values: ValueMap,
  schema: Schema,
  path: string,
  ctx: ValueContext,
  options: ApplyOptions,
): ValueMap {
  const out: ValueMap = {};
  for (const [name, value] of Object.entries(values)) {
    const prop = schema.get(name);
    if (!prop) {
      ctx.diagnostics.add(
        'unknown-property',
        keyLocOf(values, name),
        `${path}.${name}`,
        `${options.what} has no property '${name}'${didYouMean(name, schema.keys())}`,
      );
      continue;
    }
    // A data-typed value is laid over the property's own default (itself over the type's defaults).
    // (A default that is a function call is replaced, not merged into.)
    const merged =
      prop.type &&
      ctx.dataTypes.has(prop.type) &&
      isMapping(value) &&
      isMapping(prop.default) &&
      !functionName(prop.default)
        ? deepMerge(prop.default, value)
        : value;
    setOwn(out, name, checkValue(merged, prop, `${path}.${name}`, locOf(values, name), ctx));
  }
  for (const prop of schema.values()) {
    if (Object.hasOwn(out, prop.name)) {
      if (out[prop.name] === null && prop.required && !prop.hasDefault && !options.skipRequired) {
        ctx.diagnostics.add(
          'missing-property',
          locOf(values, prop.name),
          `${path}.${prop.name}`,
          `required property '${prop.name}' of ${options.what} has no value`,
        );
      }
      continue;
    }
    if (prop.hasDefault) {
      setOwn(
        out,
        prop.name,
        prop.type && ctx.dataTypes.has(prop.type) && isMapping(prop.default)
          ? checkValue(prop.default!, prop, `${path}.${prop.name}`, prop.defaultAt ?? prop.at, {
              ...ctx,
              diagnostics: ctx.diagnostics,
            })
          : prop.default!,
      );
    } else if (prop.type && ctx.dataTypes.has(prop.type) && !prop.required) {
      // An optional data-typed property with no value stays unset.
    } else if (prop.type && ctx.dataTypes.has(prop.type) && allDefaulted(prop.type, ctx)) {
      setOwn(
        out,
        prop.name,
        applySchema({}, dataTypeSchema(prop.type, ctx.dataTypes), `${path}.${prop.name}`, ctx, {
          what: `data type '${prop.type}'`,
        }),
      );
    } else if (prop.required && !options.skipRequired) {
      ctx.diagnostics.add(
        'missing-property',
        options.at ?? locOf(values),
        `${path}.${prop.name}`,
        `required property '${prop.name}' of ${options.what} is not set`,
      );
    }
  }
  setLoc(out, values);
  return out;
}

/** `override` laid over `base`: mappings merge key by key, anything else replaces. */
export function deepMerge(base: ValueMap, override: ValueMap): ValueMap {
  const out: ValueMap = { ...base };
  for (const [key, value] of Object.entries(override)) {
    // Own entries only: out["__proto__"] would otherwise be Object.prototype, a mapping to merge into.
    const under = Object.hasOwn(out, key) ? out[key] : undefined;
    setOwn(
      out,
      key,
      isMapping(under) && isMapping(value) && !functionName(value) ? deepMerge(under, value) : value,
    );
  }
  setLoc(out, override);
  return out;
}

function allDefaulted(type: string, ctx: ValueContext): boolean {
  for (const prop of dataTypeSchema(type, ctx.dataTypes).values()) {
    if (prop.hasDefault || !prop.required) continue;
    if (prop.type && ctx.dataTypes.has(prop.type) && allDefaulted(prop.type, ctx)) continue;
    return false;
  }
  return true;
}
