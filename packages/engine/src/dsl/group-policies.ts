import type { Schema } from './blueprint-types.js';
import { didYouMean } from './diagnostics.js';
import type { Entry } from './imports.js';
import { applySchema, parseSchema, type ValueContext } from './values.js';
import { isMapping, keyLocOf, locOf, type Value, type ValueMap } from './yaml-source.js';

/**
 * Cloudify's older policy model: `policy_types` and `policy_triggers` (each with a `source` and
 * a schema), used by the `policies` of groups. Weft runs none of them, but checks them as
 * Cloudify's parser does, so a blueprint valid here is valid there.
 */
export interface PolicyContext {
  valueContext: ValueContext;
  entries(section: 'policy_types' | 'policy_triggers'): Entry[];
  mapping(entry: Entry, path: string, allowed: string[], what: string): ValueMap | undefined;
}

/** The schema of every policy type (`properties`) or trigger (`parameters`), by name. */
export function parsePolicyDefinitions(
  ctx: PolicyContext,
  section: 'policy_types' | 'policy_triggers',
): Map<string, Schema> {
  const schemaKey = section === 'policy_types' ? 'properties' : 'parameters';
  const what = section === 'policy_types' ? 'policy type' : 'policy trigger';
  const { diagnostics } = ctx.valueContext;
  const found = new Map<string, Schema>();
  for (const entry of ctx.entries(section)) {
    const path = `${section}.${entry.name}`;
    const def = ctx.mapping(entry, path, [schemaKey, 'source'], what);
    if (!def) continue;
    if (typeof def.source !== 'string')
      diagnostics.add(
        def.source === undefined ? 'missing-key' : 'type-mismatch',
        def.source === undefined ? entry.keyAt : locOf(def, 'source'),
        `${path}.source`,
        `a ${what} needs a source (a string)`,
      );
    found.set(
      entry.name,
      parseSchema(def[schemaKey], `${path}.${schemaKey}`, def, schemaKey, ctx.valueContext),
    );
  }
  return found;
}

/** A mapping of named definitions, or a problem. */
function namedMappings(
  value: Value | undefined,
  container: ValueMap,
  key: string,
  path: string,
  ctx: PolicyContext,
): [string, ValueMap][] {
  if (value === undefined || value === null) return [];
  const { diagnostics } = ctx.valueContext;
  if (!isMapping(value)) {
    diagnostics.add('type-mismatch', locOf(container, key), path, 'expected a mapping');
    return [];
  }
  const out: [string, ValueMap][] = [];
  for (const [name, def] of Object.entries(value)) {
    if (isMapping(def)) out.push([name, def]);
    else diagnostics.add('type-mismatch', locOf(value, name), `${path}.${name}`, 'expected a mapping');
  }
  return out;
}

/** One typed part (a policy, a trigger): known keys, a declared type, values that fit its schema. */
function checkTyped(
  def: ValueMap,
  path: string,
  valuesKey: string,
  allowed: string[],
  known: Map<string, Schema>,
  what: string,
  ctx: PolicyContext,
): void {
  const { diagnostics } = ctx.valueContext;
  for (const key of Object.keys(def))
    if (!allowed.includes(key))
      diagnostics.add(
        'unknown-key',
        keyLocOf(def, key),
        `${path}.${key}`,
        `unknown key${didYouMean(key, allowed)}`,
      );
  if (typeof def.type !== 'string') {
    diagnostics.add('missing-key', locOf(def), `${path}.type`, `a ${what} needs a type`);
    return;
  }
  const schema = known.get(def.type);
  if (!schema) {
    diagnostics.add(
      'unknown-type',
      locOf(def, 'type'),
      `${path}.type`,
      `unknown ${what} '${def.type}'${didYouMean(def.type, known.keys())}`,
    );
    return;
  }
  const values = def[valuesKey];
  if (values !== undefined && values !== null && !isMapping(values)) {
    diagnostics.add('type-mismatch', locOf(def, valuesKey), `${path}.${valuesKey}`, 'expected a mapping');
    return;
  }
  applySchema(values ?? {}, schema, `${path}.${valuesKey}`, ctx.valueContext, {
    what: `${what} '${def.type}'`,
    at: locOf(def),
  });
}

/** The `policies` of a group: each names a policy type, and its triggers name policy triggers. */
export function checkGroupPolicies(
  group: ValueMap,
  path: string,
  types: Map<string, Schema>,
  triggers: Map<string, Schema>,
  ctx: PolicyContext,
): void {
  for (const [name, policy] of namedMappings(group.policies, group, 'policies', `${path}.policies`, ctx)) {
    const policyPath = `${path}.policies.${name}`;
    checkTyped(
      policy,
      policyPath,
      'properties',
      ['type', 'properties', 'triggers'],
      types,
      'policy type',
      ctx,
    );
    for (const [triggerName, trigger] of namedMappings(
      policy.triggers,
      policy,
      'triggers',
      `${policyPath}.triggers`,
      ctx,
    ))
      checkTyped(
        trigger,
        `${policyPath}.triggers.${triggerName}`,
        'parameters',
        ['type', 'parameters'],
        triggers,
        'policy trigger',
        ctx,
      );
  }
}
